package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

func TestTokenGrants(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	ok := url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID}, "username": {"alice@demo.local"},
		"password": {"demo-alice"}, "scope": {"https://crm.example/user_impersonation"}}
	_, good := e.TokenRequest(ok)
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
		Status int
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
		{"refresh grant", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID}, "refresh_token": {good.RefreshToken}}, 200, ""},
		{"refresh with other client", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.DevClientID}, "refresh_token": {good.RefreshToken}}, 400, "invalid_grant"},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID}, "refresh_token": {"garbage"}}, 400, "invalid_grant"},
		{"missing refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID}}, 400, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, tr := e.TokenRequest(tc.form)
			if status != tc.Status || tr.Error != tc.err {
				t.Fatalf("got %d %q (%s), want %d %q", status, tr.Error, tr.Description, tc.Status, tc.err)
			}
			if tc.Status == 200 {
				if tr.TokenType != "Bearer" || tr.AccessToken == "" || tr.RefreshToken == "" || tr.ExpiresIn != 3600 || tr.Scope == "" {
					t.Fatalf("incomplete token response: %+v", tr)
				}
				if r := e.Req("GET", "WhoAmI()", tr.AccessToken, nil); r.Status != 200 {
					t.Fatalf("issued token refused: %d %s", r.Status, r.Raw)
				}
			} else if tr.Description == "" {
				t.Fatal("error without error_description")
			}
		})
	}
}

func TestBearerChecks(t *testing.T) {
	e := newEnv(t, localcrm.Options{TokenTTL: 10 * time.Minute})
	token := e.SignIn("alice@demo.local", "demo-alice")
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
			e.Clock.Advance(tc.advance)
			r := e.Req("GET", "WhoAmI()", tc.token, nil)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.Status)
			}
			ch := r.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer authorization_uri="+e.TS.URL+"/"+localcrm.TenantID+"/oauth2/authorize, resource_id="+e.TS.URL+"/") {
				t.Fatalf("challenge %q", ch)
			}
			if got := strings.Contains(ch, `error="invalid_token"`); got != tc.wantError {
				t.Fatalf("challenge %q: invalid_token=%v, want %v", ch, got, tc.wantError)
			}
			if r.ErrCode() == "" || r.ErrMessage() == "" {
				t.Fatalf("no OData error Body: %s", r.Raw)
			}
		})
	}
}

func TestWhoAmI(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	token := e.SignIn("bob@demo.local", "demo-bob")
	for _, path := range []string{"WhoAmI()", "WhoAmI"} {
		r := e.Req("GET", path, token, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Raw)
		}
		if r.Str("UserId") != localcrm.DemoID("systemuser", "bob@demo.local") || r.Str("UserId") != e.UserID("bob@demo.local") {
			t.Fatalf("UserId %q", r.Str("UserId"))
		}
		if r.Str("OrganizationId") != e.Srv.OrganizationID() || r.Str("BusinessUnitId") != e.Srv.BusinessUnitID() {
			t.Fatalf("org ids: %s", r.Raw)
		}
		if r.Str("@odata.context") != e.API+"$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse" {
			t.Fatalf("context %q", r.Str("@odata.context"))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json; odata.metadata=minimal" || r.Header.Get("OData-Version") != "4.0" {
			t.Fatalf("headers: %q %q", ct, r.Header.Get("OData-Version"))
		}
	}
	if r := e.Req("POST", "WhoAmI()", token, map[string]any{}); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST WhoAmI: %d", r.Status)
	}
	for _, v := range []string{"v9.0", "v9.1"} {
		if r := e.Req("GET", e.TS.URL+"/api/data/"+v+"/WhoAmI()", token, nil); r.Status != 200 {
			t.Fatalf("%s: %d", v, r.Status)
		}
	}
}

func TestPasswordChangeAndRevocation(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	_, tr := e.TokenRequest(url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}})
	if err := e.Srv.SetPassword("alice@demo.local", "new-secret"); err != nil {
		t.Fatal(err)
	}
	// The access token lives on; the refresh token is revoked.
	if r := e.Req("GET", "WhoAmI()", tr.AccessToken, nil); r.Status != 200 {
		t.Fatalf("access token after password change: %d", r.Status)
	}
	status, rt := e.TokenRequest(url.Values{"grant_type": {"refresh_token"}, "client_id": {localcrm.AgentClientID}, "refresh_token": {tr.RefreshToken}})
	if status != 400 || rt.Error != "invalid_grant" {
		t.Fatalf("refresh after password change: %d %+v", status, rt)
	}
	if status, _ := e.TokenRequest(url.Values{"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}}); status != 400 {
		t.Fatalf("old password still works: %d", status)
	}
	token := e.SignIn("alice@demo.local", "new-secret")
	if err := e.Srv.RevokeTokens("alice@demo.local"); err != nil {
		t.Fatal(err)
	}
	if r := e.Req("GET", "WhoAmI()", token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.Status)
	}
	if err := e.Srv.RevokeTokens("nobody@demo.local"); err == nil {
		t.Fatal("RevokeTokens of unknown user succeeded")
	}
}

func TestAddUser(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	id, err := e.Srv.AddUser("dave@example.com", "pw-dave", "Dave Jones", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Srv.AddUser("DAVE@example.com", "x", "Dave Again", false); err == nil {
		t.Fatal("duplicate user accepted")
	}
	token := e.SignIn("dave@example.com", "pw-dave")
	r := e.Req("GET", "systemusers("+id+")?$select=fullname,internalemailaddress", token, nil)
	if r.Status != 200 || r.Str("fullname") != "Dave Jones" || r.Str("internalemailaddress") != "dave@example.com" {
		t.Fatalf("systemuser: %d %s", r.Status, r.Raw)
	}
	if err := e.Srv.SetUserDisabled("dave@example.com", true); err != nil {
		t.Fatal(err)
	}
	if r := e.Req("GET", "WhoAmI()", token, nil); r.Status != 401 {
		t.Fatalf("disabled user's token: %d", r.Status)
	}
}
