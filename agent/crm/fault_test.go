package crm

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

// fail answers API requests (not the token endpoint) with status, headers
// and body, count times.
func fail(f *fixture, count int, status int, header map[string]string, body string) {
	left := count
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/token") || left == 0 {
			return false
		}
		left--
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
		return true
	})
}

const odataJSON = "application/json; odata.metadata=minimal"

func TestErrorClasses(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxRetries = -1 })
	ctx := ctxT(t)
	jsonErr := func(msg string) string { return `{"error":{"code":"0x80040220","message":"` + msg + `"}}` }
	tests := []struct {
		status    int
		header    map[string]string
		body      string
		kind      Kind
		sentinel  error
		temporary bool
		retry     time.Duration
		msg       string
	}{
		{403, map[string]string{"Content-Type": odataJSON}, jsonErr("Principal user is missing prvDeleteActivity privilege"), KindForbidden, ErrForbidden, false, 0, "missing prvDeleteActivity"},
		{404, map[string]string{"Content-Type": odataJSON}, jsonErr("email With Id = x Does Not Exist"), KindNotFound, ErrNotFound, false, 0, "Does Not Exist"},
		{412, map[string]string{"Content-Type": odataJSON}, jsonErr("The version of the existing record doesn't match"), KindConflict, ErrConflict, false, 0, "version"},
		{429, map[string]string{"Content-Type": odataJSON, "Retry-After": "7"}, jsonErr("Number of requests exceeded the limit"), KindThrottled, ErrThrottled, true, 7 * time.Second, "exceeded"},
		{503, map[string]string{"Retry-After": "3"}, "", KindUnavailable, ErrUnavailable, true, 3 * time.Second, "Service Unavailable"},
		{500, map[string]string{"Content-Type": "text/html"}, "<html><body>Internal error</body></html>", KindServer, nil, true, 0, "text/html"},
		{400, map[string]string{"Content-Type": odataJSON}, jsonErr("Could not find a property named 'x'"), KindBadRequest, nil, false, 0, "property named"},
	}
	for _, tt := range tests {
		fail(f, 1, tt.status, tt.header, tt.body)
		_, err := c.WhoAmI(ctx)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("HTTP %d: %v is not a *crm.Error", tt.status, err)
		}
		if e.Kind != tt.kind || e.Status != tt.status || e.Temporary() != tt.temporary || e.RetryAfter != tt.retry {
			t.Errorf("HTTP %d: kind %v status %d temporary %v retry %v; want %v %d %v %v", tt.status, e.Kind, e.Status, e.Temporary(), e.RetryAfter, tt.kind, tt.status, tt.temporary, tt.retry)
		}
		if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
			t.Errorf("HTTP %d: errors.Is(%v) fails", tt.status, tt.sentinel)
		}
		if !strings.Contains(e.Error(), tt.msg) || e.UserMessage() == "" {
			t.Errorf("HTTP %d: error %q should carry %q and a user message", tt.status, e.Error(), tt.msg)
		}
		if got, ok := RetryAfter(err); ok != (tt.retry > 0) || got != tt.retry {
			t.Errorf("HTTP %d: RetryAfter = %v %v", tt.status, got, ok)
		}
		// The Retry-After gate is tested on its own below.
		c.mu.Lock()
		c.notBefore = time.Time{}
		c.mu.Unlock()
	}
	f.setOverride(nil)

	// No server at all: a transient network error.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	dc, err := New(Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	err = dc.SignIn(ctx, "alice@demo.local", "demo-alice")
	if !errors.Is(err, ErrNetwork) || !IsTemporary(err) {
		t.Errorf("unreachable CRM: %v; want a temporary network error", err)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t, localcrm.Options{RateLimit: 3, RateWindow: 2 * time.Second})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxRetries = 5; c.MaxRetryWait = 10 * time.Second })
	ctx := ctxT(t)
	for i := range 6 {
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatalf("WhoAmI %d through throttling: %v", i, err)
		}
	}
	var throttledAt time.Time
	var retryAfter time.Duration
	saw429 := false
	for _, h := range f.hits() {
		if strings.HasSuffix(h.path, "/token") {
			continue
		}
		if h.status == 429 {
			saw429 = true
			throttledAt = h.at
			retryAfter = time.Second // the local CRM never answers less than 1 s
			continue
		}
		if !throttledAt.IsZero() {
			if gap := h.at.Sub(throttledAt); gap < retryAfter-50*time.Millisecond {
				t.Errorf("request %v after a 429 came %v later, before Retry-After", h, gap)
			}
			throttledAt = time.Time{}
		}
	}
	if !saw429 {
		t.Fatal("the budget of 3 requests per 2 s was never exceeded; the test proves nothing")
	}

	// A Retry-After longer than the client waits in place goes back to the
	// caller, and no request leaves before it elapses.
	fail(f, 1, 429, map[string]string{"Retry-After": "60", "Content-Type": odataJSON}, `{"error":{"code":"0x80072322","message":"busy"}}`)
	_, err := c.WhoAmI(ctx)
	if d, ok := RetryAfter(err); !errors.Is(err, ErrThrottled) || !ok || d != 60*time.Second {
		t.Fatalf("long Retry-After: %v (%v)", err, d)
	}
	if nb := c.NotBefore(); time.Until(nb) < 55*time.Second {
		t.Errorf("NotBefore = %v, want about a minute from now", nb)
	}
	n := len(f.hits())
	short, cancel := ctxWithTimeout(t, 200*time.Millisecond)
	defer cancel()
	if _, err := c.WhoAmI(short); err == nil {
		t.Error("a call during Retry-After succeeded")
	}
	if len(f.hits()) != n {
		t.Error("a request left during Retry-After")
	}
}

func TestTokenExpiryRefreshedTransparently(t *testing.T) {
	f := newFixture(t, localcrm.Options{TokenTTL: time.Hour})
	c := f.alice()
	ctx := ctxT(t)
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	grants := f.tokens.Load()
	// The server's clock moves past the token's life while ours does not:
	// the first 401 makes the client refresh and retry, unseen by the caller.
	f.clock.Advance(2 * time.Hour)
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatalf("WhoAmI after expiry: %v", err)
	}
	if got := f.tokens.Load() - grants; got != 1 {
		t.Errorf("token endpoint called %d times for the refresh, want 1", got)
	}
	// Password changed on the server: refresh is refused, sign in again.
	if err := f.crm.SetPassword("alice@demo.local", "a-new-password"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	_, err := c.WhoAmI(ctx)
	if !errors.Is(err, ErrUnauthorized) || IsTemporary(err) {
		t.Fatalf("after password change: %v; want permanent ErrUnauthorized", err)
	}
	if err := c.SignIn(ctx, "alice@demo.local", "a-new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Errorf("after signing in again: %v", err)
	}
}

func TestMalformedAnswers(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxRetries = -1 })
	ctx := ctxT(t)
	tests := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"truncated JSON", odataJSON, `{"UserId":"d96e9f55-`, 200, "malformed or truncated"},
		{"HTML sign-in page", "text/html; charset=utf-8", "<!DOCTYPE html><html><title>Sign in</title></html>", 200, "answered with text/html"},
		{"wrong content type", "text/plain", `{"UserId":"d96e9f55-0000-0000-0000-000000000000"}`, 200, "answered with text/plain"},
		{"garbage", odataJSON, "\x00\xff\xfe garbage", 200, "not valid UTF-8"},
		{"JSON without the field", odataJSON, `{"hello":"world"}`, 200, "no valid UserId"},
		{"JSON of the wrong shape", odataJSON, `[1,2,3]`, 200, "malformed"},
		{"empty 200", odataJSON, ``, 200, "malformed"},
		{"proxy HTML error", "text/html", "<html>502 Bad Gateway</html>", 502, "text/html"},
	}
	for _, tt := range tests {
		fail(f, 1, tt.status, map[string]string{"Content-Type": tt.ctype}, tt.body)
		_, err := c.WhoAmI(ctx)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error saying %q", tt.name, err, tt.want)
		}
		c.mu.Lock()
		c.notBefore = time.Time{}
		c.mu.Unlock()
	}
	// A collection whose nextLink points at another server: the token stays home.
	fail(f, 1, 200, map[string]string{"Content-Type": odataJSON},
		`{"value":[],"@odata.nextLink":"https://evil.example/api/data/v9.2/emails?$skiptoken=1"}`)
	_, err := c.OwnedActivities(ctx, "00000000-0000-0000-0000-000000000001", 10)
	if err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("foreign nextLink: %v; want refusal", err)
	}
	// Garbage from the token endpoint.
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>proxy login</html>"))
		return true
	})
	c2, _ := New(Config{URL: f.ts.URL})
	if err := c2.SignIn(ctx, "alice@demo.local", "demo-alice"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("HTML from the token endpoint: %v; want ErrBadResponse", err)
	}
	f.setOverride(nil)
}

func TestTLS(t *testing.T) {
	crm, err := localcrm.New(localcrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer crm.Close()
	if err := crm.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(crm)
	defer ts.Close()
	ctx := ctxT(t)

	c, err := New(Config{URL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = c.SignIn(ctx, "alice@demo.local", "demo-alice")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTLS || !strings.Contains(e.UserMessage(), "certificate") || IsTemporary(err) {
		t.Fatalf("untrusted certificate: %v; want a clear TLS refusal", err)
	}

	bundle := filepath.Join(t.TempDir(), "ca.pem")
	cert := ts.Certificate()
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(cert.Raw); err != nil {
		t.Fatal(err)
	}
	c, err = New(Config{URL: ts.URL, CABundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignIn(ctx, "alice@demo.local", "demo-alice"); err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatalf("WhoAmI over TLS: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := New(Config{URL: ts.URL, CABundle: bad}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad CA bundle: %v", err)
	}
}

func ctxWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(context.Background(), d)
}
