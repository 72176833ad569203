package signin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm"
)

// offline is a Config whose service is never reached: these tests end
// before the code would be redeemed.
func offline() Config {
	return Config{Authority: Authority{Kind: Entra, URL: "http://127.0.0.1:9/t", TenantID: "t", Resource: "http://127.0.0.1:9"}}
}

// answerWith returns an opener that plays the service: it reads the
// request and sends the browser back with query built from it.
func answerWith(t *testing.T, query func(req url.Values) url.Values, page *string) func(string) error {
	return func(authURL string) error {
		u, err := url.Parse(authURL)
		if err != nil {
			return err
		}
		req := u.Query()
		resp, err := http.Get(req.Get("redirect_uri") + "?" + query(req).Encode())
		if err != nil {
			t.Errorf("redirect: %v", err)
			return nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if page != nil {
			*page = string(b)
		}
		return nil
	}
}

func TestBrowserRequest(t *testing.T) {
	var seen url.Values
	var prompted Prompt
	c := offline()
	open := answerWith(t, func(req url.Values) url.Values {
		seen = req
		return url.Values{"error": {"access_denied"}, "state": {req.Get("state")}}
	}, nil)
	_, err := c.Browser(context.Background(), open, "ann@example.com", func(p Prompt) { prompted = p })
	if !errors.Is(err, ErrCanceled) {
		t.Fatalf("err = %v, want ErrCanceled", err)
	}
	if !strings.HasPrefix(prompted.URL, "http://127.0.0.1:9/t/oauth2/v2.0/authorize?") || prompted.Message == "" {
		t.Errorf("prompt = %+v", prompted)
	}
	for k, want := range map[string]string{
		"client_id": DefaultClientID, "response_type": "code", "code_challenge_method": "S256",
		"login_hint": "ann@example.com", "scope": "http://127.0.0.1:9/user_impersonation offline_access openid profile",
	} {
		if seen.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, seen.Get(k), want)
		}
	}
	if len(seen.Get("code_challenge")) != 43 || len(seen.Get("state")) < 20 {
		t.Errorf("challenge %q state %q", seen.Get("code_challenge"), seen.Get("state"))
	}
	if r := seen.Get("redirect_uri"); !strings.HasPrefix(r, "http://localhost:") || !strings.HasSuffix(r, "/") {
		t.Errorf("redirect_uri = %q", r)
	}
	for k := range seen {
		if strings.Contains(k, "verifier") || strings.Contains(k, "password") {
			t.Errorf("the browser address carries %s", k)
		}
	}
}

func TestBrowserRefusesForeignState(t *testing.T) {
	var page string
	open := answerWith(t, func(url.Values) url.Values {
		return url.Values{"code": {"stolen-code"}, "state": {"not-ours"}}
	}, &page)
	_, err := offline().Browser(context.Background(), open, "", nil)
	if crm.KindOf(err) != crm.KindBadRequest || !strings.Contains(err.Error(), "state mismatch") {
		t.Fatalf("err = %v, want a state mismatch", err)
	}
	if !strings.Contains(page, "does not belong") || strings.Contains(page, "stolen-code") {
		t.Errorf("page = %q", page)
	}
}

func TestBrowserErrorPageEscapes(t *testing.T) {
	var page string
	open := answerWith(t, func(req url.Values) url.Values {
		return url.Values{"error": {"invalid_request"}, "state": {req.Get("state")},
			"error_description": {"AADSTS90014: <script>alert(1)</script> is missing. Trace ID: x"}}
	}, &page)
	_, err := offline().Browser(context.Background(), open, "", nil)
	var e *crm.Error
	if !errors.As(err, &e) || e.Code != "AADSTS90014" || e.Kind != crm.KindBadRequest {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") || strings.Contains(page, "Trace ID") {
		t.Errorf("page = %q", page)
	}
}

func TestBrowserCancelTimeoutAndNoBrowser(t *testing.T) {
	before := runtime.NumGoroutine()
	var addrs []string
	remember := func(authURL string) {
		u, _ := url.Parse(authURL)
		r, _ := url.Parse(u.Query().Get("redirect_uri"))
		addrs = append(addrs, r.Host)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err := offline().Browser(ctx, func(u string) error { remember(u); cancel(); return nil }, "", nil)
	if !errors.Is(err, ErrCanceled) || crm.IsTemporary(err) {
		t.Errorf("cancel: err = %v, want ErrCanceled", err)
	}

	c := offline()
	c.SignInTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err = c.Browser(context.Background(), func(u string) error { remember(u); return nil }, "", nil)
	if !errors.Is(err, ErrTimedOut) || !errors.Is(err, crm.ErrUnauthorized) || crm.IsTemporary(err) {
		t.Errorf("timeout: err = %v, want ErrTimedOut", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}

	var prompted Prompt
	_, err = offline().Browser(context.Background(), func(u string) error { remember(u); return errors.New("no display") },
		"", func(p Prompt) { prompted = p })
	if !errors.Is(err, ErrNoBrowser) || !strings.Contains(crm.UserMessage(err), "Sign in with a code") || prompted.URL == "" {
		t.Errorf("no browser: err = %v, prompt %+v", err, prompted)
	}

	// Every listener is closed once Browser has returned...
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("listener %s still open", a)
		}
	}
	// ...and no goroutine of it is left.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}

func TestCallbackIgnoresStrangers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cb := newCallback("s", ln.Addr().String())
	srv := &http.Server{Handler: cb}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close(); cb.close() }()

	// DNS rebinding: another name for this port must not end the sign-in.
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/?code=c&state=s", nil)
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("foreign host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, path := range []string{"/favicon.ico", "/"} {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil || resp.StatusCode < 400 {
			t.Errorf("%s: %v %v", path, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	select {
	case a := <-cb.result:
		t.Fatalf("answer %+v from a stranger", a)
	default:
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/?code=c&state=s")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if a := <-cb.result; a.code != "c" || !strings.Contains(string(b), "You can close this tab") {
		t.Errorf("answer %+v, page %q", a, b)
	}
}
