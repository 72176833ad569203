package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

const authzPath = "/" + localcrm.TenantID + "/oauth2/v2.0/authorize"
const tokenPath = "/" + localcrm.TenantID + "/oauth2/v2.0/token"

func TestAuthorizeFlow(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	verifier, challenge := pkce("v")
	redirect := "http://127.0.0.1:49152/"
	scope := e.TS.URL + "/user_impersonation openid profile offline_access"
	q := e.authzQuery(redirect, challenge, scope)

	p := e.getPage(authzPath + "?" + q.Encode())
	for _, want := range []string{`name="login"`, `name="passwd"`, `id="idSIButton9" value="Sign in"`, `name="cancel"`} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("sign-in page lacks %s:\n%s", want, p.Body)
		}
	}
	if p.Status != 200 || p.login() != "alice@demo.local" || p.action() != authzPath {
		t.Fatalf("page: %d login=%q action=%q", p.Status, p.login(), p.action())
	}
	if p.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("page may be framed: %v", p.Header)
	}
	form := p.hidden()
	for _, k := range []string{"client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "response_type"} {
		if form.Get(k) != q.Get(k) {
			t.Fatalf("hidden %s = %q, want %q", k, form.Get(k), q.Get(k))
		}
	}

	// A wrong password shows the page again, with the error and the email.
	form.Set("login", "alice@demo.local")
	form.Set("passwd", "wrong")
	again := e.postPage(authzPath, form)
	if again.Status != 200 || !strings.Contains(again.Body, "Your account or password is incorrect.") || again.login() != "alice@demo.local" {
		t.Fatalf("wrong password: %d %s", again.Status, again.Body)
	}

	form.Set("passwd", "demo-alice")
	ok := e.postPage(authzPath, form)
	if ok.Status != http.StatusFound {
		t.Fatalf("sign in: %d %s", ok.Status, ok.Body)
	}
	loc, _ := url.Parse(ok.Location)
	if !strings.HasPrefix(ok.Location, redirect+"?") || loc.Query().Get("code") == "" ||
		loc.Query().Get("state") != "st-123" || loc.Query().Get("session_state") == "" {
		t.Fatalf("redirect %q", ok.Location)
	}

	a := e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "client_info": {"1"}})
	if a.Status != 200 || a.Str("token_type") != "Bearer" || a.Str("access_token") == "" || a.Str("refresh_token") == "" ||
		a.Str("id_token") == "" || a.num("expires_in") != 3600 || a.num("ext_expires_in") != 3600 {
		t.Fatalf("token answer: %d %s", a.Status, a.Raw)
	}
	if a.Str("scope") != e.TS.URL+"/user_impersonation openid profile" {
		t.Fatalf("scope %q", a.Str("scope"))
	}
	ci, err := base64.RawURLEncoding.DecodeString(a.Str("client_info"))
	var info map[string]string
	if err != nil || json.Unmarshal(ci, &info) != nil || info["uid"] != e.UserID("alice@demo.local") || info["utid"] != localcrm.TenantID {
		t.Fatalf("client_info %q: %v", a.Str("client_info"), err)
	}
	if r := e.Req("GET", "WhoAmI()", a.Str("access_token"), nil); r.Status != 200 || r.Str("UserId") != e.UserID("alice@demo.local") {
		t.Fatalf("WhoAmI with the code flow's token: %d %s", r.Status, r.Raw)
	}

	// Cancel sends access_denied back to the app, with the state.
	form = p.hidden()
	form.Set("cancel", "Cancel")
	c := e.postPage(authzPath, form)
	cl, _ := url.Parse(c.Location)
	if c.Status != http.StatusFound || cl.Query().Get("error") != "access_denied" ||
		!strings.HasPrefix(cl.Query().Get("error_description"), "AADSTS65004") || cl.Query().Get("state") != "st-123" {
		t.Fatalf("cancel: %d %q", c.Status, c.Location)
	}
}

func TestAuthorizeRequestChecks(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	_, challenge := pkce("c")
	good := "http://localhost:8400/"
	with := func(k, v string) url.Values {
		q := e.authzQuery(good, challenge, e.TS.URL+"/user_impersonation")
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name   string
		q      url.Values
		page   int    // status of an error page; 0 when a redirect or the sign-in page is expected
		err    string // error in the redirect; "" for the sign-in page
		aadsts string
	}{
		{"localhost without port", with("redirect_uri", "http://localhost"), 0, "", ""},
		{"127.0.0.1 any port", with("redirect_uri", "http://127.0.0.1:61234"), 0, "", ""},
		{"IPv6 loopback", with("redirect_uri", "http://[::1]:61234/"), 0, "", ""},
		{"unknown client", with("client_id", "00000000-0000-0000-0000-000000000000"), 400, "", "AADSTS700016"},
		{"missing client", with("client_id", ""), 400, "", "AADSTS900144"},
		{"remote redirect", with("redirect_uri", "http://attacker.example:8400/"), 400, "", "AADSTS50011"},
		{"https redirect", with("redirect_uri", "https://localhost:8400/"), 400, "", "AADSTS50011"},
		{"redirect with path", with("redirect_uri", "http://localhost:8400/callback"), 400, "", "AADSTS50011"},
		{"redirect with query", with("redirect_uri", "http://localhost:8400/?next=x"), 400, "", "AADSTS50011"},
		{"missing redirect", with("redirect_uri", ""), 400, "", "AADSTS900971"},
		{"token response type", with("response_type", "token"), 0, "unsupported_response_type", "AADSTS70005"},
		{"no PKCE", with("code_challenge", ""), 0, "invalid_request", "AADSTS900144"},
		{"plain PKCE", with("code_challenge_method", "plain"), 0, "invalid_request", "AADSTS50149"},
		{"short challenge", with("code_challenge", "abc"), 0, "invalid_request", "AADSTS501491"},
		{"foreign scope", with("scope", "https://graph.microsoft.com/User.Read"), 0, "invalid_scope", "AADSTS70011"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.getPage(authzPath + "?" + tc.q.Encode())
			switch {
			case tc.page != 0:
				if p.Status != tc.page || p.Location != "" || !strings.Contains(p.Body, tc.aadsts) {
					t.Fatalf("got %d location %q, want an error page with %s:\n%s", p.Status, p.Location, tc.aadsts, p.Body)
				}
			case tc.err != "":
				u, _ := url.Parse(p.Location)
				if p.Status != http.StatusFound || u.Query().Get("error") != tc.err ||
					!strings.HasPrefix(u.Query().Get("error_description"), tc.aadsts+":") || u.Query().Get("state") != "st-123" {
					t.Fatalf("got %d %q, want a redirect with %s %s", p.Status, p.Location, tc.err, tc.aadsts)
				}
			default:
				if p.Status != 200 || !strings.Contains(p.Body, "idSIButton9") {
					t.Fatalf("got %d, want the sign-in page: %s", p.Status, p.Body)
				}
			}
		})
	}
}

func TestCodeRedemptionRefusals(t *testing.T) {
	e := newEnv(t, localcrm.Options{AuthCodeTTL: time.Minute})
	redirect := "http://localhost:50505"
	issue := func() (code, verifier string) {
		verifier, challenge := pkce(time.Now().String())
		u := e.signInCode(authzPath, e.authzQuery(redirect, challenge, e.TS.URL+"/user_impersonation"), "alice@demo.local", "demo-alice")
		return u.Query().Get("code"), verifier
	}
	redeem := func(code, verifier, redirect, client string) oauthAnswer {
		return e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {client},
			"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	}
	tests := []struct {
		name   string
		run    func() oauthAnswer
		Status int
		err    string
		aadsts int
	}{
		{"wrong verifier", func() oauthAnswer {
			code, _ := issue()
			wrong, _ := pkce("other")
			return redeem(code, wrong, redirect, localcrm.DevClientID)
		}, 400, "invalid_grant", 501481},
		{"reused code", func() oauthAnswer {
			code, v := issue()
			if a := redeem(code, v, redirect, localcrm.DevClientID); a.Status != 200 {
				t.Fatalf("first redemption: %s", a.Raw)
			}
			return redeem(code, v, redirect, localcrm.DevClientID)
		}, 400, "invalid_grant", 54005},
		{"redirect with another port", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, "http://localhost:50506", localcrm.DevClientID)
		}, 400, "invalid_grant", 500112},
		{"unknown client", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, redirect, "not-registered")
		}, 400, "unauthorized_client", 700016},
		{"other registered client", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, redirect, localcrm.AgentClientID)
		}, 400, "invalid_grant", 70000},
		{"expired code", func() oauthAnswer {
			code, v := issue()
			e.Clock.Advance(61 * time.Second)
			return redeem(code, v, redirect, localcrm.DevClientID)
		}, 400, "invalid_grant", 70008},
		{"unknown code", func() oauthAnswer { return redeem("made-up", "x", redirect, localcrm.DevClientID) }, 400, "invalid_grant", 70000},
		{"missing verifier", func() oauthAnswer {
			code, _ := issue()
			return redeem(code, "", redirect, localcrm.DevClientID)
		}, 400, "invalid_request", 900144},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, tc.run(), tc.Status, tc.err, tc.aadsts)
		})
	}
	// A code refused for its verifier cannot be retried with the right one.
	verifier, challenge := pkce("retry")
	u := e.signInCode(authzPath, e.authzQuery(redirect, challenge, e.TS.URL+"/user_impersonation"), "alice@demo.local", "demo-alice")
	wrong, _ := pkce("nope")
	redeem(u.Query().Get("code"), wrong, redirect, localcrm.DevClientID)
	wantOAuthError(t, redeem(u.Query().Get("code"), verifier, redirect, localcrm.DevClientID), 400, "invalid_grant", 54005)
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	a := e.codeTokens("alice@demo.local", "demo-alice", e.TS.URL+"/user_impersonation offline_access")
	refresh := func(rt string) oauthAnswer {
		return e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {rt}})
	}
	rt1 := a.Str("refresh_token")
	b := refresh(rt1)
	rt2 := b.Str("refresh_token")
	if b.Status != 200 || rt2 == "" || rt2 == rt1 || b.Str("access_token") == "" {
		t.Fatalf("first refresh: %d %s", b.Status, b.Raw)
	}
	wantOAuthError(t, refresh(rt1), 400, "invalid_grant", 70000)
	c := refresh(rt2)
	if c.Status != 200 || c.Str("refresh_token") == "" || c.Str("refresh_token") == rt2 {
		t.Fatalf("second refresh: %d %s", c.Status, c.Raw)
	}
	other := e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID}, "refresh_token": {c.Str("refresh_token")}})
	wantOAuthError(t, other, 400, "invalid_grant", 70000)

	// Without offline_access Entra issues no refresh token.
	n := e.codeTokens("bob@demo.local", "demo-bob", e.TS.URL+"/.default")
	if _, has := n.Body["refresh_token"]; has || n.Str("access_token") == "" {
		t.Fatalf("refresh token without offline_access: %s", n.Raw)
	}

	// The root endpoint keeps its old behaviour: a used refresh token
	// stays valid until it expires.
	_, tr := e.TokenRequest(url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}})
	for i := 0; i < 2; i++ {
		if status, r := e.TokenRequest(url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID},
			"refresh_token": {tr.RefreshToken}}); status != 200 || r.RefreshToken == "" {
			t.Fatalf("root refresh %d: %d %+v", i, status, r)
		}
	}

	// An expired refresh token says so.
	d := e.codeTokens("carol@demo.local", "demo-carol", "offline_access")
	e.Clock.Advance(localcrm.DefaultRefreshTTL + time.Second)
	x := refresh(d.Str("refresh_token"))
	wantOAuthError(t, x, 400, "invalid_grant", 700082)
	if x.Str("suberror") != "bad_token" {
		t.Fatalf("suberror %q", x.Str("suberror"))
	}
}

func TestEntraV1AndResource(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	a := e.post("/"+localcrm.TenantDomain+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {e.TS.URL + "/"}})
	if a.Status != 200 || a.Str("resource") != e.TS.URL+"/" || a.Str("refresh_token") == "" || a.Str("expires_on") == "" {
		t.Fatalf("v1 password grant: %d %s", a.Status, a.Raw)
	}
	b := e.post("/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {e.TS.URL + "/"}})
	wantOAuthError(t, b, 400, "invalid_request", 901002)
	c := e.post("/common/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "scope": {"https://other.example/user_impersonation"}})
	wantOAuthError(t, c, 400, "invalid_scope", 70011)
	d := e.post(tokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {localcrm.AgentClientID}})
	wantOAuthError(t, d, 400, "unsupported_grant_type", 70003)
	f := e.post(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID}, "client_secret": {"s"},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}})
	wantOAuthError(t, f, 401, "invalid_client", 700025)
}
