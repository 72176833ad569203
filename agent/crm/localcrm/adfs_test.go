package localcrm

import (
	"net/url"
	"strings"
	"testing"
)

func TestADFSFlows(t *testing.T) {
	e := newEnv(t, Options{Auth: AuthADFS})
	resource := e.ts.URL + "/"

	// Authorization code with plain PKCE (AD FS 2019 accepts it) and the
	// resource parameter.
	verifier := strings.Repeat("p", 50)
	q := url.Values{"client_id": {DevClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:9001"},
		"resource": {resource}, "scope": {"openid"}, "state": {"s1"}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}}
	u := e.signInCode("/adfs/oauth2/authorize", q, "alice@demo.local", "demo-alice")
	if u.Query().Get("state") != "s1" {
		t.Fatalf("redirect %v", u)
	}
	a := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {DevClientID},
		"code": {u.Query().Get("code")}, "redirect_uri": {"http://localhost:9001"}, "code_verifier": {verifier}, "resource": {resource}})
	if a.status != 200 || a.str("token_type") != "bearer" || a.str("refresh_token") == "" ||
		a.num("refresh_token_expires_in") != DefaultRefreshTTL.Seconds() || a.str("resource") != resource {
		t.Fatalf("AD FS code redemption: %d %s", a.status, a.raw)
	}
	claims := verifyJWT(t, e, e.ts.URL+"/adfs/discovery/keys", a.str("id_token"))
	if claims["iss"] != e.ts.URL+"/adfs" || claims["upn"] != "alice@demo.local" || claims["aud"] != DevClientID {
		t.Fatalf("AD FS id_token claims: %v", claims)
	}
	if r := e.req("GET", "WhoAmI()", a.str("access_token"), nil); r.status != 200 {
		t.Fatalf("WhoAmI: %d", r.status)
	}

	// Rotation applies here too; AD FS always issues a refresh token.
	b := e.post("/adfs/oauth2/token/", url.Values{"grant_type": {"refresh_token"}, "client_id": {DevClientID}, "refresh_token": {a.str("refresh_token")}})
	if b.status != 200 || b.str("refresh_token") == "" {
		t.Fatalf("refresh: %d %s", b.status, b.raw)
	}
	old := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {DevClientID}, "refresh_token": {a.str("refresh_token")}})
	wantOAuthError(t, old, 400, "invalid_grant", 70000)

	// The resource in the scope, MSAL style, with the password grant.
	p := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "scope": {e.ts.URL + "/user_impersonation openid"}})
	if p.status != 200 || p.str("refresh_token") == "" || p.str("id_token") == "" {
		t.Fatalf("AD FS password grant: %d %s", p.status, p.raw)
	}
	wrongResource := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {"https://other.example/"}})
	wantOAuthError(t, wrongResource, 400, "invalid_resource", 500011)

	// Device code at AD FS's paths.
	d := e.post("/adfs/oauth2/devicecode", url.Values{"client_id": {DevClientID}, "resource": {resource}})
	if d.status != 200 || d.str("verification_uri") != e.ts.URL+"/adfs/oauth2/deviceauth" {
		t.Fatalf("AD FS devicecode: %d %s", d.status, d.raw)
	}
	e.postPage(d.str("verification_uri"), url.Values{"code": {d.str("user_code")}, "login": {"carol@demo.local"}, "passwd": {"demo-carol"}})
	tok := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"device_code"}, "client_id": {DevClientID}, "code": {d.str("device_code")}})
	if tok.status != 200 || tok.str("access_token") == "" {
		t.Fatalf("AD FS device token: %d %s", tok.status, tok.raw)
	}

	// S256 works in AD FS mode as well; an unknown method does not.
	v2, ch2 := pkce("adfs")
	q2 := url.Values{"client_id": {DevClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9002/"},
		"scope": {e.ts.URL + "/user_impersonation"}, "code_challenge": {ch2}, "code_challenge_method": {"S256"}}
	u2 := e.signInCode("/adfs/oauth2/authorize", q2, "bob@demo.local", "demo-bob")
	c := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {DevClientID},
		"code": {u2.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:9002/"}, "code_verifier": {v2}})
	if c.status != 200 {
		t.Fatalf("AD FS S256: %s", c.raw)
	}
	q2.Set("code_challenge_method", "S512")
	if pg := e.getPage("/adfs/oauth2/authorize?" + q2.Encode()); !strings.Contains(pg.location, "error=invalid_request") {
		t.Fatalf("unknown PKCE method: %d %q", pg.status, pg.location)
	}
}
