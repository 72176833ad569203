package signin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm"
)

func TestRefusal(t *testing.T) {
	tests := []struct {
		name     string
		o        oauthError
		code     string
		kind     crm.Kind
		sentinel error
	}{
		{"mfa by error_codes", oauthError{Error: "invalid_grant", Description: "AADSTS50076: Due to a configuration change...", Codes: []int{50076}},
			"AADSTS50076", crm.KindUnauthorized, ErrInteractionRequired},
		{"mfa by description only", oauthError{Error: "invalid_grant", Description: "AADSTS50079: The user is required to enroll..."},
			"AADSTS50079", crm.KindUnauthorized, ErrInteractionRequired},
		{"external challenge", oauthError{Error: "invalid_grant", Codes: []int{50158}}, "AADSTS50158", crm.KindUnauthorized, ErrInteractionRequired},
		{"interaction_required", oauthError{Error: "interaction_required"}, "interaction_required", crm.KindUnauthorized, ErrInteractionRequired},
		{"consent_required", oauthError{Error: "consent_required"}, "consent_required", crm.KindUnauthorized, ErrInteractionRequired},
		{"unknown client", oauthError{Error: "unauthorized_client", Description: "AADSTS700016: Application with identifier 'x' was not found", Codes: []int{700016}},
			"AADSTS700016", crm.KindBadRequest, ErrUnknownClient},
		{"wrong password", oauthError{Error: "invalid_grant", Codes: []int{50126}}, "AADSTS50126", crm.KindUnauthorized, nil},
		{"revoked refresh token", oauthError{Error: "invalid_grant", Description: "AADSTS50173: The provided grant has expired due to it being revoked"},
			"AADSTS50173", crm.KindUnauthorized, nil},
		{"ad fs code", oauthError{Error: "invalid_grant", Description: "MSIS9683: Received invalid OAuth authorization code."},
			"MSIS9683", crm.KindUnauthorized, nil},
		{"declined", oauthError{Error: "authorization_declined"}, "authorization_declined", crm.KindUnauthorized, ErrCanceled},
		{"expired device code", oauthError{Error: "expired_token", Codes: []int{70019}}, "AADSTS70019", crm.KindUnauthorized, ErrTimedOut},
		{"bad verification code", oauthError{Error: "bad_verification_code"}, "bad_verification_code", crm.KindBadRequest, nil},
		{"public client flows off", oauthError{Error: "invalid_client", Codes: []int{7000218}}, "AADSTS7000218", crm.KindBadRequest, nil},
		{"temporarily unavailable", oauthError{Error: "temporarily_unavailable"}, "temporarily_unavailable", crm.KindUnavailable, nil},
		{"something new", oauthError{Error: "invalid_request", Codes: []int{90014}}, "AADSTS90014", crm.KindBadRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := refusal("op", 400, &tt.o, "bad grant.")
			if e.Code != tt.code || e.Kind != tt.kind {
				t.Errorf("code %q kind %v, want %q %v", e.Code, e.Kind, tt.code, tt.kind)
			}
			if tt.sentinel != nil && !errors.Is(e, tt.sentinel) {
				t.Errorf("%v is not %v", e, tt.sentinel)
			}
			if tt.kind == crm.KindUnauthorized && !errors.Is(e, crm.ErrUnauthorized) {
				t.Errorf("%v is not crm.ErrUnauthorized", e)
			}
			if e.Temporary() != (tt.kind == crm.KindUnavailable) {
				t.Errorf("Temporary() = %v", e.Temporary())
			}
			if !strings.HasSuffix(e.Message, ".") || strings.Contains(e.Message, "configuration change") {
				t.Errorf("message %q: want our own sentence", e.Message)
			}
		})
	}
	if e := refusal("op", 400, &oauthError{Error: "interaction_required"}, ""); e.Message != msgInteraction {
		t.Errorf("interaction message = %q", e.Message)
	}
}

// jwt builds an unsigned token with the given claims, as the tests need
// only its payload.
func jwt(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".sig"
}

// canned serves fixed answers, to test how answers are read.
func canned(t *testing.T, status int, header http.Header, body string) Config {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	return Config{Authority: Authority{Kind: Entra, URL: ts.URL + "/t", TenantID: "t", Resource: "https://crm.test"},
		ClientID: "client", Now: func() time.Time { return now }}
}

func TestGrantParsing(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	id := jwt(map[string]any{"aud": "client", "preferred_username": "ann@example.com", "oid": "o-1", "tid": "t-1"})
	tests := []struct {
		name string
		body string
		want Grant
	}{
		{"number", `{"access_token":"A","refresh_token":"R","expires_in":3599,"id_token":"` + id + `"}`,
			Grant{"A", "R", t0.Add(3599 * time.Second), Account{"ann@example.com", "o-1", "t-1"}}},
		{"string expiry, upn", `{"access_token":"A","expires_in":"60","id_token":"` + jwt(map[string]any{"aud": []string{"x", "client"}, "upn": "bo@example.com"}) + `"}`,
			Grant{"A", "", t0.Add(time.Minute), Account{Username: "bo@example.com"}}},
		{"foreign id_token ignored, client_info used", `{"access_token":"A","id_token":"` + jwt(map[string]any{"aud": "other", "upn": "x@example.com"}) +
			`","client_info":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"u","utid":"ut"}`)) + `"}`,
			Grant{"A", "", time.Time{}, Account{ObjectID: "u", TenantID: "ut"}}},
		{"broken id_token", `{"access_token":"A","id_token":"a.%%%.c"}`, Grant{AccessToken: "A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := canned(t, 200, nil, tt.body)
			g, err := c.Refresh(context.Background(), "old")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want.RefreshToken == "" {
				want.RefreshToken = "old" // kept when none was issued
			}
			if *g != want {
				t.Errorf("got %+v, want %+v", *g, want)
			}
		})
	}
}

func TestAnswerClassification(t *testing.T) {
	secret := "SECRET-BODY-abc"
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		kind   crm.Kind
		retry  time.Duration
	}{
		{"html page from a proxy", 200, http.Header{"Content-Type": {"text/html"}}, "<html>" + secret + "</html>", crm.KindBadResponse, 0},
		{"json without token", 200, nil, `{"token_type":"Bearer","note":"` + secret + `"}`, crm.KindBadResponse, 0},
		{"html error page", 400, nil, "<html>" + secret, crm.KindBadResponse, 0},
		{"bad gateway", 502, nil, "<html>" + secret, crm.KindUnavailable, 0},
		{"internal error with oauth body", 500, nil, `{"error":"server_error","error_description":"` + secret + `"}`, crm.KindServer, 0},
		{"throttled", 429, http.Header{"Retry-After": {"7"}}, `{"error":"temporarily_unavailable"}`, crm.KindThrottled, 7 * time.Second},
		{"too large", 200, nil, `{"access_token":"` + strings.Repeat("x", maxBody) + `"}`, crm.KindBadResponse, 0},
		{"revoked", 400, nil, `{"error":"invalid_grant","error_description":"AADSTS70000: ` + secret + `","error_codes":[70000]}`, crm.KindUnauthorized, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := canned(t, tt.status, tt.header, tt.body)
			_, err := c.Refresh(context.Background(), "refresh-token-value")
			var e *crm.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.RetryAfter != tt.retry {
				t.Fatalf("err = %#v, want kind %v retry %v", err, tt.kind, tt.retry)
			}
			if e.Temporary() != (tt.kind == crm.KindUnavailable || tt.kind == crm.KindServer || tt.kind == crm.KindThrottled) {
				t.Errorf("Temporary() = %v", e.Temporary())
			}
			for _, s := range []string{secret, "refresh-token-value", "127.0.0.1"} {
				if strings.Contains(err.Error(), s) || strings.Contains(e.UserMessage(), s) {
					t.Errorf("error quotes %q: %v", s, err)
				}
			}
		})
	}
}

func TestNetworkFailureIsTemporary(t *testing.T) {
	c := canned(t, 200, nil, `{}`)
	ts := httptest.NewServer(http.NotFoundHandler())
	addr := ts.URL
	ts.Close() // nothing listens there now
	c.TokenURL = addr + "/token"
	_, err := c.Refresh(context.Background(), "refresh-token-value")
	if crm.KindOf(err) != crm.KindNetwork || !crm.IsTemporary(err) || errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("err = %v (kind %v), want a temporary network error", err, crm.KindOf(err))
	}
	if strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error names the address: %v", err)
	}
}

func TestTokenEndpointMustBeHTTPS(t *testing.T) {
	c := Config{Authority: Authority{Kind: Entra, URL: "http://login.example.com/t", Resource: "https://crm.test"}}
	_, err := c.Password(context.Background(), "ann@example.com", "pw")
	if !errors.Is(err, crm.ErrInsecureURL) {
		t.Fatalf("err = %v, want ErrInsecureURL", err)
	}
}

func TestRequestsCarryTheFlavoursParameters(t *testing.T) {
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = append(got, r.URL.Path+" scope="+r.PostForm.Get("scope")+" resource="+r.PostForm.Get("resource")+" client_info="+r.PostForm.Get("client_info"))
		_, _ = w.Write([]byte(`{"access_token":"A"}`))
	}))
	defer ts.Close()
	entra := Config{Authority: Authority{Kind: Entra, URL: ts.URL + "/t", TenantID: "t", Resource: "https://crm.test"}}
	adfs := Config{Authority: Authority{Kind: ADFS, URL: ts.URL + "/adfs", Resource: "https://crm.test"}}
	for _, c := range []Config{entra, adfs} {
		if _, err := c.Refresh(context.Background(), "r"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"/t/oauth2/v2.0/token scope=https://crm.test/user_impersonation offline_access openid profile resource= client_info=1",
		"/adfs/oauth2/token scope=openid profile offline_access resource=https://crm.test client_info=",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
