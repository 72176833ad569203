package localcrm

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const devicePath = "/" + TenantID + "/oauth2/v2.0/devicecode"

// startDevice asks for a device code and returns the answer.
func (e *env) startDevice(scope string) oauthAnswer {
	e.t.Helper()
	a := e.post(devicePath, url.Values{"client_id": {DevClientID}, "scope": {scope}})
	if a.status != 200 {
		e.t.Fatalf("devicecode: %d %s", a.status, a.raw)
	}
	return a
}

func (e *env) pollDevice(deviceCode string) oauthAnswer {
	return e.post(tokenPath, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"client_id": {DevClientID}, "device_code": {deviceCode}, "client_info": {"1"}})
}

func TestDeviceCodeFlow(t *testing.T) {
	e := newEnv(t, Options{})
	d := e.startDevice(e.ts.URL + "/user_impersonation openid offline_access")
	code := d.str("user_code")
	verify := d.str("verification_uri")
	if !regexp.MustCompile(`^[A-Z0-9]{9}$`).MatchString(code) || verify != e.ts.URL+"/devicelogin" ||
		d.num("expires_in") != 900 || d.num("interval") != 5 || d.str("device_code") == "" {
		t.Fatalf("device code answer: %s", d.raw)
	}
	if want := "To sign in, use a web browser to open the page " + verify + " and enter the code " + code + " to authenticate."; d.str("message") != want {
		t.Fatalf("message %q", d.str("message"))
	}
	if _, has := d.body["verification_uri_complete"]; has {
		t.Fatal("verification_uri_complete sent; Entra sends none")
	}

	wantOAuthError(t, e.pollDevice(d.str("device_code")), 400, "authorization_pending", 70016)
	wantOAuthError(t, e.pollDevice(d.str("device_code")), 400, "slow_down", 70016)

	// The verification page: the code, then the sign-in form.
	p := e.getPage(verify)
	if p.status != 200 || !strings.Contains(p.body, `name="code"`) {
		t.Fatalf("verification page: %d %s", p.status, p.body)
	}
	bad := e.postPage(verify, url.Values{"code": {"ZZZZZZZZZ"}})
	if !strings.Contains(bad.body, "That code didn&#39;t work.") && !strings.Contains(bad.body, "That code didn't work.") {
		t.Fatalf("wrong code: %s", bad.body)
	}
	form := e.postPage(verify, url.Values{"user_code": {strings.ToLower(code[:4]) + "-" + code[4:]}})
	if !strings.Contains(form.body, `name="login"`) || !strings.Contains(form.body, `name="decline"`) || form.hidden().Get("code") != code {
		t.Fatalf("sign-in step: %s", form.body)
	}
	wrong := e.postPage(verify, url.Values{"code": {code}, "login": {"alice@demo.local"}, "passwd": {"nope"}})
	if !strings.Contains(wrong.body, "Your account or password is incorrect.") || wrong.login() != "alice@demo.local" {
		t.Fatalf("wrong password: %s", wrong.body)
	}
	done := e.postPage(verify, url.Values{"code": {code}, "login": {"alice@demo.local"}, "passwd": {"demo-alice"}})
	if !strings.Contains(done.body, "You have signed in to the") || !strings.Contains(done.body, "You may now close this window.") {
		t.Fatalf("success page: %s", done.body)
	}

	e.clock.Advance(5 * time.Second)
	tok := e.pollDevice(d.str("device_code"))
	if tok.status != 200 || tok.str("access_token") == "" || tok.str("refresh_token") == "" || tok.str("id_token") == "" || tok.str("client_info") == "" {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	if r := e.req("GET", "WhoAmI()", tok.str("access_token"), nil); r.status != 200 || r.str("UserId") != e.userID("alice@demo.local") {
		t.Fatalf("WhoAmI: %d %s", r.status, r.raw)
	}
	e.clock.Advance(5 * time.Second)
	wantOAuthError(t, e.pollDevice(d.str("device_code")), 400, "bad_verification_code", 70018)
	// A used code cannot be entered again.
	again := e.postPage(verify, url.Values{"code": {code}})
	if strings.Contains(again.body, `name="login"`) {
		t.Fatal("a used code shows the sign-in form again")
	}
}

func TestDeviceCodeRefusals(t *testing.T) {
	e := newEnv(t, Options{DeviceCodeTTL: 2 * time.Minute, DeviceCodeInterval: time.Second})
	t.Run("declined", func(t *testing.T) {
		d := e.startDevice(e.ts.URL + "/user_impersonation")
		if d.num("interval") != 1 || d.num("expires_in") != 120 {
			t.Fatalf("options not applied: %s", d.raw)
		}
		p := e.postPage("/devicelogin", url.Values{"code": {d.str("user_code")}, "decline": {"Cancel"}})
		if !strings.Contains(p.body, "declined") {
			t.Fatalf("decline page: %s", p.body)
		}
		wantOAuthError(t, e.pollDevice(d.str("device_code")), 400, "authorization_declined", 65004)
	})
	t.Run("expired", func(t *testing.T) {
		d := e.startDevice(e.ts.URL + "/user_impersonation")
		e.clock.Advance(2*time.Minute + time.Second)
		if p := e.postPage("/devicelogin", url.Values{"code": {d.str("user_code")}}); strings.Contains(p.body, `name="login"`) {
			t.Fatal("expired code accepted on the verification page")
		}
		wantOAuthError(t, e.pollDevice(d.str("device_code")), 400, "expired_token", 70020)
	})
	t.Run("unknown device code", func(t *testing.T) {
		wantOAuthError(t, e.pollDevice("not-a-device-code"), 400, "bad_verification_code", 70018)
	})
	t.Run("unknown client", func(t *testing.T) {
		a := e.post(devicePath, url.Values{"client_id": {"someone-else"}, "scope": {e.ts.URL + "/user_impersonation"}})
		wantOAuthError(t, a, 400, "unauthorized_client", 700016)
	})
	t.Run("missing scope", func(t *testing.T) {
		wantOAuthError(t, e.post(devicePath, url.Values{"client_id": {DevClientID}}), 400, "invalid_request", 900144)
	})
	t.Run("polled by another client", func(t *testing.T) {
		d := e.startDevice(e.ts.URL + "/user_impersonation")
		a := e.post(tokenPath, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"client_id": {AgentClientID}, "device_code": {d.str("device_code")}})
		wantOAuthError(t, a, 400, "bad_verification_code", 70018)
	})
}
