package signin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/signin/signintest"
)

func TestBrowserLocal(t *testing.T) {
	tests := []struct{ flavour, email, password string }{
		{localcrm.AuthEntra, alice, alicePW},
		{localcrm.AuthEntra, dave, davePW}, // MFA: the browser is the way in
		{localcrm.AuthADFS, alice, alicePW},
	}
	for _, tt := range tests {
		t.Run(tt.flavour+"/"+tt.email, func(t *testing.T) {
			l := startLocal(t, tt.flavour)
			var prompted Prompt
			g, err := l.cfg.Browser(context.Background(), signintest.HTTP(t, tt.email, tt.password), tt.email,
				func(p Prompt) { prompted = p })
			if err != nil {
				t.Fatal(err)
			}
			l.checkGrant(t, g, tt.email)
			if u, _ := url.Parse(prompted.URL); u == nil || u.Query().Get("login_hint") != tt.email {
				t.Errorf("prompt = %+v", prompted)
			}
			// A second sign-in reuses nothing of the first.
			g2, err := l.cfg.Browser(context.Background(), signintest.HTTP(t, tt.email, tt.password), "", nil)
			if err != nil || g2.AccessToken == g.AccessToken {
				t.Fatalf("second sign-in: %v", err)
			}
		})
	}
}

func TestBrowserLocalRefusesForeignState(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	open := func(authURL string) error {
		loc, err := signintest.Redirect(authURL, alice, alicePW)
		if err != nil {
			t.Error(err)
			return nil
		}
		u, _ := url.Parse(loc)
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
		resp, err := http.Get(u.String())
		if err != nil {
			t.Error(err)
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("forged state: HTTP %d", resp.StatusCode)
		}
		return nil
	}
	_, err := l.cfg.Browser(context.Background(), open, "", nil)
	if crm.KindOf(err) != crm.KindBadRequest || errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("err = %v, want a state mismatch", err)
	}
	noSecrets(t, err, alicePW, alice)
}

// redirectHost returns the loopback listener an authorization request names.
func redirectHost(authURL string) string {
	u, _ := url.Parse(authURL)
	r, _ := url.Parse(u.Query().Get("redirect_uri"))
	return r.Host
}

func TestBrowserLocalCancelAndTimeout(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	var listeners []string
	// The user looks at the sign-in page and does nothing more.
	look := func(authURL string) error {
		listeners = append(listeners, redirectHost(authURL))
		resp, err := http.Get(authURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := l.cfg.Browser(ctx, look, "", nil)
	if !errors.Is(err, ErrCanceled) || crm.IsTemporary(err) {
		t.Errorf("cancel: %v, want ErrCanceled", err)
	}

	c := l.cfg
	c.SignInTimeout = 100 * time.Millisecond
	_, err = c.Browser(context.Background(), look, "", nil)
	if !errors.Is(err, ErrTimedOut) || crm.IsTemporary(err) {
		t.Errorf("timeout: %v, want ErrTimedOut", err)
	}

	// The user cancels on the sign-in page.
	_, err = l.cfg.Browser(context.Background(), func(authURL string) error {
		listeners = append(listeners, redirectHost(authURL))
		u, _ := url.Parse(authURL)
		form := u.Query()
		form.Set("cancel", "Cancel")
		u.RawQuery = ""
		resp, err := http.PostForm(u.String(), form)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}, "", nil)
	if !errors.Is(err, ErrCanceled) {
		t.Errorf("cancel on the page: %v, want ErrCanceled", err)
	}

	for _, a := range listeners {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("listener %s still open", a)
		}
	}
}

// approve returns a device code prompt that signs in on the code page.
func approve(t *testing.T, email, password string) func(Prompt) {
	return func(p Prompt) {
		if p.UserCode == "" || p.URL == "" || p.Message == "" || p.Expires.IsZero() {
			t.Errorf("prompt = %+v", p)
		}
		if err := signintest.HTTPDeviceCode(t, p.URL, p.UserCode, email, password); err != nil {
			t.Error(err)
		}
	}
}

func TestDeviceCodeLocal(t *testing.T) {
	tests := []struct{ flavour, email, password string }{
		{localcrm.AuthEntra, alice, alicePW},
		{localcrm.AuthEntra, dave, davePW},
		{localcrm.AuthADFS, alice, alicePW},
	}
	for _, tt := range tests {
		t.Run(tt.flavour+"/"+tt.email, func(t *testing.T) {
			l := startLocal(t, tt.flavour)
			g, err := l.cfg.DeviceCode(context.Background(), approve(t, tt.email, tt.password))
			if err != nil {
				t.Fatal(err)
			}
			l.checkGrant(t, g, tt.email)
		})
	}
}

func TestDeviceCodeLocalDeclinedExpiredCanceled(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	_, err := l.cfg.DeviceCode(context.Background(), func(p Prompt) {
		if err := signintest.HTTPDeclineDeviceCode(t, p.URL, p.UserCode); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(err, ErrCanceled) || crm.UserMessage(err) == "" {
		t.Errorf("declined: %v, want ErrCanceled", err)
	}

	// The server's clock passes the code's expiry: expired_token.
	c := l.cfg
	c.Now = time.Now
	_, err = c.DeviceCode(context.Background(), func(Prompt) { l.clock.Advance(16 * time.Minute) })
	if !errors.Is(err, ErrTimedOut) || crm.IsTemporary(err) {
		t.Errorf("expired at the server: %v, want ErrTimedOut", err)
	}
	// Our own clock passes it first: no poll is needed to know.
	_, err = l.cfg.DeviceCode(context.Background(), func(Prompt) { l.clock.Advance(16 * time.Minute) })
	if !errors.Is(err, ErrTimedOut) {
		t.Errorf("expired here: %v, want ErrTimedOut", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = l.cfg.DeviceCode(ctx, func(Prompt) { cancel() })
	if !errors.Is(err, ErrCanceled) {
		t.Errorf("canceled: %v, want ErrCanceled", err)
	}
}

func TestBrowserChromium(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	start := time.Now()
	g, err := l.cfg.Browser(context.Background(), signintest.Chromium(t, alice, alicePW), alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.checkGrant(t, g, alice)
	t.Logf("browser sign-in with Chromium took %v", time.Since(start).Round(time.Millisecond))
}

func TestDeviceCodeChromium(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	g, err := l.cfg.DeviceCode(context.Background(), func(p Prompt) {
		if err := signintest.ChromiumDeviceCode(t, p.URL, p.UserCode, dave, davePW); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	l.checkGrant(t, g, dave)
}
