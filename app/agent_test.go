package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
)

// seededCRM serves a seeded local CRM on loopback.
func seededCRM(t *testing.T) (*localcrm.Server, string) {
	t.Helper()
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return srv, ts.URL
}

// newMaildir makes an empty Maildir with a .Sent folder.
func newMaildir(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// shortDir returns a directory whose paths fit a unix socket name.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// deliver writes a message as a mail delivery agent does: into tmp/, then
// renamed into new/.
func deliver(t *testing.T, root, folder, key, msg string) {
	t.Helper()
	tmp := filepath.Join(root, folder, "tmp", key)
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(msg, "\n", "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, folder, "new", key)); err != nil {
		t.Fatal(err)
	}
}

// key names test message n as a delivery agent would: the delivery time
// first, now, so the message is inside the automatic tracking window.
func key(n int) string { return fmt.Sprintf("%d.M%dP1.test", keyEpoch.Unix(), n) }

// keyEpoch is when the test binary started.
var keyEpoch = time.Now()

func message(from, to, subject, id string, date time.Time, body string) string {
	return fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s>\nDate: %s\nContent-Type: text/plain; charset=utf-8\n\n%s\n",
		from, to, subject, id, date.Format(time.RFC1123Z), body)
}

// runningAgent is "crmsync agent" running in-process.
type runningAgent struct {
	once   sync.Once
	cancel context.CancelFunc
	done   chan int
	out    *lockedBuffer
	errb   *lockedBuffer
}

func startAgent(t *testing.T, crmURL, user, password, mdir, data string) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--user", user, "--maildir", mdir, "--data", data, "--password-stdin"},
			Stdio{In: strings.NewReader(password + "\n"), Out: a.out, Err: a.errb})
	}()
	t.Cleanup(a.stop)
	return a
}

// stop ends the agent and waits for it; it may be called more than once.
func (a *runningAgent) stop() {
	a.once.Do(func() {
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
			panic("crmsync agent did not stop within 15 s of its context ending")
		}
	})
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentEndToEnd(t *testing.T) {
	crmSrv, crmURL := seededCRM(t)
	mdir, data := newMaildir(t), shortDir(t)
	a := startAgent(t, crmURL, "alice@demo.local", "demo-alice", mdir, data)
	waitFor(t, "the agent to sign in", func() bool {
		return strings.Contains(a.out.String(), "signed in as") || strings.Contains(a.errb.String(), "crmsync agent:")
	})
	if !strings.Contains(a.out.String(), "signed in as") {
		t.Fatalf("agent did not start: %s", a.errb.String())
	}
	ctx := context.Background()
	bob, err := crm.New(crm.Config{URL: crmURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		t.Fatal(err)
	}
	aliceID, _ := crmSrv.UserID("alice@demo.local")
	find := func(id string) (crm.ActivityInfo, bool) {
		info, ok, err := bob.FindEmail(ctx, id)
		if err != nil {
			t.Fatalf("FindEmail: %v", err)
		}
		return info, ok
	}
	now := time.Now()

	// Mail from a CRM contact is tracked at once; mail from a stranger and
	// old mail are not, each with its reason.
	deliver(t, mdir, "", key(1), message("Maria Campbell <maria.campbell@contoso.example>", "alice@demo.local",
		"Quote for 250 laptops", "q1@contoso.example", now, "Hello Alice,\nthe quote is attached."))
	deliver(t, mdir, "", key(2), message("Stranger <stranger@unknown.example>", "alice@demo.local",
		"Lunch on Friday?", "l1@unknown.example", now, "Are you free?"))
	deliver(t, mdir, "", key(3), message("maria.campbell@contoso.example", "alice@demo.local",
		"Old news", "o1@contoso.example", now.AddDate(0, -2, 0), "From long ago."))
	var tracked crm.ActivityInfo
	waitFor(t, "the contact's message in the CRM", func() bool { var ok bool; tracked, ok = find("<q1@contoso.example>"); return ok })
	if tracked.OwnerID != strings.ToLower(aliceID) {
		t.Errorf("tracked activity owner = %s, want alice %s", tracked.OwnerID, aliceID)
	}
	items := func() string {
		_, out, errs := run(t, "items", "--data", data)
		if errs != "" {
			t.Fatalf("items: %s", errs)
		}
		return out
	}
	waitFor(t, "all three decisions", func() bool {
		out := items()
		return strings.Contains(out, "no CRM match") && strings.Contains(out, "older than") && strings.Contains(out, "Quote for 250 laptops")
	})
	if _, ok := find("<l1@unknown.example>"); ok {
		t.Error("mail from a stranger was tracked")
	}
	if _, ok := find("<o1@contoso.example>"); ok {
		t.Error("old mail was tracked automatically")
	}
	if _, out, _ := run(t, "status", "--data", data); !strings.Contains(out, "Online") {
		t.Errorf("status = %q, want Online", out)
	}

	// Track by hand, set regarding, untrack what alice owns.
	if code, _, errs := run(t, "track", key(2), "--data", data); code != ExitOK {
		t.Fatalf("track: %s", errs)
	}
	waitFor(t, "the stranger's message tracked by hand", func() bool { _, ok := find("<l1@unknown.example>"); return ok })
	contact := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	if code, _, errs := run(t, "regarding", key(1), "contact:"+contact, "--data", data); code != ExitOK {
		t.Fatalf("regarding: %s", errs)
	}
	waitFor(t, "the regarding link", func() bool {
		info, err := bob.Activity(ctx, tracked.ID)
		return err == nil && info.Regarding != nil && info.Regarding.ID == strings.ToLower(contact)
	})
	code, out, errs := run(t, "untrack", key(1), "--data", data)
	if code != ExitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("untrack own: %d %q %q", code, out, errs)
	}
	waitFor(t, "alice's copy deleted", func() bool { _, ok := find("<q1@contoso.example>"); return !ok })

	// A message bob tracked already: alice's agent links to bob's copy,
	// and untracking it keeps bob's copy.
	shared, _, err := bob.CreateEmail(ctx, crm.Email{MessageID: "<shared@contoso.example>", Subject: "Team thread"})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, mdir, "", key(4), message("maria.campbell@contoso.example", "alice@demo.local, bob@demo.local",
		"Team thread", "shared@contoso.example", now, "For both of you."))
	// Its own line must say tracked: "tracked" elsewhere in the list (or
	// "not tracked") proves nothing, and an untrack while it is still
	// pending only cancels.
	itemState := func(k string) agent.TrackState {
		for _, line := range strings.Split(items(), "\n") {
			if strings.HasPrefix(line, k+" ") {
				f := strings.Split(line, "  ")
				for _, st := range []agent.TrackState{agent.Tracked, agent.Untracked, agent.Pending, agent.Failed} {
					if slices.ContainsFunc(f, func(s string) bool { return strings.TrimSpace(s) == st.String() }) {
						return st
					}
				}
			}
		}
		return -1
	}
	waitFor(t, "the shared message linked", func() bool { return itemState(key(4)) == agent.Tracked })
	code, out, _ = run(t, "untrack", key(4), "--data", data)
	if code != ExitOK || !strings.Contains(out, "Bob Nguyen owns it") {
		t.Errorf("untrack of bob's copy: %d %q", code, out)
	}
	// Only once the untrack has run to the end (the link forgotten and
	// nothing left in the outbox) does bob's copy still being there prove
	// anything.
	waitFor(t, "the untrack of bob's copy done", func() bool {
		_, st, _ := run(t, "status", "--data", data)
		return itemState(key(4)) == agent.Untracked && strings.Contains(st, "Pending:") &&
			slices.ContainsFunc(strings.Split(st, "\n"), func(l string) bool {
				return strings.HasPrefix(l, "Pending:") && strings.TrimSpace(strings.TrimPrefix(l, "Pending:")) == "0"
			})
	})
	if info, ok := find("<shared@contoso.example>"); !ok || info.ID != shared.ID {
		t.Error("untracking deleted the copy bob owns")
	}

	// One agent per data directory.
	code, _, errs = runIn(t, "demo-alice\n", "agent", "--crm", crmURL, "--user", "alice@demo.local", "--maildir", mdir, "--data", data, "--password-stdin")
	if code == ExitOK || !strings.Contains(errs, "already using this data directory") {
		t.Errorf("second agent: %d %q", code, errs)
	}

	// Only IDs at rest, no secrets anywhere in the data directory.
	a.stop()
	assertAbsent(t, data, "maria.campbell", "Quote for 250", "stranger@unknown", "Lunch on Friday", "Old news",
		"q1@contoso.example", "demo-alice", "alice@demo.local")
	if strings.Contains(a.errb.String(), "demo-alice") || strings.Contains(a.errb.String(), "maria.campbell@") {
		t.Errorf("the log holds a secret or an address:\n%s", a.errb.String())
	}
}

// assertAbsent reads every file under dir and fails if any needle occurs.
func assertAbsent(t *testing.T, dir string, needles ...string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		for _, n := range needles {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(n))) {
				t.Errorf("%s holds %q", filepath.Base(p), n)
			}
		}
		return nil
	})
}

func TestAgentRefusesClearly(t *testing.T) {
	_, crmURL := seededCRM(t)
	mdir := newMaildir(t)
	cases := []struct {
		user, password, want string
	}{
		{"alice@demo.local", "wrong-password", "The user name or password is incorrect; check them and try again."},
		{"carol@demo.local", "demo-carol", "prvSyncToOutlook"},
	}
	for _, c := range cases {
		code, _, errs := runIn(t, c.password+"\n", "agent", "--crm", crmURL, "--user", c.user, "--maildir", mdir, "--data", shortDir(t), "--password-stdin")
		if code != ExitFailure || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q; want failure saying %q", c.user, code, errs, c.want)
		}
		if strings.Contains(errs, c.password) {
			t.Errorf("%s: the error repeats the password", c.user)
		}
	}
	code, _, errs := runIn(t, "", "agent", "--crm", crmURL, "--user", "alice@demo.local", "--maildir", mdir, "--data", shortDir(t), "--password-stdin")
	if code != ExitUsage || !strings.Contains(errs, "no password") {
		t.Errorf("empty stdin: %d %q", code, errs)
	}
}

func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb lockedBuffer
	code := Main(context.Background(), args, Stdio{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}
