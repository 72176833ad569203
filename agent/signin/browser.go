package signin

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"crmsync/agent/crm"
)

// Browser signs in with the system browser: an authorization code with
// PKCE (S256) returned to a one-shot listener on 127.0.0.1 (RFC 8252).
// prompt, if not nil, gets the address first, so the user can open it by
// hand; then open (nil: OpenBrowser) opens it. loginHint pre-fills the
// user name. Browser returns once the code is redeemed, the user cancels
// (ErrCanceled), or Config.SignInTimeout passes (ErrTimedOut); in every
// case the listener is closed and its goroutines have ended.
func (c Config) Browser(ctx context.Context, open func(url string) error, loginHint string, prompt func(Prompt)) (_ *Grant, err error) {
	defer func() { err = userFacing(err) }()
	const op = "browser sign-in"
	if open == nil {
		open = OpenBrowser
	}
	if _, err := checkURL(op, "sign-in address", c.Authority.AuthorizeURL()); err != nil {
		return nil, err
	}
	if _, err := checkURL(op, "token endpoint", c.tokenURL()); err != nil {
		return nil, err
	}
	code, redirect, verifier, err := c.browserCode(ctx, op, open, loginHint, prompt)
	if err != nil {
		return nil, err
	}
	form := c.newForm("authorization_code")
	form.Set("code", code)
	form.Set("redirect_uri", redirect)
	form.Set("code_verifier", verifier)
	g, err := c.redeem(ctx, op, form, "The sign-in service did not accept the browser's answer (it may have expired); sign in again.")
	if err != nil {
		return nil, ctxError(ctx, op, err)
	}
	return g, nil
}

// browserCode runs the browser part of Browser: it listens on loopback,
// sends the user to the authorization page, and waits for the code. The
// listener is closed, and its goroutines have ended, when it returns.
func (c Config) browserCode(ctx context.Context, op string, open func(string) error, loginHint string,
	prompt func(Prompt)) (code, redirect, verifier string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", "", &crm.Error{Op: op, Kind: crm.KindBadRequest, Err: ErrNoBrowser,
			Message: "crmsync could not open a local port to receive the browser's answer; use 'Sign in with a code' instead."}
	}
	// The redirect names localhost, as Entra app registrations for
	// desktop apps do (Microsoft's development client included): Entra
	// ignores the port of a loopback redirect but matches the host as
	// registered. The browser may resolve localhost to either loopback
	// address, so the same port is taken on ::1 too where there is one.
	port := ln.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln}
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		lns = append(lns, ln6)
	}
	cb := newCallback(rand.Text(), "localhost:"+strconv.Itoa(port))
	redirect = "http://" + cb.host + "/"
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second}
	srv.SetKeepAlivesEnabled(false) // one answer per connection: nothing lingers after the page
	var serving sync.WaitGroup
	for _, l := range lns {
		serving.Go(func() { _ = srv.Serve(l) })
	}
	defer func() {
		// Let a page still being written reach the browser, then stop
		// everything and wait for it, so no goroutine or port outlives
		// this sign-in.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		_ = srv.Close()
		serving.Wait()
		cb.close()
	}()

	verifier = oauth2.GenerateVerifier()
	authURL := c.authorizeRequest(redirect, cb.state, oauth2.S256ChallengeFromVerifier(verifier), loginHint)
	timeout := c.signInTimeout()
	if prompt != nil {
		prompt(Prompt{URL: authURL, Expires: c.now().Add(timeout),
			Message: "Finish signing in in your browser. If no browser window opened, open the address shown."})
	}
	if err := open(authURL); err != nil {
		return "", "", "", flowError(op, crm.KindBadRequest, ErrNoBrowser,
			"The browser could not be opened; use 'Sign in with a code' instead.")
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ans := <-cb.result:
		if ans.err != nil {
			return "", "", "", ans.err
		}
		return ans.code, redirect, verifier, nil
	case <-ctx.Done():
		return "", "", "", ctxError(ctx, op, ctx.Err())
	case <-timer.C:
		return "", "", "", flowError(op, crm.KindUnauthorized, ErrTimedOut,
			"The browser sign-in was not finished in time; start it again.")
	}
}

// authorizeRequest builds the address the browser opens. It holds only
// the public request: client, redirect, state, PKCE challenge, scope and
// the login hint.
func (c Config) authorizeRequest(redirect, state, challenge, loginHint string) string {
	v := url.Values{
		"client_id":             {c.clientID()},
		"response_type":         {"code"},
		"redirect_uri":          {redirect},
		"response_mode":         {"query"},
		"scope":                 {c.scopes()},
		"state":                 {state},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	if loginHint != "" {
		v.Set("login_hint", loginHint)
	}
	c.extra(v, false)
	return c.Authority.AuthorizeURL() + "?" + v.Encode()
}

// answer is what the browser brought back: a code, or the reason there is none.
type answer struct {
	code string
	err  error
}

// stateMismatch is the error of a redirect that is not ours: its state
// is not the one this sign-in sent, so its code must not be redeemed.
func stateMismatch() *crm.Error {
	return &crm.Error{Op: "browser sign-in", Kind: crm.KindBadRequest,
		Message: "The browser brought back an answer that does not belong to this sign-in (state mismatch); start the sign-in again."}
}

// callback serves the redirect of one sign-in. It tracks its handlers so
// that close can wait for them.
type callback struct {
	state  string
	host   string      // localhost:port, the only Host header accepted
	result chan answer // buffered 1: the first answer only

	mu       sync.Mutex
	closed   bool // guarded by mu; no handler starts once set
	answered bool // guarded by mu
	running  sync.WaitGroup
}

func newCallback(state, host string) *callback {
	return &callback{state: state, host: host, result: make(chan answer, 1)}
}

// close waits for handlers in flight and refuses new ones.
func (cb *callback) close() {
	cb.mu.Lock()
	cb.closed = true
	cb.mu.Unlock()
	cb.running.Wait()
}

// claim reports whether this is the first answer, which alone counts.
func (cb *callback) claim() bool {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	first := !cb.answered
	cb.answered = true
	return first
}

// ServeHTTP answers the browser's redirect with a page, and hands the code
// or the refusal to Browser.
func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cb.mu.Lock()
	if cb.closed {
		cb.mu.Unlock()
		return
	}
	cb.running.Add(1)
	cb.mu.Unlock()
	defer cb.running.Done()

	// Another Host means a page elsewhere reached this port through DNS
	// rebinding; it must not end the sign-in.
	if r.Host != cb.host {
		writePage(w, http.StatusBadRequest, pageWrongHost, "")
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	code, oauthErr := q.Get("code"), q.Get("error")
	if code == "" && oauthErr == "" {
		writePage(w, http.StatusBadRequest, pageWaiting, "")
		return
	}
	var a answer
	status, page, detail := http.StatusOK, pageSignedIn, ""
	switch {
	case !sameState(q.Get("state"), cb.state):
		a.err = stateMismatch()
		status, page = http.StatusBadRequest, pageStateMismatch
	case oauthErr != "":
		a.err = browserRefusal(oauthErr, q.Get("error_description"))
		status, page, detail = http.StatusBadRequest, pageRefused, firstSentence(q.Get("error_description"))
	default:
		a.code = code
	}
	if !cb.claim() {
		writePage(w, http.StatusOK, pageFinished, "")
		return
	}
	// The page goes out before Browser hears of the answer, so that its
	// teardown cannot cut the page short.
	writePage(w, status, page, detail)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	cb.result <- a // buffered, and only the claimer sends: never blocks
}

// browserRefusal maps the error a browser brought back. access_denied is
// the user cancelling or declining consent: a choice, not a failure.
func browserRefusal(oauthErr, desc string) *crm.Error {
	const op = "browser sign-in"
	o := &oauthError{Error: oauthErr, Description: desc}
	if oauthErr == "access_denied" {
		e := flowError(op, crm.KindUnauthorized, ErrCanceled, "You cancelled the sign-in in the browser.")
		e.Code, _ = o.code()
		return e
	}
	return refusal(op, 0, o, "The sign-in service refused the sign-in; start it again.")
}
