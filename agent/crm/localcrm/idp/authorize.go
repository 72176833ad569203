package idp

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// authzRequest is an authorization request, from the query of the first
// GET or from the hidden fields of the sign-in form.
type authzRequest struct {
	clientID, responseType, redirectURI, responseMode string
	scope, resource, state, nonce, loginHint          string
	challenge, method                                 string
}

// authzParams are the request parameters the sign-in form carries along.
var authzParams = []string{"client_id", "response_type", "redirect_uri", "response_mode", "scope",
	"resource", "state", "nonce", "code_challenge", "code_challenge_method"}

func readAuthzRequest(v url.Values) authzRequest {
	return authzRequest{
		clientID: v.Get("client_id"), responseType: v.Get("response_type"),
		redirectURI: v.Get("redirect_uri"), responseMode: v.Get("response_mode"),
		scope: v.Get("scope"), resource: v.Get("resource"), state: v.Get("state"),
		nonce: v.Get("nonce"), loginHint: v.Get("login_hint"),
		challenge: v.Get("code_challenge"), method: v.Get("code_challenge_method"),
	}
}

// hidden lists the fields that carry the request through the form.
func (q authzRequest) hidden() []field {
	vals := []string{q.clientID, q.responseType, q.redirectURI, q.responseMode, q.scope,
		q.resource, q.state, q.nonce, q.challenge, q.method}
	var out []field
	for i, name := range authzParams {
		if vals[i] != "" {
			out = append(out, field{name, vals[i]})
		}
	}
	return out
}

// loopbackRedirect reports whether uri matches the registered redirect
// http://localhost: Entra ignores the port of a loopback redirect, and
// treats localhost, 127.0.0.1 and [::1] alike. Anything else is refused.
func loopbackRedirect(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || (u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return false
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}

// pkceValue is what RFC 7636 allows in a challenge: 43 to 128 unreserved
// characters (an S256 challenge is exactly 43).
var pkceValue = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// handleAuthorize is the authorization endpoint: a sign-in page, then a
// code for the app at its loopback redirect URI.
func (s *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request, ep endpoint) {
	var v url.Values
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		v = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.writeErrorPage(w, http.StatusBadRequest, oauthErr(http.StatusBadRequest, "invalid_request", 90004,
				"The request isn't properly formatted."))
			return
		}
		v = r.PostForm
	default:
		w.Header().Set("Allow", "GET, POST")
		s.writeErrorPage(w, http.StatusMethodNotAllowed, oauthErr(http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts GET, POST requests. Received a %s request.", r.Method))
		return
	}
	q := readAuthzRequest(v)
	// Until the client and the redirect URI are known good, errors are shown
	// here: redirecting them would make this server an open redirector.
	switch {
	case q.clientID == "":
		s.writeErrorPage(w, http.StatusBadRequest, errMissing("client_id"))
		return
	case !registered(q.clientID):
		s.writeErrorPage(w, http.StatusBadRequest, errUnknownClient(q.clientID))
		return
	case q.redirectURI == "":
		s.writeErrorPage(w, http.StatusBadRequest, oauthErr(http.StatusBadRequest, "invalid_request", 900971, "No reply address provided."))
		return
	case !loopbackRedirect(q.redirectURI):
		s.writeErrorPage(w, http.StatusBadRequest, oauthErr(http.StatusBadRequest, "invalid_request", 50011,
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.",
			q.redirectURI, q.clientID))
		return
	}
	origin := s.origin(r)
	sc, e := s.checkAuthzRequest(ep, origin, q)
	if e != nil {
		s.redirectError(w, q, e)
		return
	}
	if r.Method != http.MethodPost {
		s.showSignIn(w, r, q, q.loginHint, "")
		return
	}
	if v.Get("cancel") != "" {
		s.redirectError(w, q, oauthErr(http.StatusBadRequest, "access_denied", 65004,
			"User declined to consent to access the app."))
		return
	}
	login, passwd := strings.TrimSpace(v.Get("login")), v.Get("passwd")
	u, msg := s.interactiveSignIn(r.Context(), login, passwd)
	if u == nil {
		s.showSignIn(w, r, q, login, msg)
		return
	}
	now := s.now()
	code, err := s.flows.addCode(&authCode{
		clientID: q.clientID, redirectURI: q.redirectURI, scope: sc,
		challenge: q.challenge, method: q.method, userID: u.ID, nonce: q.nonce,
		authTime: now, expires: now.Add(s.opts.AuthCodeTTL),
	}, now)
	if err != nil {
		s.redirectError(w, q, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90006,
			"The service is temporarily unavailable. Try again later."))
		return
	}
	s.log.Info("localcrm: authorization code issued")
	s.redirectResult(w, q, []field{{"code", code}, {"state", q.state}, {"session_state", wire.NewGUID()}})
}

// checkAuthzRequest validates what may be refused by redirecting to the
// app: response type, scope and PKCE.
func (s *Provider) checkAuthzRequest(ep endpoint, origin string, q authzRequest) (scopeSet, *oauthError) {
	switch q.responseMode {
	case "", "query", "fragment", "form_post":
	default:
		return scopeSet{}, oauthErr(http.StatusBadRequest, "invalid_request", 70007,
			"The app returned an unsupported value of response_mode '%s'.", q.responseMode)
	}
	switch {
	case q.responseType == "":
		return scopeSet{}, errMissing("response_type")
	case q.responseType != "code":
		return scopeSet{}, oauthErr(http.StatusBadRequest, "unsupported_response_type", 70005,
			"The app returned an unsupported response type '%s'; this application may only use response_type 'code'.", q.responseType)
	}
	sc, e := parseScope(ep, origin, q.scope, q.resource)
	if e != nil {
		return scopeSet{}, e
	}
	// PKCE is required: a public client has no secret, so the verifier is
	// what ties the code to the app that asked for it.
	if q.challenge == "" {
		return scopeSet{}, errMissing("code_challenge")
	}
	method := q.method
	if method == "" {
		method = "plain" // RFC 7636 §4.3
	}
	switch {
	case method == "S256" && len(q.challenge) == 43 && pkceValue.MatchString(q.challenge):
	case method == "plain" && ep.kind == epADFS && pkceValue.MatchString(q.challenge):
	case method == "S256" || method == "plain" && ep.kind == epADFS:
		return scopeSet{}, oauthErr(http.StatusBadRequest, "invalid_request", 501491,
			"Invalid size of Code_Challenge parameter.")
	default:
		return scopeSet{}, oauthErr(http.StatusBadRequest, "invalid_request", 50149,
			"Invalid Code_Challenge_method parameter '%s'; use S256.", method)
	}
	return sc, nil
}

// showSignIn renders the sign-in form for an authorization request.
func (s *Provider) showSignIn(w http.ResponseWriter, r *http.Request, q authzRequest, login, errText string) {
	app, _ := clientName(q.clientID)
	s.writePage(w, http.StatusOK, page{
		Title: "Sign in to your account", Heading: "Sign in", Intro: "to continue to " + app,
		Error: errText, Action: r.URL.Path, Hidden: q.hidden(),
		AskLogin: true, Login: login, Submit: "Sign in", Secondary: "Cancel", SecondaryName: "cancel",
	})
}

// interactiveSignIn checks a password typed into a sign-in page. Users who
// must use MFA may sign in here: the interactive page stands for the
// second factor. It returns the user, or the text the page shows.
func (s *Provider) interactiveSignIn(ctx context.Context, login, passwd string) (*store.User, string) {
	if login == "" || passwd == "" {
		return nil, "Enter your email address and your password."
	}
	if _, ok := s.limiter.Allow("signin:"+strings.ToLower(login), s.now()); !ok {
		return nil, "You've tried to sign in too many times with an incorrect account or password. Wait a moment and try again."
	}
	u, err := store.UserByEmail(ctx, s.st.Q(ctx), login)
	if err != nil {
		s.log.Error("localcrm: sign-in page: read user", "err", err)
		return nil, "Something went wrong. Try again."
	}
	if u == nil || !checkPassword(u, passwd) {
		s.log.Info("localcrm: interactive sign-in refused")
		return nil, "Your account or password is incorrect."
	}
	if u.Disabled {
		return nil, "Your account has been locked. Contact your support person to unlock it, then try again."
	}
	return u, ""
}

// redirectError sends an error to the app's redirect URI.
func (s *Provider) redirectError(w http.ResponseWriter, q authzRequest, e *oauthError) {
	desc := "AADSTS" + strconv.Itoa(e.aadsts) + ": " + e.desc + "\r\nTrace ID: " + wire.NewGUID() +
		"\r\nCorrelation ID: " + wire.NewGUID() + "\r\nTimestamp: " + s.now().UTC().Format("2006-01-02 15:04:05Z")
	s.redirectResult(w, q, []field{{"error", e.code}, {"error_description", desc}, {"state", q.state}})
}

// redirectResult hands the answer to the app in the response mode it asked
// for: the query (default for code), the fragment, or a POSTed form.
func (s *Provider) redirectResult(w http.ResponseWriter, q authzRequest, fields []field) {
	v := url.Values{}
	var kept []field
	for _, f := range fields {
		if f.Value != "" {
			v.Set(f.Name, f.Value)
			kept = append(kept, f)
		}
	}
	switch q.responseMode {
	case "form_post":
		s.writePage(w, http.StatusOK, page{
			Title: "Working...", Heading: "Signing you in", Intro: "Press Continue if the app does not open by itself.",
			Action: q.redirectURI, Hidden: kept, Submit: "Continue", AutoPost: true,
		})
	case "fragment":
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", q.redirectURI+"#"+v.Encode())
		w.WriteHeader(http.StatusFound)
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", q.redirectURI+"?"+v.Encode())
		w.WriteHeader(http.StatusFound)
	}
}

// registered reports whether a client id is one of the tenant's apps.
func registered(clientID string) bool {
	_, ok := clientName(clientID)
	return ok
}

// EffectiveCodeTTL caps a configured code lifetime at Entra's ten minutes.
func EffectiveCodeTTL(d time.Duration) time.Duration {
	if d <= 0 || d > DefaultAuthCodeTTL {
		return DefaultAuthCodeTTL
	}
	return d
}
