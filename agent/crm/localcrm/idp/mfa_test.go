package idp_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

func TestMFAUser(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	dave := url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"dave@demo.local"}, "password": {"demo-dave"}, "scope": {e.TS.URL + "/user_impersonation offline_access"}}
	for _, path := range []string{"/oauth2/v2.0/token", tokenPath, "/organizations/oauth2/v2.0/token", "/adfs/oauth2/token"} {
		t.Run(path, func(t *testing.T) {
			a := e.post(path, dave)
			wantOAuthError(t, a, 400, "invalid_grant", 50076)
			if a.Str("suberror") != "basic_action" || !strings.Contains(a.Str("error_description"), "must use multi-factor authentication") {
				t.Fatalf("MFA refusal: %s", a.Raw)
			}
		})
	}
	// A wrong password is still just a wrong password.
	bad := e.post(tokenPath, url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"dave@demo.local"}, "password": {"guess"}})
	wantOAuthError(t, bad, 400, "invalid_grant", 50126)

	// The browser sign-in stands for the second factor.
	a := e.codeTokens("dave@demo.local", "demo-dave", e.TS.URL+"/user_impersonation offline_access")
	if r := e.Req("GET", "WhoAmI()", a.Str("access_token"), nil); r.Status != 200 || r.Str("UserId") != e.UserID("dave@demo.local") {
		t.Fatalf("dave's code flow token: %d %s", r.Status, r.Raw)
	}
	// So does the device code page.
	d := e.startDevice(e.TS.URL + "/user_impersonation")
	e.postPage("/devicelogin", url.Values{"code": {d.Str("user_code")}, "login": {"dave@demo.local"}, "passwd": {"demo-dave"}})
	if tok := e.pollDevice(d.Str("device_code")); tok.Status != 200 {
		t.Fatalf("dave's device code: %s", tok.Raw)
	}

	if err := e.Srv.SetRequireMFA("Alice@demo.local", true); err != nil {
		t.Fatal(err)
	}
	alice := url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID}, "username": {"alice@demo.local"}, "password": {"demo-alice"}}
	wantOAuthError(t, e.post(tokenPath, alice), 400, "invalid_grant", 50076)
	if err := e.Srv.SetRequireMFA("alice@demo.local", false); err != nil {
		t.Fatal(err)
	}
	if a := e.post(tokenPath, alice); a.Status != 200 {
		t.Fatalf("alice after MFA cleared: %s", a.Raw)
	}
	if err := e.Srv.SetRequireMFA("nobody@demo.local", true); !errors.Is(err, localcrm.ErrNoUser) {
		t.Fatalf("SetRequireMFA of unknown user: %v", err)
	}
}

func TestRevokeTokensCoversNewFlows(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	code := e.codeTokens("bob@demo.local", "demo-bob", e.TS.URL+"/user_impersonation offline_access")
	d := e.startDevice(e.TS.URL + "/user_impersonation offline_access")
	e.postPage("/devicelogin", url.Values{"code": {d.Str("user_code")}, "login": {"bob@demo.local"}, "passwd": {"demo-bob"}})
	dev := e.pollDevice(d.Str("device_code"))
	// A code issued but not yet redeemed must not outlive the revocation.
	verifier, challenge := pkce("pending")
	u := e.signInCode(authzPath, e.authzQuery("http://localhost:7000", challenge, e.TS.URL+"/user_impersonation"), "bob@demo.local", "demo-bob")

	if err := e.Srv.RevokeTokens("bob@demo.local"); err != nil {
		t.Fatal(err)
	}
	for name, rt := range map[string]string{"code flow": code.Str("refresh_token"), "device flow": dev.Str("refresh_token")} {
		a := e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {rt}})
		if a.Status != 400 || a.Str("error") != "invalid_grant" {
			t.Fatalf("%s refresh token after revocation: %s", name, a.Raw)
		}
	}
	if r := e.Req("GET", "WhoAmI()", code.Str("access_token"), nil); r.Status != 401 {
		t.Fatalf("access token after revocation: %d", r.Status)
	}
	a := e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID},
		"code": {u.Query().Get("code")}, "redirect_uri": {"http://localhost:7000"}, "code_verifier": {verifier}})
	if a.Status != 400 || a.Str("error") != "invalid_grant" {
		t.Fatalf("pending code after revocation: %s", a.Raw)
	}
	// A password change also ends the new flows' refresh tokens.
	fresh := e.codeTokens("bob@demo.local", "demo-bob", "offline_access")
	if err := e.Srv.SetPassword("bob@demo.local", "changed"); err != nil {
		t.Fatal(err)
	}
	b := e.post(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {fresh.Str("refresh_token")}})
	wantOAuthError(t, b, 400, "invalid_grant", 70000)
}

// verifyJWT checks an RS256 JWT against a JWK set and returns its claims.
func verifyJWT(t *testing.T, e *env, keysURL, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	var header struct{ Alg, Kid, Typ string }
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil || header.Alg != "RS256" || header.Kid == "" {
		t.Fatalf("header %s: %v", hb, err)
	}
	keys := e.Req("GET", keysURL, "", nil)
	var pub *rsa.PublicKey
	for _, k := range keys.Body["keys"].([]any) {
		m := k.(map[string]any)
		if m["kid"] != header.Kid {
			continue
		}
		n, _ := base64.RawURLEncoding.DecodeString(m["n"].(string))
		eb, _ := base64.RawURLEncoding.DecodeString(m["e"].(string))
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(eb).Int64())}
	}
	if pub == nil {
		t.Fatalf("kid %s not in %s", header.Kid, keys.Raw)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(pb, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestIDToken(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, localcrm.Options{DataDir: dir})
	verifier, challenge := pkce("idt")
	q := e.authzQuery("http://localhost:7100", challenge, e.TS.URL+"/user_impersonation openid profile")
	q.Set("nonce", "n-0S6_WzA2Mj")
	u := e.signInCode(authzPath, q, "alice@demo.local", "demo-alice")
	a := e.post(tokenPath, url.Values{"grant_type": {"authorization_code"}, "client_id": {localcrm.DevClientID},
		"code": {u.Query().Get("code")}, "redirect_uri": {"http://localhost:7100"}, "code_verifier": {verifier}})
	c := verifyJWT(t, e, e.TS.URL+"/"+localcrm.TenantID+"/discovery/v2.0/keys", a.Str("id_token"))
	now := e.Clock.Now().Unix()
	want := map[string]any{
		"iss": e.TS.URL + "/" + localcrm.TenantID + "/v2.0", "aud": localcrm.DevClientID, "tid": localcrm.TenantID,
		"oid": e.UserID("alice@demo.local"), "preferred_username": "alice@demo.local", "name": "Alice Martin",
		"ver": "2.0", "nonce": "n-0S6_WzA2Mj", "iat": float64(now), "nbf": float64(now), "exp": float64(now + 3600),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if s, _ := c["sub"].(string); s == "" || s == c["oid"] {
		t.Errorf("sub %v", c["sub"])
	}
	if _, has := a.Body["refresh_token"]; has {
		t.Error("refresh token without offline_access")
	}

	// The key is kept in the store: a restarted server publishes the same.
	kid := strings.Split(a.Str("id_token"), ".")[0]
	if err := e.Srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2, err := localcrm.New(localcrm.Options{DataDir: dir, PasswordIterations: 1000, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	ts2 := httptest.NewServer(srv2)
	defer ts2.Close()
	resp, err := http.Get(ts2.URL + "/" + localcrm.TenantID + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("keys after restart: %v %+v", err, jwks)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(kid)
	if !strings.Contains(string(hb), `"kid":"`+jwks.Keys[0].Kid+`"`) {
		t.Fatalf("kid changed across restart: %s vs %s", hb, jwks.Keys[0].Kid)
	}
}
