package localcrm

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const authzPath = "/" + TenantID + "/oauth2/v2.0/authorize"
const tokenPath = "/" + TenantID + "/oauth2/v2.0/token"

func TestAuthorizeFlow(t *testing.T) {
	e := newEnv(t, Options{})
	verifier, challenge := pkce("v")
	redirect := "http://127.0.0.1:49152/"
	scope := e.ts.URL + "/user_impersonation openid profile offline_access"
	q := e.authzQuery(redirect, challenge, scope)

	p := e.getPage(authzPath + "?" + q.Encode())
	for _, want := range []string{`name="login"`, `name="passwd"`, `id="idSIButton9" value="Sign in"`, `name="cancel"`} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("sign-in page lacks %s:\n%s", want, p.body)
		}
	}
	if p.status != 200 || p.login() != "alice@demo.local" || p.action() != authzPath {
		t.Fatalf("page: %d login=%q action=%q", p.status, p.login(), p.action())
	}
	if p.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("page may be framed: %v", p.header)
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
	if again.status != 200 || !strings.Contains(again.body, "Your account or password is incorrect.") || again.login() != "alice@demo.local" {
		t.Fatalf("wrong password: %d %s", again.status, again.body)
	}

	form.Set("passwd", "demo-alice")
	ok := e.postPage(authzPath, form)
	if ok.status != http.StatusFound {
		t.Fatalf("sign in: %d %s", ok.status, ok.body)
	}
	loc, _ := url.Parse(ok.location)
	if !strings.HasPrefix(ok.location, redirect+"?") || loc.Query().Get("code") == "" ||
		loc.Query().Get("state") != "st-123" || loc.Query().Get("session_state") == "" {
		t.Fatalf("redirect %q", ok.location)
	}

	a := e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {DevClientID},
		"code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}, "client_info": {"1"}})
	if a.status != 200 || a.str("token_type") != "Bearer" || a.str("access_token") == "" || a.str("refresh_token") == "" ||
		a.str("id_token") == "" || a.num("expires_in") != 3600 || a.num("ext_expires_in") != 3600 {
		t.Fatalf("token answer: %d %s", a.status, a.raw)
	}
	if a.str("scope") != e.ts.URL+"/user_impersonation openid profile" {
		t.Fatalf("scope %q", a.str("scope"))
	}
	ci, err := base64.RawURLEncoding.DecodeString(a.str("client_info"))
	var info map[string]string
	if err != nil || json.Unmarshal(ci, &info) != nil || info["uid"] != e.userID("alice@demo.local") || info["utid"] != TenantID {
		t.Fatalf("client_info %q: %v", a.str("client_info"), err)
	}
	if r := e.req("GET", "WhoAmI()", a.str("access_token"), nil); r.status != 200 || r.str("UserId") != e.userID("alice@demo.local") {
		t.Fatalf("WhoAmI with the code flow's token: %d %s", r.status, r.raw)
	}

	// Cancel sends access_denied back to the app, with the state.
	form = p.hidden()
	form.Set("cancel", "Cancel")
	c := e.postPage(authzPath, form)
	cl, _ := url.Parse(c.location)
	if c.status != http.StatusFound || cl.Query().Get("error") != "access_denied" ||
		!strings.HasPrefix(cl.Query().Get("error_description"), "AADSTS65004") || cl.Query().Get("state") != "st-123" {
		t.Fatalf("cancel: %d %q", c.status, c.location)
	}
}

func TestAuthorizeRequestChecks(t *testing.T) {
	e := newEnv(t, Options{})
	_, challenge := pkce("c")
	good := "http://localhost:8400/"
	with := func(k, v string) url.Values {
		q := e.authzQuery(good, challenge, e.ts.URL+"/user_impersonation")
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
				if p.status != tc.page || p.location != "" || !strings.Contains(p.body, tc.aadsts) {
					t.Fatalf("got %d location %q, want an error page with %s:\n%s", p.status, p.location, tc.aadsts, p.body)
				}
			case tc.err != "":
				u, _ := url.Parse(p.location)
				if p.status != http.StatusFound || u.Query().Get("error") != tc.err ||
					!strings.HasPrefix(u.Query().Get("error_description"), tc.aadsts+":") || u.Query().Get("state") != "st-123" {
					t.Fatalf("got %d %q, want a redirect with %s %s", p.status, p.location, tc.err, tc.aadsts)
				}
			default:
				if p.status != 200 || !strings.Contains(p.body, "idSIButton9") {
					t.Fatalf("got %d, want the sign-in page: %s", p.status, p.body)
				}
			}
		})
	}
}

func TestCodeRedemptionRefusals(t *testing.T) {
	e := newEnv(t, Options{AuthCodeTTL: time.Minute})
	redirect := "http://localhost:50505"
	issue := func() (code, verifier string) {
		verifier, challenge := pkce(time.Now().String())
		u := e.signInCode(authzPath, e.authzQuery(redirect, challenge, e.ts.URL+"/user_impersonation"), "alice@demo.local", "demo-alice")
		return u.Query().Get("code"), verifier
	}
	redeem := func(code, verifier, redirect, client string) oauthAnswer {
		return e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {client},
			"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	}
	tests := []struct {
		name   string
		run    func() oauthAnswer
		status int
		err    string
		aadsts int
	}{
		{"wrong verifier", func() oauthAnswer {
			code, _ := issue()
			wrong, _ := pkce("other")
			return redeem(code, wrong, redirect, DevClientID)
		}, 400, "invalid_grant", 501481},
		{"reused code", func() oauthAnswer {
			code, v := issue()
			if a := redeem(code, v, redirect, DevClientID); a.status != 200 {
				t.Fatalf("first redemption: %s", a.raw)
			}
			return redeem(code, v, redirect, DevClientID)
		}, 400, "invalid_grant", 54005},
		{"redirect with another port", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, "http://localhost:50506", DevClientID)
		}, 400, "invalid_grant", 500112},
		{"unknown client", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, redirect, "not-registered")
		}, 400, "unauthorized_client", 700016},
		{"other registered client", func() oauthAnswer {
			code, v := issue()
			return redeem(code, v, redirect, AgentClientID)
		}, 400, "invalid_grant", 70000},
		{"expired code", func() oauthAnswer {
			code, v := issue()
			e.clock.Advance(61 * time.Second)
			return redeem(code, v, redirect, DevClientID)
		}, 400, "invalid_grant", 70008},
		{"unknown code", func() oauthAnswer { return redeem("made-up", "x", redirect, DevClientID) }, 400, "invalid_grant", 70000},
		{"missing verifier", func() oauthAnswer {
			code, _ := issue()
			return redeem(code, "", redirect, DevClientID)
		}, 400, "invalid_request", 900144},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantOAuthError(t, tc.run(), tc.status, tc.err, tc.aadsts)
		})
	}
	// A code refused for its verifier cannot be retried with the right one.
	verifier, challenge := pkce("retry")
	u := e.signInCode(authzPath, e.authzQuery(redirect, challenge, e.ts.URL+"/user_impersonation"), "alice@demo.local", "demo-alice")
	wrong, _ := pkce("nope")
	redeem(u.Query().Get("code"), wrong, redirect, DevClientID)
	wantOAuthError(t, redeem(u.Query().Get("code"), verifier, redirect, DevClientID), 400, "invalid_grant", 54005)
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.codeTokens("alice@demo.local", "demo-alice", e.ts.URL+"/user_impersonation offline_access")
	refresh := func(rt string) oauthAnswer {
		return e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {DevClientID}, "refresh_token": {rt}})
	}
	rt1 := a.str("refresh_token")
	b := refresh(rt1)
	rt2 := b.str("refresh_token")
	if b.status != 200 || rt2 == "" || rt2 == rt1 || b.str("access_token") == "" {
		t.Fatalf("first refresh: %d %s", b.status, b.raw)
	}
	wantOAuthError(t, refresh(rt1), 400, "invalid_grant", 70000)
	c := refresh(rt2)
	if c.status != 200 || c.str("refresh_token") == "" || c.str("refresh_token") == rt2 {
		t.Fatalf("second refresh: %d %s", c.status, c.raw)
	}
	other := e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID}, "refresh_token": {c.str("refresh_token")}})
	wantOAuthError(t, other, 400, "invalid_grant", 70000)

	// Without offline_access Entra issues no refresh token.
	n := e.codeTokens("bob@demo.local", "demo-bob", e.ts.URL+"/.default")
	if _, has := n.body["refresh_token"]; has || n.str("access_token") == "" {
		t.Fatalf("refresh token without offline_access: %s", n.raw)
	}

	// The root endpoint keeps its old behaviour: a used refresh token
	// stays valid until it expires.
	_, tr := e.tokenRequest(url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}})
	for i := 0; i < 2; i++ {
		if status, r := e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID},
			"refresh_token": {tr.RefreshToken}}); status != 200 || r.RefreshToken == "" {
			t.Fatalf("root refresh %d: %d %+v", i, status, r)
		}
	}

	// An expired refresh token says so.
	d := e.codeTokens("carol@demo.local", "demo-carol", "offline_access")
	e.clock.Advance(DefaultRefreshTTL + time.Second)
	x := refresh(d.str("refresh_token"))
	wantOAuthError(t, x, 400, "invalid_grant", 700082)
	if x.str("suberror") != "bad_token" {
		t.Fatalf("suberror %q", x.str("suberror"))
	}
}

func TestEntraV1AndResource(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.post("/"+TenantDomain+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {e.ts.URL + "/"}})
	if a.status != 200 || a.str("resource") != e.ts.URL+"/" || a.str("refresh_token") == "" || a.str("expires_on") == "" {
		t.Fatalf("v1 password grant: %d %s", a.status, a.raw)
	}
	b := e.post("/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {e.ts.URL + "/"}})
	wantOAuthError(t, b, 400, "invalid_request", 901002)
	c := e.post("/common/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "scope": {"https://other.example/user_impersonation"}})
	wantOAuthError(t, c, 400, "invalid_scope", 70011)
	d := e.post(tokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {AgentClientID}})
	wantOAuthError(t, d, 400, "unsupported_grant_type", 70003)
	f := e.post(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {AgentClientID}, "client_secret": {"s"},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}})
	wantOAuthError(t, f, 401, "invalid_client", 700025)
}
