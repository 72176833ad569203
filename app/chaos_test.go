package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/agenttest"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/engine"
	"crmsync/agent/track"
)

// The chaos suite: each scenario causes a real fault (a port that closes,
// a kill -9, a server that throttles or hangs, bytes written into the
// cache) and checks that every arrival is tracked exactly once. make test
// runs the short forms; make chaos (CRMSYNC_CHAOS=long) the long ones.
// Each prints one line: chaos NAME ok|FAIL DETAIL.

func long() bool { return os.Getenv("CRMSYNC_CHAOS") == "long" }

func pick(short, lng int) int {
	if long() {
		return lng
	}
	return short
}

func report(t *testing.T, name string, ok bool, detail string, args ...any) {
	t.Helper()
	verdict := "ok"
	if !ok {
		verdict = "FAIL"
		t.Errorf("chaos %s: "+detail, append([]any{name}, args...)...)
	}
	fmt.Printf("chaos %s %s "+detail+"\n", append([]any{name, verdict}, args...)...)
}

// flakyCRM is the local CRM on a fixed loopback port that can go down
// (connections refused) and come back.
type flakyCRM struct {
	srv  *localcrm.Server
	addr string
	mu   sync.Mutex
	hs   *http.Server
	reqs atomic.Int64
	wrap func(http.Handler) http.Handler
	bob  *crm.HTTPClient // signed in once: a sign-in per poll would be throttled
}

// newFlakyCRM serves a seeded local CRM; wrap, if set, sees every request
// first (to record or time them).
func newFlakyCRM(t *testing.T, opts localcrm.Options, wrap func(http.Handler) http.Handler) *flakyCRM {
	t.Helper()
	opts.PasswordIterations = 1000
	if opts.RateLimit == 0 {
		// Dataverse's budget (6,000 requests in 5 minutes) would throttle
		// the long bursts; throttling has its own scenario.
		opts.RateLimit = 1 << 30
	}
	srv, err := localcrm.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	f := &flakyCRM{srv: srv, wrap: wrap}
	f.up(t)
	t.Cleanup(func() { f.down(); srv.Close() })
	return f
}

func (f *flakyCRM) up(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	addr := f.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	f.addr = ln.Addr().String()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reqs.Add(1)
		f.srv.ServeHTTP(w, r)
	})
	if f.wrap != nil {
		h = f.wrap(h)
	}
	f.hs = &http.Server{Handler: h}
	go f.hs.Serve(ln)
}

func (f *flakyCRM) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hs != nil {
		f.hs.Close()
		f.hs = nil
	}
}

func (f *flakyCRM) url() string { return "http://" + f.addr }

// activities counts alice's activities per Message-ID, read by bob.
func (f *flakyCRM) activities(t *testing.T) map[string]int {
	t.Helper()
	ctx := context.Background()
	if f.bob == nil {
		c, err := crm.New(crm.Config{URL: f.url(), MaxRetries: 10, MaxRetryWait: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
			t.Fatal(err)
		}
		f.bob = c
	}
	c := f.bob
	alice, _ := f.srv.UserID("alice@demo.local")
	infos, err := c.OwnedActivities(ctx, strings.ToLower(alice), 500)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, in := range infos {
		out[in.MessageID]++
	}
	return out
}

// chaosEngine is an in-process engine tracking all mail (every arrival
// must become exactly one activity).
type chaosEngine struct {
	*engine.Engine
	store  *cache.Store
	cancel context.CancelFunc
	done   chan error
}

func startChaosEngine(t *testing.T, dataDir, mdir string) *chaosEngine {
	t.Helper()
	cfg := NewConfig(filepath.Join(dataDir, "settings.json"))
	s, _ := cfg.Load()
	s.MaildirPath, s.AutoTrack = mdir, agent.TrackAll
	if err := cfg.Save(s); err != nil {
		t.Fatal(err)
	}
	// Sign-in is always without saving here, so the keychain is not used.
	e, store, _, err := buildEngine(dataDir, "", "", cfg, crm.Config{Timeout: 3 * time.Second, MaxRetries: -1}, engine.SignInOptions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ce := &chaosEngine{Engine: e, store: store, cancel: cancel, done: make(chan error, 1)}
	go func() { ce.done <- e.Run(ctx) }()
	t.Cleanup(ce.stop)
	return ce
}

func (c *chaosEngine) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	<-c.done
	c.store.Close()
}

func (c *chaosEngine) signIn(t *testing.T, url, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.SignIn(ctx, agent.Credentials{CRMURL: url, Username: "alice@demo.local", Secret: password, NoSave: true}); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// burst delivers n messages from a stranger with Message-IDs prefix-i.
func burst(t *testing.T, mdir, prefix string, n int) {
	t.Helper()
	for i := range n {
		deliver(t, mdir, "", fmt.Sprintf("%d.%s%dP1.chaos", time.Now().Unix(), prefix, i),
			message("someone@unknown.example", "alice@demo.local", "Chaos "+prefix, fmt.Sprintf("%s-%d@chaos.example", prefix, i), time.Now(), "body"))
	}
}

// tally compares the activities with the n expected Message-IDs.
func tally(got map[string]int, prefix string, n int) (activities, dups, lost int) {
	for i := range n {
		c := got[fmt.Sprintf("<%s-%d@chaos.example>", prefix, i)]
		activities += c
		if c == 0 {
			lost++
		}
		if c > 1 {
			dups += c - 1
		}
	}
	return
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		// Polling asks the CRM too; every half second keeps it light.
		time.Sleep(500 * time.Millisecond)
	}
	return true
}

// TestChaosOutage: the CRM's port closes while mail arrives; when it is
// back, every arrival is tracked exactly once.
func TestChaosOutage(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	n := pick(30, 300)
	f.down()
	burst(t, mdir, "outage", n)
	time.Sleep(time.Duration(pick(2, 5)) * time.Second)
	maxQueue := e.Status().Pending
	f.up(t)
	back := time.Now()
	ok := waitUntil(90*time.Second, func() bool { a, _, _ := tally(f.activities(t), "outage", n); return a >= n && e.Status().Pending == 0 })
	a, dups, lost := tally(f.activities(t), "outage", n)
	report(t, "outage", ok && dups == 0 && lost == 0, "arrivals=%d activities=%d duplicates=%d lost=%d max_queue=%d recovery=%s",
		n, a, dups, lost, maxQueue, time.Since(back).Round(100*time.Millisecond))
}

// TestChaosDownAtStart: the headless agent starts (at login, say) while
// the CRM cannot be reached. It says so, keeps running, and tracks what
// arrived meanwhile once the CRM is back; a wrong password is still refused
// at once.
func TestChaosDownAtStart(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	f.down()
	mdir, data := newMaildir(t), shortDir(t)
	cfg := NewConfig(filepath.Join(data, "settings.json"))
	s, _ := cfg.Load()
	s.AutoTrack = agent.TrackAll
	if err := cfg.Save(s); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, f.url(), "alice@demo.local", "demo-alice", mdir, data)
	waitFor(t, "the agent to say it waits for the CRM", func() bool { return strings.Contains(a.out.String(), "waiting for the CRM") })
	n := pick(20, 200)
	burst(t, mdir, "atstart", n)
	time.Sleep(time.Second)
	select {
	case code := <-a.done:
		t.Fatalf("the agent gave up while the CRM was down: exit %d: %s", code, a.errb.String())
	default:
	}
	f.up(t)
	back := time.Now()
	ok := waitUntil(90*time.Second, func() bool { got, _, _ := tally(f.activities(t), "atstart", n); return got >= n })
	a.stop()
	got, dups, lost := tally(f.activities(t), "atstart", n)
	report(t, "down-at-start", ok && dups == 0 && lost == 0, "arrivals=%d activities=%d duplicates=%d lost=%d recovery=%s",
		n, got, dups, lost, time.Since(back).Round(100*time.Millisecond))

	// A refused password is not a passing fault: the agent stops and says why.
	code, _, errOut := runIn(t, "wrong-password\n", "agent", "--crm", f.url(), "--user", "alice@demo.local",
		"--maildir", mdir, "--data", shortDir(t), "--password-stdin")
	if code == 0 || !strings.Contains(strings.ToLower(errOut), "password") {
		t.Errorf("a wrong password at start: exit %d, %q", code, errOut)
	}
}

// TestChaosPasswordChanged: the password changes on the server mid-burst;
// the agent asks to sign in again, loses nothing, and resumes.
func TestChaosPasswordChanged(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	n := pick(20, 200)
	burst(t, mdir, "pw", n/2)
	if err := f.srv.SetPassword("alice@demo.local", "changed-on-server"); err != nil {
		t.Fatal(err)
	}
	f.srv.RevokeTokens("alice@demo.local")
	burst(t, mdir, "pwb", n-n/2)
	needs := waitUntil(30*time.Second, func() bool { return e.Status().State == agent.StateNeedsSignIn })
	e.signIn(t, f.url(), "changed-on-server")
	ok := waitUntil(90*time.Second, func() bool {
		a1, _, _ := tally(f.activities(t), "pw", n/2)
		a2, _, _ := tally(f.activities(t), "pwb", n-n/2)
		return a1+a2 >= n && e.Status().Pending == 0
	})
	got := f.activities(t)
	a1, d1, l1 := tally(got, "pw", n/2)
	a2, d2, l2 := tally(got, "pwb", n-n/2)
	report(t, "password-changed", needs && ok && d1+d2 == 0 && l1+l2 == 0, "arrivals=%d activities=%d duplicates=%d lost=%d needs_sign_in=%v",
		n, a1+a2, d1+d2, l1+l2, needs)
}

// TestChaosThrottled: the CRM answers 429 with Retry-After to most
// requests; every arrival is still tracked once, and no request is sent
// while a Retry-After is running.
func TestChaosThrottled(t *testing.T) {
	type hit struct {
		at     time.Time
		status int
		retry  time.Duration
		what   string
	}
	var mu sync.Mutex
	var hits []hit
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusWriter{ResponseWriter: w, status: 200}
			at := time.Now()
			h.ServeHTTP(rec, r)
			ra, _ := time.ParseDuration(rec.Header().Get("Retry-After") + "s")
			mu.Lock()
			hits = append(hits, hit{at, rec.status, ra, r.Method + " " + r.URL.Path})
			mu.Unlock()
		})
	}
	// Decisions and tracks share $batch requests, so fifteen messages take
	// a handful of requests: a limit of three per window still trips.
	f := newFlakyCRM(t, localcrm.Options{RateLimit: 3, RateWindow: 2 * time.Second}, record)

	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	n := pick(15, 100)
	burst(t, mdir, "throttle", n)
	// Only the agent talks to the CRM until it is done: the check below
	// holds its requests alone against the Retry-Afters it was given.
	ok := waitUntil(3*time.Minute, func() bool {
		counts, err := e.store.CountByState(context.Background())
		return err == nil && counts[agent.Tracked] >= n && e.Status().Pending == 0
	})
	mu.Lock()
	seen := append([]hit(nil), hits...)
	mu.Unlock()
	a, dups, lost := tally(f.activities(t), "throttle", n)
	throttled, early := 0, 0
	for i, h := range seen {
		if h.status != http.StatusTooManyRequests {
			continue
		}
		throttled++
		// Requests already on the wire when the 429 was sent may land just
		// after it; anything later inside the window was sent too early.
		for _, later := range seen[i+1:] {
			if d := later.at.Sub(h.at); d > 100*time.Millisecond && d < h.retry-100*time.Millisecond {
				early++
				if early < 5 {
					t.Logf("429 at %s (%s, retry %s) then %s after %s (%d)", h.at.Format("05.000"), h.what, h.retry, later.what, d, later.status)
				}
			}
		}
	}
	report(t, "throttled", ok && dups == 0 && lost == 0 && early == 0 && throttled > 0,
		"arrivals=%d activities=%d duplicates=%d lost=%d answered_429=%d sent_before_retry_after=%d", n, a, dups, lost, throttled, early)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// TestChaosHangingCRM: a CRM that accepts connections and never answers
// costs timeouts, not goroutines or connections.
func TestChaosHangingCRM(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var open atomic.Int64
	hang := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer open.Add(-1)
				buf := make([]byte, 4096)
				c.SetReadDeadline(time.Now().Add(time.Minute))
				for {
					if _, err := c.Read(buf); err != nil {
						c.Close()
						return
					}
					select {
					case <-hang:
						c.Close()
						return
					default:
					}
				}
			}()
		}
	}()
	defer func() { close(hang); ln.Close() }()
	before := goroutines()
	c, err := crm.New(crm.Config{URL: "http://" + ln.Addr().String(), Timeout: 300 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	calls := pick(10, 50)
	failed := 0
	start := time.Now()
	for range calls {
		if err := c.SignIn(context.Background(), "a@b.example", "pw"); err != nil {
			failed++
		}
	}
	elapsed := time.Since(start)
	c.CloseIdle()
	settled := waitUntil(5*time.Second, func() bool { return goroutines() <= before+2 && open.Load() == 0 })
	report(t, "hanging-crm", failed == calls && settled && elapsed < time.Duration(calls)*time.Second,
		"calls=%d timed_out=%d elapsed=%s goroutines_before=%d after=%d open_connections=%d", calls, failed, elapsed.Round(10*time.Millisecond), before, goroutines(), open.Load())
}

// TestChaosCorruptCache: random bytes written into the cache between runs;
// the agent starts anyway (rebuilding) and tracks nothing twice.
func TestChaosCorruptCache(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	n := pick(10, 100)
	burst(t, mdir, "corrupt", n)
	waitUntil(60*time.Second, func() bool { a, _, _ := tally(f.activities(t), "corrupt", n); return a >= n })
	e.stop()
	path := filepath.Join(data, cacheName("", ""))
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 8192)
	rand.Read(junk)
	fh.WriteAt(junk, 4096)
	fh.Close()
	e2 := startChaosEngine(t, data, mdir)
	e2.signIn(t, f.url(), "demo-alice")
	burst(t, mdir, "corrupt2", n)
	ok := waitUntil(60*time.Second, func() bool {
		a, _, _ := tally(f.activities(t), "corrupt2", n)
		return a >= n && e2.Status().Pending == 0
	})
	got := f.activities(t)
	a1, d1, l1 := tally(got, "corrupt", n)
	a2, d2, l2 := tally(got, "corrupt2", n)
	aside, _ := filepath.Glob(path + ".corrupt-*")
	report(t, "corrupt-cache", ok && d1+d2 == 0 && l1+l2 == 0 && e2.store.Rebuilt() && len(aside) == 1,
		"arrivals=%d activities=%d duplicates=%d lost=%d rebuilt=%v kept_aside=%d", 2*n, a1+a2, d1+d2, l1+l2, e2.store.Rebuilt(), len(aside))
}

// TestChaosKill9 kills the headless agent with SIGKILL at random moments
// during a burst, restarting it each time; afterwards every arrival is one
// activity and the outbox is empty.
func TestChaosKill9(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "crmsync")
	if out, err := exec.Command("go", "build", "-o", bin, "crmsync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), shortDir(t)
	n, kills := pick(100, 1000), pick(3, 20)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent", "--crm", f.url(), "--user", "alice@demo.local", "--maildir", mdir, "--data", data, "--password-stdin")
		cmd.Stdin = strings.NewReader("demo-alice\n")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+data)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// Track everything, so each arrival must become an activity.
	cfg := NewConfig(filepath.Join(data, "settings.json"))
	s, _ := cfg.Load()
	s.AutoTrack = agent.TrackAll
	cfg.Save(s)
	cmd := start()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for i := range n {
			deliver(t, mdir, "", fmt.Sprintf("%d.kill%dP1.chaos", time.Now().Unix(), i),
				message("someone@unknown.example", "alice@demo.local", "Quarterly figures Zq7", fmt.Sprintf("kill-%d@chaos.example", i), time.Now(), "body"))
			time.Sleep(time.Duration(pick(20, 8)) * time.Millisecond)
		}
	}()
	exposed := 0
	for range kills {
		ms, _ := rand.Int(rand.Reader, big.NewInt(600))
		time.Sleep(time.Duration(200+ms.Int64()) * time.Millisecond)
		// The password came on stdin: it must not be in argv or env.
		for _, f := range []string{"cmdline", "environ"} {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", cmd.Process.Pid, f)); err == nil && strings.Contains(string(b), "demo-alice") {
				exposed++
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cmd = start()
	}
	<-delivered
	ok := waitUntil(3*time.Minute, func() bool { a, _, _ := tally(f.activities(t), "kill", n); return a >= n })
	// Drained: the control socket reports nothing pending.
	drained := waitUntil(time.Minute, func() bool {
		_, out, _ := runIn(t, "", "status", "--data", data)
		return pendingZero(out)
	})
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	a, dups, lost := tally(f.activities(t), "kill", n)
	assertAbsent(t, data, "demo-alice", "Quarterly figures", "someone@unknown.example", "kill-1@chaos.example")
	report(t, "kill-9", ok && drained && dups == 0 && lost == 0 && exposed == 0, "arrivals=%d kills=%d activities=%d duplicates=%d lost=%d outbox_drained=%v password_in_argv_or_env=%d",
		n, kills, a, dups, lost, drained, exposed)
}

func pendingZero(status string) bool {
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "Pending:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "Pending:")) == "0"
		}
	}
	return false
}

// TestChaosFloodAndOddMail: thousands of files arrive at once, among them
// malformed messages; every one is decided or refused with a reason, and a
// normal message after them is still decided.
func TestChaosFloodAndOddMail(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), t.TempDir()
	cfg := NewConfig(filepath.Join(data, "settings.json"))
	s, _ := cfg.Load()
	s.MaildirPath, s.AutoTrack = mdir, agent.TrackNone
	cfg.Save(s)
	e := startChaosEngine(t, data, mdir)
	// startChaosEngine sets TrackAll; switch to none so the flood is local.
	none := agent.TrackNone
	if _, err := e.UpdateSettings(context.Background(), agent.SettingsPatch{AutoTrack: &none}); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, f.url(), "demo-alice")
	n := pick(2000, 10000)
	now := time.Now().Unix()
	for i := range n {
		name := fmt.Sprintf("%d.flood%dP1.chaos", now, i)
		if err := os.WriteFile(filepath.Join(mdir, "new", name), []byte(message("x@y.example", "alice@demo.local", "Flood", fmt.Sprintf("flood-%d@chaos.example", i), time.Now(), "b")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	odd, err := agenttest.OddMessages()
	if err != nil || len(odd) == 0 {
		t.Fatalf("the odd corpus: %d messages, %v", len(odd), err)
	}
	oddKeys := map[string]agent.MessageKey{}
	i := 0
	for name, m := range odd {
		k := fmt.Sprintf("%d.odd%dP1.chaos", now, i)
		i++
		oddKeys[name] = agent.MessageKey(k)
		// Written straight into new/, as cp and some scripts do rather
		// than renaming a finished file in from tmp/: the agent may see a
		// 2 MB file half written and must wait for the rest.
		if err := os.WriteFile(filepath.Join(mdir, "new", k), m, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	total := n + len(odd)
	start := time.Now()
	ok := waitUntil(2*time.Minute, func() bool {
		counts, err := e.store.CountByState(context.Background())
		if err != nil {
			return false
		}
		sum := 0
		for _, c := range counts {
			sum += c
		}
		return sum >= total
	})
	elapsed := time.Since(start)
	deliver(t, mdir, "", fmt.Sprintf("%d.after%dP1.chaos", now, 0), message("z@y.example", "alice@demo.local", "After", "after@chaos.example", time.Now(), "b"))
	after := waitUntil(30*time.Second, func() bool {
		_, found, _ := e.store.Message(context.Background(), agent.MessageKey(fmt.Sprintf("%d.after0P1.chaos", now)))
		return found
	})
	// Each odd message is decided, or refused as unreadable when it is not
	// a message at all; either way with a reason the user can read.
	var wrong []string
	for name, k := range oddKeys {
		m, found, err := e.store.Message(context.Background(), k)
		refused := found && track.Reason(m.Reason) == track.ReasonUnreadable
		if err != nil || !found || m.Reason == 0 || refused != strings.HasPrefix(name, "refused-") {
			wrong = append(wrong, fmt.Sprintf("%s(found=%v reason=%d)", name, found, m.Reason))
		}
	}
	sort.Strings(wrong)
	report(t, "flood-and-odd-mail", ok && after && len(wrong) == 0, "files=%d odd=%d decided_in=%s queue_not_blocked=%v odd_misjudged=%d %s",
		n, len(odd), elapsed.Round(10*time.Millisecond), after, len(wrong), strings.Join(wrong, " "))
}

func goroutines() int { return runtime.NumGoroutine() }

// TestChaosSlowCRM: every API answer takes seconds (longer than the
// client's timeout for some); arrivals are still tracked exactly once and
// nothing piles up once the CRM is fast again.
func TestChaosSlowCRM(t *testing.T) {
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	before := goroutines()
	remove := f.srv.InjectFault(localcrm.Fault{Path: "/api/data/*", Delay: 2 * time.Second, Count: pick(6, 60)})
	defer remove()
	n := pick(5, 60)
	burst(t, mdir, "slow", n)
	start := time.Now()
	ok := waitUntil(3*time.Minute, func() bool { a, _, _ := tally(f.activities(t), "slow", n); return a >= n && e.Status().Pending == 0 })
	a, dups, lost := tally(f.activities(t), "slow", n)
	settled := waitUntil(10*time.Second, func() bool { return goroutines() <= before+10 })
	report(t, "slow-crm", ok && dups == 0 && lost == 0 && settled, "arrivals=%d activities=%d duplicates=%d lost=%d took=%s goroutines_before=%d after=%d",
		n, a, dups, lost, time.Since(start).Round(100*time.Millisecond), before, goroutines())
}

// tracking starts a signed-in engine with its data in data (a temporary
// folder when empty) on a new Maildir, and waits until n messages delivered
// to it (Message-IDs prefix-0 onwards) are tracked.
func tracking(t *testing.T, data, prefix string, n int) (*flakyCRM, string, *chaosEngine) {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	mdir := newMaildir(t)
	e := startChaosEngine(t, data, mdir)
	e.signIn(t, f.url(), "demo-alice")
	burst(t, mdir, prefix, n)
	waitUntil(30*time.Second, func() bool { a, _, _ := tally(f.activities(t), prefix, n); return a >= n })
	return f, mdir, e
}

// warned reports whether the engine's status carries a warning with code
// whose text contains text.
func warned(e *chaosEngine, code, text string) bool {
	for _, w := range e.Status().Warnings {
		if w.Code == code && strings.Contains(w.Text, text) {
			return true
		}
	}
	return false
}

// TestChaosMaildirRecreated: the mail folder is removed and created again
// while the agent runs; mail delivered into the new one is still tracked.
func TestChaosMaildirRecreated(t *testing.T) {
	f, mdir, _ := tracking(t, "", "before", 3)
	if err := os.RemoveAll(mdir); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(mdir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	burst(t, mdir, "after", 3)
	// The periodic rescan is the backstop for a watch that was lost; in
	// the short form it must not be needed: the re-created folder is
	// watched again at once.
	ok := waitUntil(time.Minute, func() bool { a, _, _ := tally(f.activities(t), "after", 3); return a >= 3 })
	a, dups, lost := tally(f.activities(t), "after", 3)
	report(t, "maildir-recreated", ok && dups == 0 && lost == 0, "arrivals=3 activities=%d duplicates=%d lost=%d", a, dups, lost)
}

// TestChaosMaildirMoved: the whole Maildir is moved away while mail
// arrives there, then moved back. The status says the folder is gone while
// it is; afterwards every arrival is tracked exactly once.
func TestChaosMaildirMoved(t *testing.T) {
	f, mdir, e := tracking(t, "", "premove", 3)
	away := mdir + ".moved"
	if err := os.Rename(mdir, away); err != nil {
		t.Fatal(err)
	}
	gone := waitUntil(30*time.Second, func() bool { return warned(e, "maildir", "is gone") })
	n := pick(10, 100)
	burst(t, away, "moved", n)
	if err := os.Rename(away, mdir); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	ok := waitUntil(time.Minute, func() bool { a, _, _ := tally(f.activities(t), "moved", n); return a >= n })
	cleared := waitUntil(10*time.Second, func() bool { return len(e.Status().Warnings) == 0 })
	a, dups, lost := tally(f.activities(t), "moved", n)
	_, predups, _ := tally(f.activities(t), "premove", 3)
	report(t, "maildir-moved", ok && gone && cleared && dups == 0 && predups == 0 && lost == 0,
		"arrivals=%d activities=%d duplicates=%d lost=%d warned_while_gone=%v warning_cleared=%v recovery=%s",
		n, a, dups+predups, lost, gone, cleared, time.Since(back).Round(100*time.Millisecond))
}

// smallDisk mounts a file system of size bytes for the test, or skips the
// test where mounting is not allowed (it needs root).
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("a small file system is needed and mounting one failed (%v); run as root to include this scenario", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes to path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// TestChaosDiskFull: the data folder's disk fills up while mail arrives.
// The status says why decisions cannot be saved; nothing crashes; when the
// disk has room again every arrival is tracked exactly once and the warning
// goes.
func TestChaosDiskFull(t *testing.T) {
	disk := smallDisk(t, 8<<20)
	f, mdir, e := tracking(t, filepath.Join(disk, "data"), "roomy", 5)
	n := pick(10, 100)

	filler := filepath.Join(disk, "filler")
	fill(t, filler)
	burst(t, mdir, "full", n)
	full := waitUntil(30*time.Second, func() bool { return warned(e, "storage", "") })
	maxQueue := len(f.activities(t))
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	ok := waitUntil(time.Minute, func() bool { a, _, _ := tally(f.activities(t), "full", n); return a >= n })
	cleared := waitUntil(15*time.Second, func() bool { return !warned(e, "storage", "") })
	got := f.activities(t)
	a, dups, lost := tally(got, "full", n)
	_, predups, _ := tally(got, "roomy", 5)
	report(t, "disk-full", full && ok && cleared && dups+predups == 0 && lost == 0,
		"arrivals=%d activities=%d duplicates=%d lost=%d warned=%v warning_cleared=%v activities_while_full=%d recovery=%s",
		n, a, dups+predups, lost, full, cleared, maxQueue-5, time.Since(back).Round(100*time.Millisecond))
}

// TestChaosReadOnlyDataDir: the agent is started on a data folder whose
// file system is read-only (a full or failing disk that the system turned
// read-only, say). It must stop at once with a sentence that says what is
// wrong and what to do, not crash or retry forever.
func TestChaosReadOnlyDataDir(t *testing.T) {
	disk := smallDisk(t, 1<<20)
	data := filepath.Join(disk, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", disk, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	f := newFlakyCRM(t, localcrm.Options{}, nil)
	start := time.Now()
	code, _, errOut := runIn(t, "demo-alice\n", "agent", "--crm", f.url(), "--user", "alice@demo.local",
		"--maildir", newMaildir(t), "--data", data, "--password-stdin")
	took := time.Since(start)
	clear := strings.Contains(errOut, "read-only") && strings.Contains(errOut, data) && strings.Contains(errOut, "--data")
	report(t, "read-only-data-dir", code != 0 && clear && took < 30*time.Second, "exit=%d took=%s message=%q",
		code, took.Round(10*time.Millisecond), strings.TrimSpace(errOut))
}

// TestChaosOnlyHeadersBeforeDecision records every request of a session
// that tracks mail from a contact and leaves a stranger's alone: before a
// decision only From, To, Cc, Subject and Message-ID leave; the body of
// the untracked message never does.
func TestChaosOnlyHeadersBeforeDecision(t *testing.T) {
	var mu sync.Mutex
	var seen []string // method, URL and body of every request
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			mu.Lock()
			seen = append(seen, r.Method+" "+r.URL.String()+"\n"+string(body))
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}
	f := newFlakyCRM(t, localcrm.Options{}, record)

	mdir, data := newMaildir(t), t.TempDir()
	e := startChaosEngine(t, data, mdir)
	scope := agent.TrackFromCRMRecords
	if _, err := e.UpdateSettings(context.Background(), agent.SettingsPatch{AutoTrack: &scope}); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, f.url(), "demo-alice")
	now := time.Now()
	deliver(t, mdir, "", fmt.Sprintf("%d.hdr1P1.chaos", now.Unix()), "From: maria.campbell@contoso.example\nTo: alice@demo.local\nSubject: Tracked one\nMessage-ID: <hdr-1@chaos.example>\nX-Secret-Header: internal-routing-7731\nDate: "+now.Format(time.RFC1123Z)+"\n\nTRACKED-BODY-4410\n")
	deliver(t, mdir, "", fmt.Sprintf("%d.hdr2P1.chaos", now.Unix()), "From: stranger@unknown.example\nTo: alice@demo.local\nSubject: Private one\nMessage-ID: <hdr-2@chaos.example>\nX-Secret-Header: internal-routing-7731\nDate: "+now.Format(time.RFC1123Z)+"\n\nUNTRACKED-BODY-9921\n")
	ok := waitUntil(30*time.Second, func() bool {
		counts, err := e.store.CountByState(context.Background())
		return err == nil && counts[agent.Tracked] == 1 && counts[agent.Untracked] == 1 && e.Status().Pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	leaks, checks, odd := 0, 0, 0
	for _, req := range seen {
		if strings.Contains(req, "UNTRACKED-BODY-9921") || strings.Contains(req, "internal-routing-7731") {
			leaks++
		}
		// Decisions go in $batch requests, several to a request: each
		// call's parameters are exactly the allowed headers.
		n := strings.Count(req, "CheckIncomingEmail(")
		checks += n
		if strings.Count(req, "CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)") != n {
			odd++
		}
		// The tracked body goes only with the create: a change set that
		// posts the email, in a $batch that asks nothing.
		create := strings.HasPrefix(req, "POST /api/data/v9.2/$batch\n") && strings.Contains(req, "POST /api/data/v9.2/emails HTTP/1.1") && n == 0
		if strings.Contains(req, "TRACKED-BODY-4410") && !create {
			odd++
		}
	}
	report(t, "only-headers-before-decision", ok && leaks == 0 && odd == 0 && checks >= 2,
		"requests=%d decisions_asked=%d untracked_body_or_other_header_sent=%d unexpected=%d", len(seen), checks, leaks, odd)
}
