// Package crm is the agent's client for the Dataverse (Dynamics 365) Web
// API. It is written against Dataverse semantics, not against the local
// CRM, so it can talk to a real Dynamics 365 environment. It sends only what
// each operation needs: before a tracking decision, addresses, subject and
// Message-ID; the body only for a message being tracked.
package crm

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Config says where the CRM is and how to sign in to it. It holds no secret.
type Config struct {
	// URL is the CRM address, e.g. https://org.crm.dynamics.com; a path
	// ending in /api/data/vX.Y is used as the Web API root as given.
	URL string
	// TokenURL is the OAuth2 token endpoint; empty means URL +
	// /oauth2/v2.0/token, where the local CRM serves it. For Dynamics 365
	// online it is the tenant's Entra ID endpoint.
	TokenURL string
	// ClientID is the OAuth2 public client's application ID.
	ClientID string
	// Scope is the OAuth2 scope list; empty means "<URL>/user_impersonation offline_access".
	Scope []string
	// CABundle is an optional PEM file of extra trusted CAs.
	CABundle string
	// Timeout bounds one HTTP exchange; 0 means 30 s.
	Timeout time.Duration
	// MaxRetries is how often one call is retried after a 429 or 503 within
	// the call; 0 means 2, negative means never.
	MaxRetries int
	// MaxRetryWait is the longest Retry-After a call waits for in place; a
	// longer one is returned to the caller (the outbox waits instead). 0 means 30 s.
	MaxRetryWait time.Duration
	// Logger receives debug lines; never addresses, subjects or secrets.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxConcurrent bounds the requests in flight at once; 0 means 16.
	// Dataverse refuses a user's 52nd concurrent request ([PAD]
	// api-limits.md), so larger values are capped at 52.
	MaxConcurrent int
}

// Concurrency bounds: the default, and Dataverse's documented per-user limit.
const (
	defaultConcurrent = 16
	maxConcurrent     = 52
)

// DefaultClientID is the public client ID the agent presents when none is
// configured. The local CRM accepts any; for Dynamics 365 online, register
// the agent in Entra ID and pass --client-id.
const DefaultClientID = "crmsync"

// maxResponseBytes bounds what one answer may hold; the agent never needs
// more, and a runaway server must not exhaust memory.
const maxResponseBytes = 16 << 20

// HTTPClient talks to one CRM as one user. It is safe for concurrent use.
type HTTPClient struct {
	api    *url.URL // Web API root, ending in "/"
	hc     *http.Client
	pw     *tokens // the password grant of SignIn; nil-safe
	log    *slog.Logger
	now    func() time.Time
	tries  int
	maxRA  time.Duration
	origin string // scheme://host of the API, to vet nextLinks

	pace *pacer        // the request budget; owns its own lock
	sem  chan struct{} // one token per request in flight
	memo *memo         // short-lived answers of Ask; owns its own lock

	mu        sync.Mutex
	notBefore time.Time       // no request leaves before this (Retry-After); guarded by mu
	ts        TokenSource     // where access tokens come from; nil until signed in; guarded by mu
	missing   map[string]bool // entity sets this environment lacks, learned from 404s; guarded by mu
}

// TokenSource gives the client access tokens for the CRM. The sign-in
// session implements it; access tokens live in memory only.
type TokenSource interface {
	// AccessToken returns a valid access token. force asks for a new one
	// because the CRM refused the last.
	AccessToken(ctx context.Context, force bool) (string, error)
}

// SetTokens makes ts the source of the client's access tokens; nil signs
// the client out.
func (c *HTTPClient) SetTokens(ts TokenSource) {
	c.mu.Lock()
	c.ts = ts
	c.mu.Unlock()
}

// Tokens returns the client's token source, nil when signed out.
func (c *HTTPClient) Tokens() TokenSource {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ts
}

// HTTP returns the client's shared http.Client (proxy, CA bundle,
// timeouts), for the sign-in flows to use the same transport.
func (c *HTTPClient) HTTP() *http.Client { return c.hc }

// access returns an access token from the current token source.
func (c *HTTPClient) access(ctx context.Context, force bool) (string, error) {
	ts := c.Tokens()
	if ts == nil {
		return "", &Error{Op: "authorize", Kind: KindUnauthorized, Message: "not signed in"}
	}
	return ts.AccessToken(ctx, force)
}

// New checks cfg and builds a client. It does not contact the CRM.
func New(cfg Config) (*HTTPClient, error) {
	u, err := CheckURL("CRM address", cfg.URL)
	if err != nil {
		return nil, err
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = defaultTokenURL(u)
	}
	if _, err := CheckURL("token endpoint", tokenURL); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	hc, err := newHTTPClient(cfg.CABundle, timeout)
	if err != nil {
		return nil, err
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	scope := cfg.Scope
	if len(scope) == 0 {
		root := *u
		root.Path, root.RawQuery, root.RawPath = "", "", ""
		scope = []string{root.String() + "/user_impersonation", "offline_access"}
	}
	tries := cfg.MaxRetries
	switch {
	case tries == 0:
		tries = 2
	case tries < 0:
		tries = 0
	}
	maxRA := cfg.MaxRetryWait
	if maxRA <= 0 {
		maxRA = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	conc := cfg.MaxConcurrent
	if conc <= 0 {
		conc = defaultConcurrent
	}
	conc = min(conc, maxConcurrent)
	api := APIBase(u)
	return &HTTPClient{
		pace: newPacer(),
		sem:  make(chan struct{}, conc),
		memo: newMemo(now),
		api:  api,
		hc:   hc,
		pw: &tokens{
			conf: &oauth2.Config{
				ClientID: clientID,
				Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
				Scopes:   scope,
			},
			hc: hc,
		},
		log:    log,
		now:    now,
		tries:  tries,
		maxRA:  maxRA,
		origin: api.Scheme + "://" + api.Host,
	}, nil
}

// APIURL returns the Web API root the client talks to.
func (c *HTTPClient) APIURL() string { return c.api.String() }

// SignIn obtains a token with the password grant at the configured token
// endpoint and makes it the client's token source. The password is used
// for this call only and is not kept. The agent signs in through package
// signin; this is for tools and tests that talk to a known token endpoint.
func (c *HTTPClient) SignIn(ctx context.Context, username, password string) error {
	if strings.TrimSpace(username) == "" || password == "" {
		return &Error{Op: "sign in", Kind: KindUnauthorized, Message: "enter both your email address and your password"}
	}
	if err := c.waitGate(ctx); err != nil {
		return err
	}
	if err := c.pw.signIn(ctx, username, password); err != nil {
		return err
	}
	c.SetTokens(c.pw)
	return nil
}

// SignOut forgets the session's tokens.
func (c *HTTPClient) SignOut() {
	c.pw.clear()
	c.SetTokens(nil)
}

// CloseIdle closes idle keep-alive connections, e.g. when the user
// switches the connection off.
func (c *HTTPClient) CloseIdle() { c.hc.CloseIdleConnections() }

// request is one Web API call.
type request struct {
	op     string
	method string
	path   string // relative to the API root, or an absolute URL on the same origin
	body   any    // JSON-encoded when non-nil
	// raw is a body sent as is with contentType instead (a $batch).
	raw         []byte
	contentType string
	header      http.Header
	// idempotent says a 503 may be retried in place; 429 always may,
	// because service protection refuses the request before running it.
	idempotent bool
	// multipartErrors accepts a 400 answered as multipart/mixed: a $batch
	// stopped at its first failing part.
	multipartErrors bool
}

// response is a Web API answer that passed classification.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r, refreshing the token once on 401 and honouring Retry-After
// for 429/503 within the limits of the config. Every non-2xx answer becomes
// an *Error here.
func (c *HTTPClient) do(ctx context.Context, r request) (*response, error) {
	payload, ctype := r.raw, r.contentType
	if r.raw == nil && r.body != nil {
		ctype = "application/json; charset=utf-8"
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("crm: %s: encode request: %w", r.op, err)
		}
		payload = b
	}
	target, err := c.resolve(r.path)
	if err != nil {
		return nil, &Error{Op: r.op, Kind: KindBadResponse, Err: err}
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		if err := c.waitGate(ctx); err != nil {
			return nil, err
		}
		token, err := c.access(ctx, false)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, r, target, payload, ctype, token)
		if err == nil {
			return resp, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		switch {
		case e.Kind == KindUnauthorized && !refreshed:
			// The server may revoke or expire a token before our clock
			// says so; one forced refresh keeps this invisible.
			refreshed = true
			if _, rerr := c.access(ctx, true); rerr != nil {
				return nil, rerr
			}
			continue
		case e.Kind == KindThrottled || (e.Kind == KindUnavailable && r.idempotent):
			wait := e.RetryAfter
			if wait <= 0 {
				wait = time.Duration(1<<attempt) * time.Second
			}
			c.holdUntil(c.now().Add(wait))
			if attempt >= c.tries || wait > c.maxRA {
				return nil, e
			}
			c.log.Debug("crm: waiting before retry", "op", r.op, "status", e.Status, "wait", wait)
			continue
		}
		return nil, e
	}
}

// send performs one HTTP exchange and classifies the answer.
func (c *HTTPClient) send(ctx context.Context, r request, target string, payload []byte, ctype, token string) (*response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("crm: %s: %w", r.op, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	if payload != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	seq, release, err := c.admit(ctx)
	if err != nil {
		return nil, fmt.Errorf("crm: %s: %w", r.op, err)
	}
	defer release()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.pace.forget(seq)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("crm: %s: %w", r.op, ctxErr)
		}
		kind := classifyTransport(err)
		e := &Error{Op: r.op, Kind: kind, Err: err}
		if kind == KindTLS {
			e.Message = tlsReason(err)
		}
		return nil, e
	}
	defer resp.Body.Close()
	c.pace.observe(seq, resp.Header)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &Error{Op: r.op, Kind: KindNetwork, Status: resp.StatusCode, Message: "the answer was cut off", Err: err}
	}
	if len(data) > maxResponseBytes {
		return nil, &Error{Op: r.op, Kind: KindBadResponse, Status: resp.StatusCode, Message: "the answer is larger than 16 MiB"}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
	}
	if r.multipartErrors && resp.StatusCode == http.StatusBadRequest && mediaType(resp.Header.Get("Content-Type")) == "multipart/mixed" {
		// A server that ignored odata.continue-on-error stops the batch at
		// the first failure and answers 400 with the parts it ran.
		return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
	}
	e := c.statusError(r.op, resp, data)
	if e.Kind == KindThrottled && e.Limit == LimitRequests {
		c.pace.throttled(seq, c.now(), e.RetryAfter)
	}
	return nil, e
}

// admit waits for a free concurrency slot and for the pacer, and returns
// the request's ticket and the function that frees the slot.
func (c *HTTPClient) admit(ctx context.Context) (uint64, func(), error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	release := func() { <-c.sem }
	for {
		seq, wait := c.pace.reserve(c.now())
		if wait <= 0 {
			return seq, release, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return 0, nil, ctx.Err()
		}
	}
}

// statusError builds the classified error for a non-2xx answer, keeping
// the CRM's own message when it sent an OData error body.
func (c *HTTPClient) statusError(op string, resp *http.Response, data []byte) *Error {
	e := &Error{Op: op, Kind: classifyStatus(resp.StatusCode), Status: resp.StatusCode}
	if e.Kind == KindUnknown {
		e.Kind = KindBadResponse
	}
	if e.Kind == KindThrottled || e.Kind == KindUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	var body struct {
		Error *struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"error"`
	}
	if isJSON(resp.Header.Get("Content-Type")) && json.Unmarshal(data, &body) == nil && body.Error != nil {
		e.Code = errorCode(body.Error.Code)
		e.Message = clip(body.Error.Message, 500)
	}
	if e.Kind == KindThrottled {
		e.Limit = limitOf(e.Code)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
		if ct := mediaType(resp.Header.Get("Content-Type")); ct != "" && !isJSON(ct) {
			e.Message += " (answered with " + ct + ", not the CRM's JSON)"
		}
	}
	return e
}

// errorCode reads an OData error code written as a string ("0x80072322")
// or, as some intermediaries do, as a JSON number (-2147015902).
func errorCode(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(strings.TrimSpace(s), 64)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return clip(n.String(), 64)
	}
	return ""
}

// decode parses a 2xx JSON answer into v, refusing anything that is not
// JSON with a message that says what came back instead.
func decode(op string, resp *response, v any) error {
	ct := resp.header.Get("Content-Type")
	if !isJSON(ct) {
		what := mediaType(ct)
		if what == "" {
			what = "no content type"
		}
		return &Error{Op: op, Kind: KindBadResponse, Status: resp.status,
			Message: "expected JSON but the CRM answered with " + what}
	}
	if !utf8.Valid(resp.body) {
		return &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer is not valid UTF-8"}
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the JSON answer is malformed or truncated", Err: err}
	}
	return nil
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.TrimSpace(ct)
	}
	return mt
}

func isJSON(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// resolve turns a path relative to the API root, or a nextLink, into an
// absolute URL. A nextLink pointing at another origin is refused: the
// bearer token must never be sent elsewhere.
func (c *HTTPClient) resolve(p string) (string, error) {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		u, err := url.Parse(p)
		if err != nil {
			return "", fmt.Errorf("unparsable link from the CRM: %w", err)
		}
		if u.Scheme+"://"+u.Host != c.origin {
			return "", fmt.Errorf("the CRM sent a link to another server (%s); refusing to send the token there", u.Host)
		}
		return u.String(), nil
	}
	return c.api.String() + strings.TrimPrefix(p, "/"), nil
}

// holdUntil stops every request from leaving before t.
func (c *HTTPClient) holdUntil(t time.Time) {
	c.mu.Lock()
	if t.After(c.notBefore) {
		c.notBefore = t
	}
	c.mu.Unlock()
}

// waitGate blocks until the CRM's last Retry-After has elapsed.
func (c *HTTPClient) waitGate(ctx context.Context) error {
	c.mu.Lock()
	nb := c.notBefore
	c.mu.Unlock()
	d := nb.Sub(c.now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("crm: waiting for the CRM's Retry-After: %w", ctx.Err())
	}
}

// NotBefore returns the time before which the client sends nothing, zero if none.
func (c *HTTPClient) NotBefore() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notBefore.Before(c.now()) {
		return time.Time{}
	}
	return c.notBefore
}

func tlsReason(err error) string {
	var (
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &ua):
		return "it is signed by an authority this computer does not trust"
	case errors.As(err, &hn):
		return "it is not valid for " + hn.Host
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return "it has expired or is not valid yet"
	}
	return "it could not be verified"
}
