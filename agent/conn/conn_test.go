package conn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/sched"
)

// outage serves the local CRM on a fixed loopback port that can really go
// away and come back, so an outage is a refused connection, not a fake.
type outage struct {
	t    *testing.T
	crm  *localcrm.Server
	addr string
	srv  *http.Server
}

func newOutage(t *testing.T) *outage {
	crmSrv, err := localcrm.New(localcrm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := crmSrv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	o := &outage{t: t, crm: crmSrv}
	o.up()
	t.Cleanup(func() { o.down(); crmSrv.Close() })
	return o
}

func (o *outage) up() {
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		o.t.Fatalf("listen %s: %v", addr, err)
	}
	o.addr = ln.Addr().String()
	o.srv = &http.Server{Handler: o.crm}
	go o.srv.Serve(ln)
}

func (o *outage) down() {
	if o.srv != nil {
		o.srv.Close()
		o.srv = nil
	}
}

func (o *outage) url() string { return "http://" + o.addr }

// passwordSession signs in with the password grant at the local CRM's
// token endpoint, as a tool with a known endpoint does.
type passwordSession struct{ *crm.HTTPClient }

func (p passwordSession) SignIn(ctx context.Context, c agent.Credentials) error {
	return p.HTTPClient.SignIn(ctx, c.Username, c.Secret)
}

// recorder collects the states the supervisor publishes.
type recorder chan Status

func (r recorder) ConnStatus(s Status) { r <- s }

// expect reads the next published states and compares them in order.
func (r recorder) expect(t *testing.T, want ...agent.State) Status {
	t.Helper()
	var last Status
	for i, w := range want {
		select {
		case s := <-r:
			if s.State != w {
				t.Fatalf("state %d: got %v (err %v), want %v (sequence %v)", i, s.State, s.Err, w, want)
			}
			last = s
		case <-time.After(10 * time.Second):
			t.Fatalf("state %d: nothing published within 10 s, want %v", i, w)
		}
	}
	return last
}

// quiet asserts nothing more is published for a while.
func (r recorder) quiet(t *testing.T) {
	t.Helper()
	select {
	case s := <-r:
		t.Fatalf("unexpected state %v (err %v)", s.State, s.Err)
	case <-time.After(100 * time.Millisecond):
	}
}

// waitTimer waits until the supervisor has armed a timer on the fake clock.
func waitTimer(t *testing.T, c *sched.Fake) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer armed within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStateSequence walks the supervisor through sign-in, an outage,
// recovery, switch off and on, a 401 and a missing privilege, asserting
// the exact sequence of published states.
func TestStateSequence(t *testing.T) {
	o := newOutage(t)
	client, err := crm.New(crm.Config{URL: o.url(), MaxRetries: -1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := sched.NewFake(time.Unix(1_700_000_000, 0))
	rec := make(recorder, 64)
	s := New(Options{Session: passwordSession{client}, Clock: clock, Observer: rec, ProbeEvery: time.Minute,
		Backoff: sched.Backoff{Base: time.Second, Max: 8 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}()

	// Nothing is published until the owner says whether there are
	// credentials, so a start with a saved sign-in never shows NeedsSignIn.
	rec.quiet(t)
	alice := &agent.Credentials{CRMURL: o.url(), Username: "alice@demo.local", Secret: "demo-alice"}
	s.SetCredentials(ctx, alice)
	st := rec.expect(t, agent.StateConnecting, agent.StateOnline)
	if want, _ := o.crm.UserID("alice@demo.local"); st.UserID != strings.ToLower(want) {
		t.Errorf("online as %q, want alice %q", st.UserID, want)
	}
	rec.quiet(t)

	// Outage: the next probe finds nobody listening.
	o.down()
	waitTimer(t, clock)
	clock.Advance(time.Minute)
	st = rec.expect(t, agent.StateBackoff)
	if !errors.Is(st.Err, crm.ErrNetwork) || st.NextRetry.IsZero() {
		t.Errorf("backoff: err %v, next retry %v; want a network error and a retry time", st.Err, st.NextRetry)
	}
	// Still down: a second failure backs off again.
	waitTimer(t, clock)
	clock.Advance(8 * time.Second)
	rec.expect(t, agent.StateConnecting, agent.StateBackoff)
	// Recovery.
	o.up()
	waitTimer(t, clock)
	clock.Advance(8 * time.Second)
	rec.expect(t, agent.StateConnecting, agent.StateOnline)

	// Switch off, then on.
	s.SetEnabled(ctx, false)
	rec.expect(t, agent.StateOff)
	clock.Advance(time.Hour)
	rec.quiet(t)
	s.SetEnabled(ctx, true)
	rec.expect(t, agent.StateConnecting, agent.StateOnline)

	// The password changes on the server: the refresh and a fresh sign-in
	// are refused, so the user must sign in again.
	if err := o.crm.SetPassword("alice@demo.local", "changed-elsewhere"); err != nil {
		t.Fatal(err)
	}
	o.crm.RevokeTokens("alice@demo.local")
	waitTimer(t, clock)
	clock.Advance(time.Minute)
	st = rec.expect(t, agent.StateConnecting, agent.StateNeedsSignIn)
	if !errors.Is(st.Err, crm.ErrUnauthorized) {
		t.Errorf("needs sign-in because of %v, want ErrUnauthorized", st.Err)
	}

	// Carol's role lacks prvSyncToOutlook.
	s.SetCredentials(ctx, &agent.Credentials{CRMURL: o.url(), Username: "carol@demo.local", Secret: "demo-carol"})
	st = rec.expect(t, agent.StateConnecting, agent.StateNotPermitted)
	if !errors.Is(st.Err, ErrNotPermitted) {
		t.Errorf("not permitted because of %v", st.Err)
	}
	s.SetCredentials(ctx, nil)
	rec.expect(t, agent.StateNeedsSignIn)
}

// TestSwitchOffCancelsInFlight proves Off stops a request that hangs.
func TestSwitchOffCancelsInFlight(t *testing.T) {
	hang := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang })}
	go srv.Serve(ln)
	defer func() { close(hang); srv.Close() }()
	client, _ := crm.New(crm.Config{URL: "http://" + ln.Addr().String(), Timeout: time.Minute})
	rec := make(recorder, 16)
	s := New(Options{Session: passwordSession{client}, Observer: rec, Clock: sched.NewFake(time.Unix(0, 0))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.SetCredentials(ctx, &agent.Credentials{CRMURL: "x", Username: "a@b", Secret: "pw"})
	rec.expect(t, agent.StateConnecting)
	start := time.Now()
	s.SetEnabled(ctx, false)
	rec.expect(t, agent.StateOff)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("switching off took %v while a request hung", d)
	}
	rec.quiet(t)
}
