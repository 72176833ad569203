package localcrm

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenGrants(t *testing.T) {
	e := newEnv(t, Options{})
	ok := url.Values{"grant_type": {"password"}, "client_id": {AgentClientID}, "username": {"alice@demo.local"},
		"password": {"demo-alice"}, "scope": {"https://crm.example/user_impersonation"}}
	_, good := e.tokenRequest(ok)
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range ok {
			f[key] = vs
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"password grant", ok, 200, ""},
		{"username is case-insensitive", with("username", "Alice@Demo.Local"), 200, ""},
		{"wrong password", with("password", "nope"), 400, "invalid_grant"},
		{"unknown user", with("username", "mallory@demo.local"), 400, "invalid_grant"},
		{"missing password", with("password", ""), 400, "invalid_request"},
		{"missing client id", with("client_id", ""), 400, "invalid_request"},
		{"unregistered client id", with("client_id", "c1"), 400, "unauthorized_client"},
		{"missing grant type", with("grant_type", ""), 400, "invalid_request"},
		{"unsupported grant", with("grant_type", "client_credentials"), 400, "unsupported_grant_type"},
		{"refresh grant", url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID}, "refresh_token": {good.RefreshToken}}, 200, ""},
		{"refresh with other client", url.Values{"grant_type": {"refresh_token"}, "client_id": {DevClientID}, "refresh_token": {good.RefreshToken}}, 400, "invalid_grant"},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID}, "refresh_token": {"garbage"}}, 400, "invalid_grant"},
		{"missing refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID}}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, tr := e.tokenRequest(tc.form)
			if status != tc.status || tr.Error != tc.err {
				t.Fatalf("got %d %q (%s), want %d %q", status, tr.Error, tr.Description, tc.status, tc.err)
			}
			if tc.status == 200 {
				if tr.TokenType != "Bearer" || tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresIn != 3600 || tr.Scope == "" {
					t.Fatalf("incomplete token response: %+v", tr)
				}
				if r := e.req("GET", "WhoAmI()", tr.AccessToken, nil); r.status != 200 {
					t.Fatalf("issued token refused: %d %s", r.status, r.raw)
				}
			} else if tr.Description == "" {
				t.Fatal("error without error_description")
			}
		})
	}
}

func TestBearerChecks(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: 10 * time.Minute})
	token := e.signIn("alice@demo.local", "demo-alice")
	tests := []struct {
		name      string
		token     string
		advance   time.Duration
		wantError bool // error="invalid_token" in the challenge
	}{
		{"no token", "", 0, false},
		{"unknown token", "not-a-token", 0, true},
		{"expired token", token, 11 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(tc.advance)
			r := e.req("GET", "WhoAmI()", tc.token, nil)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.status)
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer authorization_uri="+e.ts.URL+"/"+TenantID+"/oauth2/authorize, resource_id="+e.ts.URL+"/") {
				t.Fatalf("challenge %q", ch)
			}
			if got := strings.Contains(ch, `error="invalid_token"`); got != tc.wantError {
				t.Fatalf("challenge %q: invalid_token=%v, want %v", ch, got, tc.wantError)
			}
			if r.errCode() == "" || r.errMessage() == "" {
				t.Fatalf("no OData error body: %s", r.raw)
			}
		})
	}
}

func TestWhoAmI(t *testing.T) {
	e := newEnv(t, Options{})
	token := e.signIn("bob@demo.local", "demo-bob")
	for _, path := range []string{"WhoAmI()", "WhoAmI"} {
		r := e.req("GET", path, token, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		if r.str("UserId") != DemoID("systemuser", "bob@demo.local") || r.str("UserId") != e.userID("bob@demo.local") {
			t.Fatalf("UserId %q", r.str("UserId"))
		}
		if r.str("OrganizationId") != e.srv.OrganizationID() || r.str("BusinessUnitId") != e.srv.BusinessUnitID() {
			t.Fatalf("org ids: %s", r.raw)
		}
		if r.str("@odata.context") != e.api+"$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse" {
			t.Fatalf("context %q", r.str("@odata.context"))
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json; odata.metadata=minimal" || r.header.Get("OData-Version") != "4.0" {
			t.Fatalf("headers: %q %q", ct, r.header.Get("OData-Version"))
		}
	}
	if r := e.req("POST", "WhoAmI()", token, map[string]any{}); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST WhoAmI: %d", r.status)
	}
	for _, v := range []string{"v9.0", "v9.1"} {
		if r := e.req("GET", e.ts.URL+"/api/data/"+v+"/WhoAmI()", token, nil); r.status != 200 {
			t.Fatalf("%s: %d", v, r.status)
		}
	}
}

func TestPasswordChangeAndRevocation(t *testing.T) {
	e := newEnv(t, Options{})
	_, tr := e.tokenRequest(url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}})
	if err := e.srv.SetPassword("alice@demo.local", "new-secret"); err != nil {
		t.Fatal(err)
	}
	// The access token lives on; the refresh token is revoked.
	if r := e.req("GET", "WhoAmI()", tr.AccessToken, nil); r.status != 200 {
		t.Fatalf("access token after password change: %d", r.status)
	}
	status, rt := e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "client_id": {AgentClientID}, "refresh_token": {tr.RefreshToken}})
	if status != 400 || rt.Error != "invalid_grant" {
		t.Fatalf("refresh after password change: %d %+v", status, rt)
	}
	if status, _ := e.tokenRequest(url.Values{"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}}); status != 400 {
		t.Fatalf("old password still works: %d", status)
	}
	token := e.signIn("alice@demo.local", "new-secret")
	if err := e.srv.RevokeTokens("alice@demo.local"); err != nil {
		t.Fatal(err)
	}
	if r := e.req("GET", "WhoAmI()", token, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.status)
	}
	if err := e.srv.RevokeTokens("nobody@demo.local"); err == nil {
		t.Fatal("RevokeTokens of unknown user succeeded")
	}
}

func TestAddUser(t *testing.T) {
	e := newEnv(t, Options{})
	id, err := e.srv.AddUser("dave@example.com", "pw-dave", "Dave Jones", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddUser("DAVE@example.com", "x", "Dave Again", false); err == nil {
		t.Fatal("duplicate user accepted")
	}
	token := e.signIn("dave@example.com", "pw-dave")
	r := e.req("GET", "systemusers("+id+")?$select=fullname,internalemailaddress", token, nil)
	if r.status != 200 || r.str("fullname") != "Dave Jones" || r.str("internalemailaddress") != "dave@example.com" {
		t.Fatalf("systemuser: %d %s", r.status, r.raw)
	}
	if err := e.srv.SetUserDisabled("dave@example.com", true); err != nil {
		t.Fatal(err)
	}
	if r := e.req("GET", "WhoAmI()", token, nil); r.status != 401 {
		t.Fatalf("disabled user's token: %d", r.status)
	}
}
