package idp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// oauthAnswer is a decoded token endpoint answer, success or error.
type oauthAnswer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (a oauthAnswer) Str(k string) string {
	s, _ := a.Body[k].(string)
	return s
}

func (a oauthAnswer) num(k string) float64 {
	f, _ := a.Body[k].(float64)
	return f
}

// errorCode is the first of error_codes, or 0.
func (a oauthAnswer) errorCode() int {
	list, _ := a.Body["error_codes"].([]any)
	if len(list) == 0 {
		return 0
	}
	f, _ := list[0].(float64)
	return int(f)
}

// post sends a form to a path of the test server and decodes the JSON.
func (e *env) post(path string, form url.Values) oauthAnswer {
	e.T.Helper()
	resp, err := noRedirect.PostForm(e.TS.URL+path, form)
	if err != nil {
		e.T.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := oauthAnswer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &a.Body); err != nil {
			e.T.Fatalf("POST %s: decode %q: %v", path, raw, err)
		}
	}
	return a
}

// wantOAuthError checks an error answer: status, error, AADSTS code, and
// the description starting with that code, as Entra writes it.
func wantOAuthError(t *testing.T, a oauthAnswer, status int, code string, aadsts int) {
	t.Helper()
	if a.Status != status || a.Str("error") != code || a.errorCode() != aadsts {
		t.Fatalf("got %d %q %v, want %d %q [%d]: %s", a.Status, a.Str("error"), a.Body["error_codes"], status, code, aadsts, a.Raw)
	}
	if !strings.HasPrefix(a.Str("error_description"), "AADSTS"+strconv.Itoa(aadsts)+": ") ||
		!strings.Contains(a.Str("error_description"), "Trace ID: ") || a.Str("trace_id") == "" ||
		a.Str("correlation_id") == "" || a.Str("timestamp") == "" {
		t.Fatalf("error body not in Entra's shape: %s", a.Raw)
	}
}

// htmlPage is a fetched sign-in page.
type htmlPage struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (e *env) getPage(u string) htmlPage {
	e.T.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.TS.URL + u
	}
	resp, err := noRedirect.Get(u)
	if err != nil {
		e.T.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return htmlPage{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), Location: resp.Header.Get("Location")}
}

func (e *env) postPage(u string, form url.Values) htmlPage {
	e.T.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.TS.URL + u
	}
	resp, err := noRedirect.PostForm(u, form)
	if err != nil {
		e.T.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return htmlPage{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), Location: resp.Header.Get("Location")}
}

var (
	hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	inputValue  = regexp.MustCompile(`name="login" value="([^"]*)"`)
)

// hidden returns the hidden fields of the page's form.
func (p htmlPage) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.Body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

func (p htmlPage) action() string {
	m := formAction.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func (p htmlPage) login() string {
	m := inputValue.FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat(seed, 40)[:40]))
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authzQuery is a complete authorization request for the dev client.
func (e *env) authzQuery(redirect, challenge, scope string) url.Values {
	return url.Values{
		"client_id": {localcrm.DevClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"st-123"}, "code_challenge": {challenge},
		"code_challenge_method": {"S256"}, "login_hint": {"alice@demo.local"}, "prompt": {"select_account"},
	}
}

// signInCode runs the browser part of the code flow at an authorize
// endpoint and returns the redirect the app receives.
func (e *env) signInCode(authorize string, q url.Values, login, password string) *url.URL {
	e.T.Helper()
	p := e.getPage(authorize + "?" + q.Encode())
	if p.Status != 200 || !strings.Contains(p.Body, `id="idSIButton9"`) {
		e.T.Fatalf("sign-in page: %d %s", p.Status, p.Body)
	}
	form := p.hidden()
	form.Set("login", login)
	form.Set("passwd", password)
	r := e.postPage(p.action(), form)
	if r.Status != http.StatusFound {
		e.T.Fatalf("sign-in POST: %d %s", r.Status, r.Body)
	}
	u, err := url.Parse(r.Location)
	if err != nil {
		e.T.Fatal(err)
	}
	return u
}

// codeTokens runs the whole code flow for a user and redeems the code.
func (e *env) codeTokens(user, password, scope string) oauthAnswer {
	e.T.Helper()
	verifier, challenge := pkce(user)
	redirect := "http://localhost:53100/"
	u := e.signInCode("/"+localcrm.TenantID+"/oauth2/v2.0/authorize", e.authzQuery(redirect, challenge, scope), user, password)
	a := e.post("/"+localcrm.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID}, "code": {u.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "client_info": {"1"},
	})
	if a.Status != 200 {
		e.T.Fatalf("redeem code: %d %s", a.Status, a.Raw)
	}
	return a
}
