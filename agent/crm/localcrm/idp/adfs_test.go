package idp_test

import (
	"net/url"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

func TestADFSFlows(t *testing.T) {
	e := newEnv(t, localcrm.Options{Auth: localcrm.AuthADFS})
	resource := e.TS.URL + "/"

	// Authorization code with plain PKCE (AD FS 2019 accepts it) and the
	// resource parameter.
	verifier := strings.Repeat("p", 50)
	q := url.Values{"client_id": {localcrm.DevClientID}, "response_type": {"code"}, "redirect_uri": {"http://localhost:9001"},
		"resource": {resource}, "scope": {"openid"}, "state": {"s1"}, "code_challenge": {verifier}, "code_challenge_method": {"plain"}}
	u := e.signInCode("/adfs/oauth2/authorize", q, "alice@demo.local", "demo-alice")
	if u.Query().Get("state") != "s1" {
		t.Fatalf("redirect %v", u)
	}
	a := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID},
		"code": {u.Query().Get("code")}, "redirect_uri": {"http://localhost:9001"}, "code_verifier": {verifier}, "resource": {resource}})
	if a.Status != 200 || a.Str("token_type") != "bearer" || a.Str("refresh_token") == "" ||
		a.num("refresh_token_expires_in") != localcrm.DefaultRefreshTTL.Seconds() || a.Str("resource") != resource {
		t.Fatalf("AD FS code redemption: %d %s", a.Status, a.Raw)
	}
	claims := verifyJWT(t, e, e.TS.URL+"/adfs/discovery/keys", a.Str("id_token"))
	if claims["iss"] != e.TS.URL+"/adfs" || claims["upn"] != "alice@demo.local" || claims["aud"] != localcrm.DevClientID {
		t.Fatalf("AD FS id_token claims: %v", claims)
	}
	if r := e.Req("GET", "WhoAmI()", a.Str("access_token"), nil); r.Status != 200 {
		t.Fatalf("WhoAmI: %d", r.Status)
	}

	// Rotation applies here too; AD FS always issues a refresh token.
	b := e.post("/adfs/oauth2/token/", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {a.Str("refresh_token")}})
	if b.Status != 200 || b.Str("refresh_token") == "" {
		t.Fatalf("refresh: %d %s", b.Status, b.Raw)
	}
	old := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {a.Str("refresh_token")}})
	wantOAuthError(t, old, 400, "invalid_grant", 70000)

	// The resource in the scope, MSAL style, with the password grant.
	p := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "scope": {e.TS.URL + "/user_impersonation openid"}})
	if p.Status != 200 || p.Str("refresh_token") == "" || p.Str("id_token") == "" {
		t.Fatalf("AD FS password grant: %d %s", p.Status, p.Raw)
	}
	wrongResource := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"bob@demo.local"}, "password": {"demo-bob"}, "resource": {"https://other.example/"}})
	wantOAuthError(t, wrongResource, 400, "invalid_resource", 500011)

	// Device code at AD FS's paths.
	d := e.post("/adfs/oauth2/devicecode", url.Values{"client_id": {localcrm.DevClientID}, "resource": {resource}})
	if d.Status != 200 || d.Str("verification_uri") != e.TS.URL+"/adfs/oauth2/deviceauth" {
		t.Fatalf("AD FS devicecode: %d %s", d.Status, d.Raw)
	}
	e.postPage(d.Str("verification_uri"), url.Values{"code": {d.Str("user_code")}, "login": {"carol@demo.local"}, "passwd": {"demo-carol"}})
	tok := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"device_code"}, "client_id": {localcrm.DevClientID}, "code": {d.Str("device_code")}})
	if tok.Status != 200 || tok.Str("access_token") == "" {
		t.Fatalf("AD FS device token: %d %s", tok.Status, tok.Raw)
	}

	// S256 works in AD FS mode as well; an unknown method does not.
	v2, ch2 := pkce("adfs")
	q2 := url.Values{"client_id": {localcrm.DevClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9002/"},
		"scope": {e.TS.URL + "/user_impersonation"}, "code_challenge": {ch2}, "code_challenge_method": {"S256"}}
	u2 := e.signInCode("/adfs/oauth2/authorize", q2, "bob@demo.local", "demo-bob")
	c := e.post("/adfs/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID},
		"code": {u2.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:9002/"}, "code_verifier": {v2}})
	if c.Status != 200 {
		t.Fatalf("AD FS S256: %s", c.Raw)
	}
	q2.Set("code_challenge_method", "S512")
	if pg := e.getPage("/adfs/oauth2/authorize?" + q2.Encode()); !strings.Contains(pg.Location, "error=invalid_request") {
		t.Fatalf("unknown PKCE method: %d %q", pg.Status, pg.Location)
	}
}
