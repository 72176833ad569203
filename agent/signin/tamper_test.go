package signin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/signin/signintest"
)

// TestBrowserTamperedAnswersRefused: what a tampering browser (or an
// extension in it) can do to the authorization request and its answer is
// refused by the sign-in service and reported to the user as a refusal to
// sign in again, with the service's code kept for the log.
func TestBrowserTamperedAnswersRefused(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	thief := oauth2.GenerateVerifier()

	// deliver hands the answer in loc to the agent's listener at host.
	deliver := func(t *testing.T, host, loc string) {
		u, _ := url.Parse(loc)
		u.Host = host
		resp, err := http.Get(u.String())
		if err != nil {
			t.Errorf("deliver: %v", err)
			return
		}
		resp.Body.Close()
	}
	rewrite := func(authURL string, set map[string]string) string {
		u, _ := url.Parse(authURL)
		q := u.Query()
		for k, v := range set {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name string
		code string // the AADSTS code the service refuses with
		open func(t *testing.T) func(string) error
	}{
		{"another PKCE challenge", "AADSTS501481", func(t *testing.T) func(string) error {
			return func(authURL string) error {
				loc, err := signintest.Redirect(rewrite(authURL, map[string]string{
					"code_challenge": oauth2.S256ChallengeFromVerifier(thief)}), alice, alicePW)
				if err != nil {
					t.Error(err)
					return nil
				}
				deliver(t, redirectHost(authURL), loc)
				return nil
			}
		}},
		{"a code redeemed by someone else first", "AADSTS54005", func(t *testing.T) func(string) error {
			return func(authURL string) error {
				loc, err := signintest.Redirect(rewrite(authURL, map[string]string{
					"code_challenge": oauth2.S256ChallengeFromVerifier(thief)}), alice, alicePW)
				if err != nil {
					t.Error(err)
					return nil
				}
				u, _ := url.Parse(loc)
				resp, err := http.PostForm(l.cfg.Authority.TokenURL(), url.Values{
					"grant_type": {"authorization_code"}, "client_id": {DefaultClientID}, "code": {u.Query().Get("code")},
					"redirect_uri": {"http://" + redirectHost(authURL) + "/"}, "code_verifier": {thief},
					"scope": {l.cfg.scopes()}})
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("the thief's redemption: %v %v", err, resp.Status)
				}
				resp.Body.Close()
				deliver(t, redirectHost(authURL), loc)
				return nil
			}
		}},
		{"an answer meant for another redirect", "AADSTS500112", func(t *testing.T) func(string) error {
			return func(authURL string) error {
				loc, err := signintest.Redirect(rewrite(authURL, map[string]string{
					"redirect_uri": "http://127.0.0.1:1/"}), alice, alicePW)
				if err != nil {
					t.Error(err)
					return nil
				}
				deliver(t, redirectHost(authURL), loc)
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.cfg.Browser(context.Background(), tt.open(t), "", nil)
			var e *crm.Error
			if !errors.As(err, &e) || !errors.Is(err, crm.ErrUnauthorized) || e.Code != tt.code {
				t.Fatalf("err = %v; want a refusal with %s", err, tt.code)
			}
			if msg := e.UserMessage(); !strings.Contains(msg, "did not accept") || !strings.Contains(msg, "sign in again") {
				t.Errorf("the user is told %q", msg)
			}
			noSecrets(t, err, alicePW, alice)
		})
	}
}
