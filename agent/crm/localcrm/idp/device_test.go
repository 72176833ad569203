package idp_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

const devicePath = "/" + localcrm.TenantID + "/oauth2/v2.0/devicecode"

// startDevice asks for a device code and returns the answer.
func (e *env) startDevice(scope string) oauthAnswer {
	e.T.Helper()
	a := e.post(devicePath, url.Values{"client_id": {localcrm.DevClientID}, "scope": {scope}})
	if a.Status != 200 {
		e.T.Fatalf("devicecode: %d %s", a.Status, a.Raw)
	}
	return a
}

func (e *env) pollDevice(deviceCode string) oauthAnswer {
	return e.post(tokenPath, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"client_id": {localcrm.DevClientID}, "device_code": {deviceCode}, "client_info": {"1"}})
}

func TestDeviceCodeFlow(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	d := e.startDevice(e.TS.URL + "/user_impersonation openid offline_access")
	code := d.Str("user_code")
	verify := d.Str("verification_uri")
	if !regexp.MustCompile(`^[A-Z0-9]{9}$`).MatchString(code) || verify != e.TS.URL+"/devicelogin" ||
		d.num("expires_in") != 900 || d.num("interval") != 5 || d.Str("device_code") == "" {
		t.Fatalf("device code answer: %s", d.Raw)
	}
	if want := "To sign in, use a web browser to open the page " + verify + " and enter the code " + code + " to authenticate."; d.Str("message") != want {
		t.Fatalf("message %q", d.Str("message"))
	}
	if _, has := d.Body["verification_uri_complete"]; has {
		t.Fatal("verification_uri_complete sent; Entra sends none")
	}

	wantOAuthError(t, e.pollDevice(d.Str("device_code")), 400, "authorization_pending", 70016)
	wantOAuthError(t, e.pollDevice(d.Str("device_code")), 400, "slow_down", 70016)

	// The verification page: the code, then the sign-in form.
	p := e.getPage(verify)
	if p.Status != 200 || !strings.Contains(p.Body, `name="code"`) {
		t.Fatalf("verification page: %d %s", p.Status, p.Body)
	}
	bad := e.postPage(verify, url.Values{"code": {"ZZZZZZZZZ"}})
	if !strings.Contains(bad.Body, "That code didn&#39;t work.") && !strings.Contains(bad.Body, "That code didn't work.") {
		t.Fatalf("wrong code: %s", bad.Body)
	}
	form := e.postPage(verify, url.Values{"user_code": {strings.ToLower(code[:4]) + "-" + code[4:]}})
	if !strings.Contains(form.Body, `name="login"`) || !strings.Contains(form.Body, `name="decline"`) || form.hidden().Get("code") != code {
		t.Fatalf("sign-in step: %s", form.Body)
	}
	wrong := e.postPage(verify, url.Values{"code": {code}, "login": {"alice@demo.local"}, "passwd": {"nope"}})
	if !strings.Contains(wrong.Body, "Your account or password is incorrect.") || wrong.login() != "alice@demo.local" {
		t.Fatalf("wrong password: %s", wrong.Body)
	}
	done := e.postPage(verify, url.Values{"code": {code}, "login": {"alice@demo.local"}, "passwd": {"demo-alice"}})
	if !strings.Contains(done.Body, "You have signed in to the") || !strings.Contains(done.Body, "You may now close this window.") {
		t.Fatalf("success page: %s", done.Body)
	}

	e.Clock.Advance(5 * time.Second)
	tok := e.pollDevice(d.Str("device_code"))
	if tok.Status != 200 || tok.Str("access_token") == "" || tok.Str("refresh_token") == "" || tok.Str("id_token") == "" || tok.Str("client_info") == "" {
		t.Fatalf("token: %d %s", tok.Status, tok.Raw)
	}
	if r := e.Req("GET", "WhoAmI()", tok.Str("access_token"), nil); r.Status != 200 || r.Str("UserId") != e.UserID("alice@demo.local") {
		t.Fatalf("WhoAmI: %d %s", r.Status, r.Raw)
	}
	e.Clock.Advance(5 * time.Second)
	wantOAuthError(t, e.pollDevice(d.Str("device_code")), 400, "bad_verification_code", 70018)
	// A used code cannot be entered again.
	again := e.postPage(verify, url.Values{"code": {code}})
	if strings.Contains(again.Body, `name="login"`) {
		t.Fatal("a used code shows the sign-in form again")
	}
}

func TestDeviceCodeRefusals(t *testing.T) {
	e := newEnv(t, localcrm.Options{DeviceCodeTTL: 2 * time.Minute, DeviceCodeInterval: time.Second})
	t.Run("declined", func(t *testing.T) {
		d := e.startDevice(e.TS.URL + "/user_impersonation")
		if d.num("interval") != 1 || d.num("expires_in") != 120 {
			t.Fatalf("options not applied: %s", d.Raw)
		}
		p := e.postPage("/devicelogin", url.Values{"code": {d.Str("user_code")}, "decline": {"Cancel"}})
		if !strings.Contains(p.Body, "declined") {
			t.Fatalf("decline page: %s", p.Body)
		}
		wantOAuthError(t, e.pollDevice(d.Str("device_code")), 400, "authorization_declined", 65004)
	})
	t.Run("expired", func(t *testing.T) {
		d := e.startDevice(e.TS.URL + "/user_impersonation")
		e.Clock.Advance(2*time.Minute + time.Second)
		if p := e.postPage("/devicelogin", url.Values{"code": {d.Str("user_code")}}); strings.Contains(p.Body, `name="login"`) {
			t.Fatal("expired code accepted on the verification page")
		}
		wantOAuthError(t, e.pollDevice(d.Str("device_code")), 400, "expired_token", 70020)
	})
	t.Run("unknown device code", func(t *testing.T) {
		wantOAuthError(t, e.pollDevice("not-a-device-code"), 400, "bad_verification_code", 70018)
	})
	t.Run("unknown client", func(t *testing.T) {
		a := e.post(devicePath, url.Values{"client_id": {"someone-else"}, "scope": {e.TS.URL + "/user_impersonation"}})
		wantOAuthError(t, a, 400, "unauthorized_client", 700016)
	})
	t.Run("missing scope", func(t *testing.T) {
		wantOAuthError(t, e.post(devicePath, url.Values{"client_id": {localcrm.DevClientID}}), 400, "invalid_request", 900144)
	})
	t.Run("polled by another client", func(t *testing.T) {
		d := e.startDevice(e.TS.URL + "/user_impersonation")
		a := e.post(tokenPath, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id": {localcrm.AgentClientID}, "device_code": {d.Str("device_code")}})
		wantOAuthError(t, a, 400, "bad_verification_code", 70018)
	})
}
