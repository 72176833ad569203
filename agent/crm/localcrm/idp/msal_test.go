// Microsoft's own MSAL for Go, pointed at the local CRM as its authority
// over https, signs in unchanged: the proof that the local identity
// provider behaves as Entra ID does for a real client library.

package idp_test

//lint:file-ignore SA1019 Microsoft deprecates the password grant (ROPC), which the local CRM still serves for older AD FS and test systems; these tests prove MSAL's own ROPC works against it.

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"crmsync/agent/crm/localcrm"
)

// These tests run Microsoft's own MSAL for Go, unchanged, against the
// local CRM over https: if MSAL accepts the server, so will the other
// Entra ID clients that follow the same protocol.

// msalEnv is a seeded local CRM on an https loopback port and an MSAL
// public client pointed at its tenant.
type msalEnv struct {
	srv    *localcrm.Server
	ts     *httptest.Server
	app    public.Client
	scopes []string
}

func newMSALEnv(t *testing.T) *msalEnv {
	t.Helper()
	// An access token that expires within five minutes is stale to MSAL,
	// so AcquireTokenSilent has to use the refresh token. MSAL polls a
	// device code ever more slowly from 50 ms on, whatever the interval;
	// a short one lets the test see slow_down and still finish quickly.
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000, TokenTTL: 2 * time.Minute, DeviceCodeInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	app, err := public.New(localcrm.DevClientID,
		public.WithAuthority(ts.URL+"/"+localcrm.TenantID),
		public.WithHTTPClient(ts.Client()),
		public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return &msalEnv{srv: srv, ts: ts, app: app, scopes: []string{ts.URL + "/user_impersonation"}}
}

// whoAmI calls the Web API with a token and returns the user id.
func (m *msalEnv) whoAmI(t *testing.T, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", m.ts.URL+"/api/data/v9.2/WhoAmI()", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := m.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("WhoAmI: %d %s", resp.StatusCode, body)
	}
	m1 := regexp.MustCompile(`"UserId":"([^"]+)"`).FindSubmatch(body)
	if m1 == nil {
		t.Fatalf("WhoAmI: %s", body)
	}
	return string(m1[1])
}

func TestMSALUsernamePassword(t *testing.T) {
	m := newMSALEnv(t)
	ctx := context.Background()
	res, err := m.app.AcquireTokenByUsernamePassword(ctx, m.scopes, "alice@demo.local", "demo-alice")
	if err != nil {
		t.Fatalf("AcquireTokenByUsernamePassword: %v", err)
	}
	if res.Account.PreferredUsername != "alice@demo.local" || res.IDToken.Name != "Alice Martin" {
		t.Fatalf("account %+v, id token name %q", res.Account, res.IDToken.Name)
	}
	id, _ := m.srv.UserID("alice@demo.local")
	if got := m.whoAmI(t, res.AccessToken); got != id {
		t.Fatalf("WhoAmI %s, want %s", got, id)
	}
	if res.Account.HomeAccountID != id+"."+localcrm.TenantID {
		t.Fatalf("home account %q", res.Account.HomeAccountID)
	}

	_, err = m.app.AcquireTokenByUsernamePassword(ctx, m.scopes, "dave@demo.local", "demo-dave")
	if err == nil || !strings.Contains(err.Error(), "50076") {
		t.Fatalf("dave with a password: %v, want AADSTS50076", err)
	}
	_, err = m.app.AcquireTokenByUsernamePassword(ctx, m.scopes, "alice@demo.local", "wrong")
	if err == nil || !strings.Contains(err.Error(), "50126") {
		t.Fatalf("wrong password: %v, want AADSTS50126", err)
	}
}

func TestMSALDeviceCodeThenSilent(t *testing.T) {
	m := newMSALEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc, err := m.app.AcquireTokenByDeviceCode(ctx, m.scopes)
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	r := dc.Result
	if r.UserCode == "" || !strings.HasPrefix(r.VerificationURL, m.ts.URL+"/") || !strings.Contains(r.Message, r.UserCode) {
		t.Fatalf("device code result %+v", r)
	}
	// MSAL polls (authorization_pending, then slow_down) while the user,
	// in a browser elsewhere, enters the code, then email and password.
	type result struct {
		res public.AuthResult
		err error
	}
	polled := make(chan result, 1)
	go func() {
		res, err := dc.AuthenticationResult(ctx)
		polled <- result{res, err}
	}()
	time.Sleep(300 * time.Millisecond)
	resp, err := m.ts.Client().PostForm(r.VerificationURL, url.Values{"code": {r.UserCode}, "login": {"bob@demo.local"}, "passwd": {"demo-bob"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "You may now close this window.") {
		t.Fatalf("verification: %s", page)
	}
	got := <-polled
	res, err := got.res, got.err
	if err != nil {
		t.Fatalf("device code AuthenticationResult: %v", err)
	}
	if res.Account.PreferredUsername != "bob@demo.local" {
		t.Fatalf("account %+v", res.Account)
	}

	silent, err := m.app.AcquireTokenSilent(ctx, m.scopes, public.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatalf("AcquireTokenSilent: %v", err)
	}
	if silent.AccessToken == "" || silent.AccessToken == res.AccessToken {
		t.Fatal("AcquireTokenSilent did not refresh the stale access token")
	}
	id, _ := m.srv.UserID("bob@demo.local")
	if got := m.whoAmI(t, silent.AccessToken); got != id {
		t.Fatalf("WhoAmI %s, want %s", got, id)
	}
	// Twice, so the rotated refresh token MSAL cached is the one used.
	again, err := m.app.AcquireTokenSilent(ctx, m.scopes, public.WithSilentAccount(res.Account))
	if err != nil || again.AccessToken == silent.AccessToken {
		t.Fatalf("second AcquireTokenSilent: %v", err)
	}
	accounts, err := m.app.Accounts(ctx)
	if err != nil || len(accounts) != 1 {
		t.Fatalf("accounts %v %v", accounts, err)
	}
}

var (
	msalHidden = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	msalAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
)

// formOf returns the action and hidden fields of a page's form.
func formOf(body string) (string, url.Values) {
	v := url.Values{}
	for _, m := range msalHidden.FindAllStringSubmatch(body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	a := msalAction.FindStringSubmatch(body)
	if a == nil {
		return "", v
	}
	return html.UnescapeString(a[1]), v
}

// browser plays the user's browser for AcquireTokenInteractive: it opens
// the sign-in page, signs in, and posts the answer (form_post) to MSAL's
// loopback listener.
func (m *msalEnv) browser(login, password string) func(string) error {
	return func(authURL string) error {
		resp, err := m.ts.Client().Get(authURL)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action, form := formOf(string(body))
		if resp.StatusCode != 200 || action == "" {
			return fmt.Errorf("sign-in page: %d %s", resp.StatusCode, body)
		}
		form.Set("login", login)
		form.Set("passwd", password)
		resp, err = m.ts.Client().PostForm(m.ts.URL+action, form)
		if err != nil {
			return err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		redirect, answer := formOf(string(body))
		if !strings.HasPrefix(redirect, "http://localhost:") || answer.Get("code") == "" {
			return fmt.Errorf("form_post answer: %d %s", resp.StatusCode, body)
		}
		resp, err = http.PostForm(redirect, answer)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

func TestMSALInteractive(t *testing.T) {
	m := newMSALEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// dave must use MFA: the password grant refuses him, the browser works.
	res, err := m.app.AcquireTokenInteractive(ctx, m.scopes,
		public.WithLoginHint("dave@demo.local"), public.WithOpenURL(m.browser("dave@demo.local", "demo-dave")))
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	if res.Account.PreferredUsername != "dave@demo.local" {
		t.Fatalf("account %+v", res.Account)
	}
	id, _ := m.srv.UserID("dave@demo.local")
	if got := m.whoAmI(t, res.AccessToken); got != id {
		t.Fatalf("WhoAmI %s, want %s", got, id)
	}
	silent, err := m.app.AcquireTokenSilent(ctx, m.scopes, public.WithSilentAccount(res.Account))
	if err != nil || silent.AccessToken == res.AccessToken {
		t.Fatalf("AcquireTokenSilent after interactive: %v", err)
	}
}
