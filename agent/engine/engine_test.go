package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/agenttest"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
	"crmsync/agent/sched"
	"crmsync/agent/track"
)

// harness is an engine against a local CRM on loopback, a real cache file
// and a real Maildir. Every request that reaches the CRM is counted.
type harness struct {
	t        *testing.T
	crm      *localcrm.Server
	url      string
	requests atomic.Int64
	mdir     string
	dbPath   string
	secrets  *agenttest.Secrets
	settings *agenttest.Settings
	// passwords holds mail account passwords by account URL.
	passwords testPasswords
	// beforeRun, when set, sees each engine before it runs (to subscribe
	// from the very first event).
	beforeRun func(*Engine)
	// intercept, when set, sees each request first and may answer it
	// itself (returning true) instead of the local CRM.
	intercept atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, crm: srv, secrets: &agenttest.Secrets{}, passwords: testPasswords{}, settings: agenttest.NewSettings(agent.Settings{ConnectionEnabled: true})}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if f := h.intercept.Load(); f != nil && (*f)(w, r) {
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	h.url = ts.URL
	h.mdir = filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(h.mdir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	h.dbPath = filepath.Join(t.TempDir(), "cache.db")
	return h
}

// testPasswords is a keychain of mail passwords held in memory.
type testPasswords map[string]string

func (p testPasswords) MailPassword(_ context.Context, account string) (string, error) {
	if pw, ok := p[account]; ok {
		return pw, nil
	}
	return "", agent.ErrNoCredentials
}

func (p testPasswords) SaveMailPassword(_ context.Context, account, password string) error {
	p[account] = password
	return nil
}

// testWriter sends log lines to the test's log, shown when it fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// running is one engine run.
type running struct {
	*Engine
	store  *cache.Store
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) start() *running { return h.startWith(nil) }

// startWith starts an engine on clock (nil: the real one).
func (h *harness) startWith(clock sched.Clock) *running {
	h.t.Helper()
	store, err := cache.Open(h.dbPath, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.settings.Update(func(s *agent.Settings) { s.MaildirPath = h.mdir })
	e, err := New(Options{Store: store, NewMail: func(root string, folders []string) Mail {
		return maildir.New(maildir.Options{Root: root, Folders: folders, Debounce: 10 * time.Millisecond})
	}, Secrets: h.secrets, Settings: h.settings, Clock: clock, Logger: log, Passwords: h.passwords,
		// A short poll makes the IMAP source's safety net (STATUS on the
		// mailboxes in IDLE, every tenth poll) run every second: IDLE
		// does not always say that a mailbox was deleted and created
		// again, and tests cannot wait the real five minutes.
		NewIMAP:   func(o imap.Options) (Mail, error) { o.Poll = 100 * time.Millisecond; return imap.New(o) },
		NewClient: func(u string) (*crm.HTTPClient, error) { return crm.New(crm.Config{URL: u}) }})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.beforeRun != nil {
		h.beforeRun(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Engine: e, store: store, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx) }()
	h.t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		panic("engine did not stop within 10 s")
	}
	r.store.Close()
}

func (h *harness) deliver(key agent.MessageKey, from, subject, id string) {
	h.t.Helper()
	msg := fmt.Sprintf("From: %s\r\nTo: alice@demo.local\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nHello.\r\n",
		from, subject, id, time.Now().Format(time.RFC1123Z))
	tmp := filepath.Join(h.mdir, "tmp", string(key))
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.mdir, "new", string(key))); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) signIn(e *running, user, pw string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.SignIn(ctx, agent.Credentials{CRMURL: h.url, Username: user, Secret: pw}); err != nil {
		h.t.Fatalf("SignIn: %v", err)
	}
}

// inCRM counts the activities carrying messageID, as bob sees them.
func (h *harness) inCRM(messageID string) int {
	h.t.Helper()
	c, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		h.t.Fatal(err)
	}
	n := 0
	infos, err := c.OwnedActivities(ctx, mustUserID(h, "alice@demo.local"), 100)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range infos {
		if in.MessageID == messageID {
			n++
		}
	}
	return n
}

func mustUserID(h *harness, email string) string {
	id, err := h.crm.UserID(email)
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.ToLower(id)
}

// k names test message n as a delivery agent would: the delivery time
// first (now, so the message is inside the automatic tracking window).
func k(n int) agent.MessageKey {
	return agent.MessageKey(fmt.Sprintf("%d.M%dP1.t", testStart.Unix(), n))
}

// testStart is when the test binary started.
var testStart = time.Now()

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusEvents asserts the exact sequence of states subscribers see
// through sign-in, switch off, switch on and sign-out.
func TestStatusEvents(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := e.Subscribe(ctx)
	var seen []string
	next := func(want agent.State) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("subscription closed")
				}
				if ev.Status == nil {
					continue
				}
				s := ev.Status.State.String()
				if len(seen) > 0 && seen[len(seen)-1] == s {
					continue // the same state with new details
				}
				seen = append(seen, s)
				if ev.Status.State == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %v within 10 s; states so far %v", want, seen)
			}
		}
	}
	next(agent.StateNeedsSignIn)
	h.signIn(e, "alice@demo.local", "demo-alice")
	next(agent.StateOnline)
	waitFor(t, "the display name", func() bool { return e.Status().User == "Alice Martin" })
	off, on := false, true
	if _, err := e.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	next(agent.StateOff)
	if _, err := e.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	next(agent.StateOnline)
	if err := e.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	next(agent.StateNeedsSignIn)
	want := "Starting NeedsSignIn Connecting Online Off Connecting Online NeedsSignIn"
	if got := strings.Join(seen, " "); got != want && got != strings.TrimPrefix(want, "Starting ") {
		t.Errorf("states %q, want %q", got, want)
	}
	if _, err := h.secrets.Load(ctx); err != agent.ErrNoCredentials {
		t.Errorf("after sign-out the keychain holds a password (%v)", err)
	}
}

// TestSwitchOffStopsAllTraffic: while the connection is off, no request
// reaches the CRM, whatever arrives and whatever the user does; switched
// on, the queued work is done exactly once.
func TestSwitchOffStopsAllTraffic(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	ctx := context.Background()
	off, on := false, true
	if _, err := e.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "off", func() bool { return e.Status().State == agent.StateOff })
	before := h.requests.Load()
	h.deliver(k(100), "maria.campbell@contoso.example", "Contract draft", "off-1@contoso.example")
	h.deliver(k(101), "someone@unknown.example", "Hello", "off-2@unknown.example")
	waitFor(t, "the arrivals indexed", func() bool {
		_, ok1 := e.mail.Folder(k(100))
		_, ok2 := e.mail.Folder(k(101))
		return ok1 && ok2
	})
	if err := e.Track(ctx, k(101), nil); err != nil {
		t.Fatalf("Track while off: %v", err)
	}
	if st := e.Status(); st.Pending != 1 {
		t.Errorf("pending while off = %d, want the 1 queued track", st.Pending)
	}
	// Wait for what would send if anything did: the contact's message
	// decided (held back for the connection), and the outbox worker past
	// the kick of the track (its queue read while paused).
	waitFor(t, "the arrival held back for the connection", func() bool {
		var held bool
		e.do(ctx, func(l *loop) { held = l.waiting[k(100)] })
		return held
	})
	// Track kicked the worker; this second kick is taken only once the
	// read of the queue that followed the first has ended.
	e.box.Kick()
	waitFor(t, "the outbox to read its queue", func() bool { return !e.box.KickWaiting() })
	if n := h.requests.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the CRM while the connection was off", n)
	}
	if _, err := e.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both messages tracked", func() bool {
		return h.inCRM("<off-1@contoso.example>") == 1 && h.inCRM("<off-2@unknown.example>") == 1
	})
	waitFor(t, "the queue drained", func() bool { return e.Status().Pending == 0 })

	// What was sent: the decision carried headers only; the body left only
	// for the messages being tracked.
	var decision, tracked int
	for _, d := range e.Disclosures(0) {
		names := map[string]bool{}
		for _, f := range d.Fields {
			names[f.Name] = true
		}
		switch d.Purpose {
		case "tracking decision":
			decision++
			if d.BodySent || names["Body"] {
				t.Errorf("a tracking decision sent the body: %+v", d)
			}
			for n := range names {
				if n != "Message-ID" && n != "Subject" && n != "From" && n != "To" && n != "Cc" {
					t.Errorf("a tracking decision sent %s", n)
				}
			}
		case "tracked message":
			tracked++
			if !d.BodySent || !names["Body"] {
				t.Errorf("a tracked message's disclosure lacks the body: %+v", d)
			}
		}
	}
	if decision != 1 || tracked != 2 {
		t.Errorf("disclosures: %d decisions, %d tracked; want 1 (the contact's mail; the other was tracked by hand) and 2", decision, tracked)
	}
}

// TestQueuedWorkSurvivesRestart: work queued while off is done after the
// engine restarts on the same cache, once.
func TestQueuedWorkSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	ctx := context.Background()
	off := false
	if _, err := e.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "off", func() bool { return e.Status().State == agent.StateOff })
	h.deliver(k(200), "someone@unknown.example", "Keep me", "restart-1@unknown.example")
	waitFor(t, "the arrival indexed", func() bool { _, ok := e.mail.Folder(k(200)); return ok })
	if err := e.Track(ctx, k(200), nil); err != nil {
		t.Fatal(err)
	}
	e.stop()

	h.settings.Update(func(s *agent.Settings) { s.ConnectionEnabled = true })
	e2 := h.start()
	waitFor(t, "the queued track done after restart", func() bool { return h.inCRM("<restart-1@unknown.example>") == 1 })
	waitFor(t, "the queue drained", func() bool { return e2.Status().Pending == 0 })
	items, err := e2.RecentItems(ctx, 10)
	if err != nil || len(items) != 1 || items[0].Track != agent.Tracked || !items[0].OwnedByMe || items[0].Subject != "Keep me" {
		t.Fatalf("items after restart = %+v, %v", items, err)
	}
}

// TestCorruptCacheRelearnedFromCRM: a cache destroyed between runs is
// moved aside, and the tracked messages are relearned from the CRM by ID,
// without tracking anything twice.
func TestCorruptCacheRelearnedFromCRM(t *testing.T) {
	h := newHarness(t)
	h.settings.Update(func(s *agent.Settings) { s.AutoTrack = agent.TrackAll })
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(300), "someone@unknown.example", "Tracked before the crash", "relearn-1@unknown.example")
	waitFor(t, "tracked", func() bool { return h.inCRM("<relearn-1@unknown.example>") == 1 })
	waitFor(t, "the queue drained", func() bool { return e.Status().Pending == 0 })
	e.stop()

	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	if err := os.WriteFile(h.dbPath, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(h.dbPath + "-wal")
	// With automatic tracking off, only relearning can mark it tracked.
	h.settings.Update(func(s *agent.Settings) { s.AutoTrack = agent.TrackNone })
	e2 := h.start()
	if !e2.store.Rebuilt() {
		t.Fatal("the garbage cache was not rebuilt")
	}
	h.signIn(e2, "alice@demo.local", "demo-alice")
	waitFor(t, "the message relearned as tracked", func() bool {
		items, err := e2.RecentItems(context.Background(), 10)
		return err == nil && len(items) == 1 && items[0].Track == agent.Tracked && items[0].ActivityID != "" && items[0].OwnedByMe
	})
	if n := h.inCRM("<relearn-1@unknown.example>"); n != 1 {
		t.Errorf("%d activities for the message after the rebuild, want 1", n)
	}
	aside, _ := filepath.Glob(h.dbPath + ".corrupt-*")
	if len(aside) == 0 {
		t.Error("the corrupt cache was not kept aside")
	}
}

// TestReconcileLearnsChangesMadeInCRM: the periodic sync (12 minutes at
// most) unlinks activities deleted in the CRM and applies regarding links
// changed there, by ID.
func TestReconcileLearnsChangesMadeInCRM(t *testing.T) {
	h := newHarness(t)
	h.settings.Update(func(s *agent.Settings) { s.AutoTrack = agent.TrackAll })
	// The cache stamps queued work with this clock too, so it is due
	// without moving it; only the sync timer needs it to move.
	clock := sched.NewFake(time.Now())
	e := h.startWith(clock)
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(400), "someone@unknown.example", "Deleted in the CRM", "sync-1@unknown.example")
	h.deliver(k(401), "someone@unknown.example", "Relinked in the CRM", "sync-2@unknown.example")
	ctx := context.Background()
	byKey := func() map[agent.MessageKey]agent.Item {
		items, err := e.RecentItems(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		m := map[agent.MessageKey]agent.Item{}
		for _, it := range items {
			m[it.Key] = it
		}
		return m
	}
	waitFor(t, "both tracked", func() bool {
		m := byKey()
		return m[k(400)].ActivityID != "" && m[k(401)].ActivityID != ""
	})
	items := byKey()
	alice, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SignIn(ctx, "alice@demo.local", "demo-alice"); err != nil {
		t.Fatal(err)
	}
	if err := alice.DeleteActivity(ctx, crm.ActivityID(items[k(400)].ActivityID)); err != nil {
		t.Fatal(err)
	}
	account := &agent.RecordRef{Entity: "account", ID: strings.ToLower(localcrm.DemoID("account", "Contoso Ltd"))}
	if err := alice.SetRegarding(ctx, crm.ActivityID(items[k(401)].ActivityID), account); err != nil {
		t.Fatal(err)
	}
	clock.Advance(13 * time.Minute)
	waitFor(t, "the sync to learn both changes", func() bool {
		m := byKey()
		gone, relinked := m[k(400)], m[k(401)]
		return gone.ActivityID == "" && gone.Track == agent.Untracked &&
			relinked.Regarding != nil && relinked.Regarding.ID == account.ID
	})
	if got, want := byKey()[k(400)].Reason, track.ReasonDeletedInCRM.String(); got != want {
		t.Errorf("the message whose activity was deleted in the CRM says %q, want %q", got, want)
	}
	if st := e.Status(); st.LastSuccess.Before(clock.Now()) {
		t.Errorf("status LastSuccess %v is older than the sync at %v", st.LastSuccess, clock.Now())
	}
}

func TestSyncInterval(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		arrivals int
		lastBusy time.Time
		want     time.Duration
	}{
		{20, now, 2 * time.Minute},
		{3, now.Add(-time.Minute), 5 * time.Minute},
		{0, now.Add(-time.Hour), 12 * time.Minute},
		{0, time.Time{}, 12 * time.Minute},
	} {
		if got := syncInterval(tt.arrivals, tt.lastBusy, now); got != tt.want {
			t.Errorf("syncInterval(%d, %v ago) = %v, want %v", tt.arrivals, now.Sub(tt.lastBusy), got, tt.want)
		}
	}
}

// TestOldMailDecidedWithoutReading: a message delivered long before the
// lookback window is decided from its Maildir name alone; its file is not
// even opened (here it is unreadable, and the reason is still "too old").
func TestOldMailDecidedWithoutReading(t *testing.T) {
	h := newHarness(t)
	key := agent.MessageKey(fmt.Sprintf("%d.M1P1.t", time.Now().AddDate(-1, 0, 0).Unix()))
	if err := os.WriteFile(filepath.Join(h.mdir, "cur", string(key)+":2,S"), []byte("\x00\x01 not a message"), 0o000); err != nil {
		t.Fatal(err)
	}
	e := h.start()
	waitFor(t, "the decision", func() bool {
		m, ok, err := e.store.Message(context.Background(), key)
		return err == nil && ok && m.Reason == int(track.ReasonTooOld) && m.State == agent.Untracked
	})
}
