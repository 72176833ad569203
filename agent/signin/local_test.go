package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
)

// The demo users of the local CRM; dave must use MFA.
const (
	alice, alicePW = "alice@demo.local", "demo-alice"
	dave, davePW   = "dave@demo.local", "demo-dave"
)

// clock is real time plus an offset a test may advance: the local CRM's
// polling limits need time to pass, the expiry tests need it to jump.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// local is a seeded local CRM on a loopback port, and a Config for it
// found by Discover.
type local struct {
	srv   *localcrm.Server
	ts    *httptest.Server
	clock *clock
	cfg   Config
}

// startLocal starts the local CRM as flavour (localcrm.AuthEntra or
// localcrm.AuthADFS) and discovers its sign-in service.
func startLocal(t *testing.T, flavour string, tweak ...func(*localcrm.Options)) *local {
	t.Helper()
	clk := &clock{}
	opts := localcrm.Options{PasswordIterations: 1000, Auth: flavour, Now: clk.Now, DeviceCodeInterval: time.Second}
	for _, f := range tweak {
		f(&opts)
	}
	srv, err := localcrm.New(opts)
	if err != nil {
		t.Fatalf("localcrm.New: %v", err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	ts := httptest.NewServer(srv)
	l := &local{srv: srv, ts: ts, clock: clk}
	t.Cleanup(func() {
		l.ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	a, err := Discover(context.Background(), hc, ts.URL)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	l.cfg = Config{Authority: a, HTTPClient: hc, Now: clk.Now}
	return l
}

// restart serves the same CRM again on the same address, after ts.Close.
func (l *local) restart(t *testing.T) {
	t.Helper()
	addr := strings.TrimPrefix(l.ts.URL, "http://")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	l.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: l.srv}}
	l.ts.Start()
}

// whoAmI asks the CRM who the token belongs to.
func (l *local) whoAmI(t *testing.T, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", l.ts.URL+"/api/data/v9.2/WhoAmI()", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("WhoAmI: HTTP %d", resp.StatusCode)
	}
	var who struct{ UserId string }
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	return who.UserId
}

// checkGrant checks that g is email's and works at the CRM.
func (l *local) checkGrant(t *testing.T, g *Grant, email string) {
	t.Helper()
	id, err := l.srv.UserID(email)
	if err != nil {
		t.Fatal(err)
	}
	if g.AccessToken == "" || g.RefreshToken == "" || !g.Expiry.After(l.clock.Now()) {
		t.Errorf("grant: access %t refresh %t expiry %v", g.AccessToken != "", g.RefreshToken != "", g.Expiry)
	}
	if g.Account.Username != email {
		t.Errorf("account = %+v, want %s", g.Account, email)
	}
	if l.cfg.Authority.Kind == Entra && (g.Account.ObjectID != id || g.Account.TenantID != localcrm.TenantID) {
		t.Errorf("account = %+v, want object %s tenant %s", g.Account, id, localcrm.TenantID)
	}
	if got := l.whoAmI(t, g.AccessToken); got != id {
		t.Errorf("WhoAmI = %s, want %s", got, id)
	}
}

// noSecrets fails if err's text or user message holds any of secrets.
func noSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(err.Error(), s) || strings.Contains(crm.UserMessage(err), s) {
			t.Errorf("error holds a secret or address: %v", err)
		}
	}
}

func TestDiscoverLocalCRM(t *testing.T) {
	entra := startLocal(t, localcrm.AuthEntra)
	want := Authority{Entra, entra.ts.URL + "/" + localcrm.TenantID, localcrm.TenantID, entra.ts.URL}
	if entra.cfg.Authority != want {
		t.Errorf("entra: %+v, want %+v", entra.cfg.Authority, want)
	}
	adfs := startLocal(t, localcrm.AuthADFS)
	want = Authority{ADFS, adfs.ts.URL + "/adfs", "", adfs.ts.URL}
	if adfs.cfg.Authority != want {
		t.Errorf("adfs: %+v, want %+v", adfs.cfg.Authority, want)
	}

	// An address that is not a CRM: the sign-in page itself answers 200.
	_, err := Discover(context.Background(), nil, entra.ts.URL+"/"+localcrm.TenantID+"/v2.0/.well-known/openid-configuration/api/data/v9.2/")
	if err == nil {
		t.Error("Discover of a non-CRM address succeeded")
	}
	// Nothing listening.
	ts := httptest.NewServer(http.NotFoundHandler())
	gone := ts.URL
	ts.Close()
	_, err = Discover(context.Background(), nil, gone)
	if !crm.IsTemporary(err) {
		t.Errorf("Discover of a closed port: %v, want a temporary error", err)
	}
	noSecrets(t, err, strings.TrimPrefix(gone, "http://"))
}

func TestDiscoverHonoursContext(t *testing.T) {
	// A server that never answers: the context must end the wait.
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Discover(ctx, nil, ts.URL)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Discover: %v after %v", err, time.Since(start))
	}
}

func TestPasswordLocal(t *testing.T) {
	for _, flavour := range []string{localcrm.AuthEntra, localcrm.AuthADFS} {
		t.Run(flavour, func(t *testing.T) {
			l := startLocal(t, flavour)
			g, err := l.cfg.Password(context.Background(), alice, alicePW)
			if err != nil {
				t.Fatal(err)
			}
			l.checkGrant(t, g, alice)

			_, err = l.cfg.Password(context.Background(), dave, davePW)
			var e *crm.Error
			if !errors.Is(err, ErrInteractionRequired) || !errors.Is(err, crm.ErrUnauthorized) || !errors.As(err, &e) ||
				e.Code != "AADSTS50076" || e.Message != msgInteraction {
				t.Errorf("dave: %#v, want ErrInteractionRequired AADSTS50076", err)
			}
			noSecrets(t, err, davePW, dave)

			_, err = l.cfg.Password(context.Background(), alice, "wrong-password")
			if crm.KindOf(err) != crm.KindUnauthorized || errors.Is(err, ErrInteractionRequired) {
				t.Errorf("wrong password: %v", err)
			}
			noSecrets(t, err, "wrong-password", alice)
		})
	}
}

func TestUnknownClientLocal(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	c := l.cfg
	c.ClientID = "0b6e7a2c-0000-4000-8000-000000000000"
	_, err := c.Password(context.Background(), alice, alicePW)
	if !errors.Is(err, ErrUnknownClient) || crm.KindOf(err) != crm.KindBadRequest || !strings.Contains(crm.UserMessage(err), "--client-id") {
		t.Errorf("password: %v", err)
	}
	_, err = c.DeviceCode(context.Background(), func(Prompt) { t.Error("prompted for an unknown client") })
	if !errors.Is(err, ErrUnknownClient) {
		t.Errorf("device code: %v", err)
	}
	noSecrets(t, err, c.ClientID)
}
