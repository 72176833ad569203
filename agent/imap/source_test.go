package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
)

// An APPEND to INBOX reaches the Source through IDLE as one Added in
// INBOX whose envelope is already in memory and parsed as the Maildir
// source parses headers.
func TestArrivalThroughIdle(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	srv.Append(t, imaptest.UserAlice, "INBOX", message("Old <old@example.com>", "Before", "old@example.com", "old"))
	// No poll within the test: what arrives comes through IDLE.
	s := newSource(t, srv, func(o *Options) { o.Poll = time.Hour })
	r := start(t, s)
	listed(t, s, r, 2)
	if n := count(r.all(), maildir.Added, "INBOX"); n != 1 {
		t.Fatalf("first listing: %d Added in INBOX, want 1", n)
	}
	if done, total := s.Progress(); done != 1 || total != 1 {
		t.Errorf("Progress() = %d, %d; want 1, 1", done, total)
	}

	t0 := time.Now()
	uid := srv.Append(t, imaptest.UserAlice, "INBOX", message("Maria Campbell <maria.campbell@contoso.example>", "Quote for Q3", "q3-quote@contoso.example", "Hello"))
	cs := r.wait(t, "the arrival", atLeast(2, maildir.Added, "INBOX"))
	t.Logf("arrival reported %s after APPEND completed", time.Since(t0))
	k := cs[len(cs)-1].Key
	if k != Key([]byte("test salt"), "INBOX", validityOf(t, srv, "INBOX"), uid) {
		t.Errorf("key %s is not the salted hash of INBOX, UIDVALIDITY and UID %d", k, uid)
	}
	if s.envs.len() == 0 {
		t.Error("the arrival's envelope was not cached before it was reported")
	}
	env, err := s.Envelope(k)
	if err != nil {
		t.Fatal(err)
	}
	if env.From.Addr != "maria.campbell@contoso.example" || env.Subject != "Quote for Q3" || env.MessageID != "q3-quote@contoso.example" {
		t.Errorf("envelope = %+v", env)
	}
	if f, ok := s.Folder(k); !ok || f != "INBOX" {
		t.Errorf("Folder = %q, %v; want INBOX", f, ok)
	}
	if d, err := s.Delivered(k); err != nil || time.Since(d) > time.Hour {
		t.Errorf("Delivered = %v, %v; want about now", d, err)
	}
	if !s.IsSent("Sent") || s.IsSent("INBOX") {
		t.Error("IsSent does not pick the \\Sent mailbox")
	}
	body, err := s.Body(k)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	text, _, err := outbox.BodyText(body)
	if err != nil || text != "Hello\r\n" && text != "Hello\n" && text != "Hello" {
		t.Errorf("BodyText of Body = %q, %v", text, err)
	}
	if n := count(r.all(), maildir.Added, ""); n != 2 {
		t.Errorf("%d Added in all, want 2: nothing reported twice", n)
	}
}

// validityOf reads a mailbox's UIDVALIDITY as the server has it.
func validityOf(t testing.TB, srv *imaptest.Server, mailbox string) uint32 {
	t.Helper()
	c, err := srv.Dial(imaptest.UserAlice)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Status(mailbox, &goimap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return d.UIDValidity
}

// A message moved into a watched folder appears there with a new key,
// and the old key is removed; a folder added with Watch while running is
// listed and watched.
func TestMoveAndWatch(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	srv.CreateMailbox(t, imaptest.UserAlice, "Contoso")
	srv.CreateMailbox(t, imaptest.UserAlice, "Projects/Fabrikam")
	srv.Append(t, imaptest.UserAlice, "Projects/Fabrikam", message("a@fabrikam.example", "Already there", "there@fabrikam.example", "x"))
	s := newSource(t, srv, func(o *Options) { o.Folders = []string{"Contoso"} })
	r := start(t, s)
	listed(t, s, r, 3)

	uid := srv.Append(t, imaptest.UserAlice, "INBOX", message("b@contoso.example", "Move me", "move@contoso.example", "x"))
	cs := r.wait(t, "the arrival", atLeast(1, maildir.Added, "INBOX"))
	old := keyOf(t, cs, maildir.Added, "INBOX")
	srv.Move(t, imaptest.UserAlice, "INBOX", "Contoso", uid)
	cs = r.wait(t, "the move", func(cs []maildir.Change) bool {
		return count(cs, maildir.Added, "Contoso") == 1 && count(cs, maildir.Removed, "INBOX") == 1
	})
	moved := keyOf(t, cs, maildir.Added, "Contoso")
	if moved == old {
		t.Error("the moved message kept its key")
	}
	if keyOf(t, cs, maildir.Removed, "INBOX") != old {
		t.Error("the removal is not of the old key")
	}
	if _, err := s.Envelope(old); !errors.Is(err, maildir.ErrGone) {
		t.Errorf("Envelope of the old key: %v, want ErrGone", err)
	}
	if env, err := s.Envelope(moved); err != nil || env.Subject != "Move me" {
		t.Errorf("Envelope of the moved message: %+v, %v", env, err)
	}

	names, err := s.Folders(context.Background())
	if err != nil || !slices.Contains(names, "Projects/Fabrikam") || !slices.Contains(names, "INBOX") || slices.Contains(names, "Projects") {
		t.Errorf("Folders = %q, %v; want the mailboxes with their separator, and no mere levels", names, err)
	}
	s.Watch([]string{"Contoso", "Projects/Fabrikam"})
	cs = r.wait(t, "the newly watched folder", atLeast(1, maildir.Added, "Projects/Fabrikam"))
	if env, err := s.Envelope(keyOf(t, cs, maildir.Added, "Projects/Fabrikam")); err != nil || env.Subject != "Already there" {
		t.Errorf("Envelope in the new folder: %+v, %v", env, err)
	}
	srv.Append(t, imaptest.UserAlice, "Projects/Fabrikam", message("c@fabrikam.example", "New there", "new@fabrikam.example", "x"))
	r.wait(t, "an arrival in the newly watched folder", atLeast(2, maildir.Added, "Projects/Fabrikam"))

	// Unwatching reports the folder's messages removed.
	s.Watch([]string{"Projects/Fabrikam"})
	r.wait(t, "the unwatched folder's removal", atLeast(1, maildir.Removed, "Contoso"))
	if _, ok := s.Folder(moved); ok {
		t.Error("a message of an unwatched folder is still known")
	}
}

// A mailbox deleted and created again has a new UIDVALIDITY: the same
// messages come back under new keys and the old keys are removed.
func TestUIDValidityChange(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	srv.CreateMailbox(t, imaptest.UserAlice, "Clients")
	msgs := [][]byte{
		message("a@example.com", "One", "one@example.com", "1"),
		message("b@example.com", "Two", "two@example.com", "2"),
	}
	for _, m := range msgs {
		srv.Append(t, imaptest.UserAlice, "Clients", m)
	}
	// Everything is older than Since: listed, but no header is prefetched.
	s := newSource(t, srv, func(o *Options) {
		o.Folders = []string{"Clients"}
		o.Since = time.Now().Add(time.Hour)
	})
	r := start(t, s)
	listed(t, s, r, 3)
	if n := s.envs.len(); n != 0 {
		t.Errorf("%d envelopes prefetched of messages older than Since", n)
	}
	var before []string
	for _, c := range r.all() {
		if c.Folder == "Clients" && c.Kind == maildir.Added {
			before = append(before, string(c.Key))
		}
	}
	if len(before) != 2 {
		t.Fatalf("first listing of Clients: %v", r.all())
	}
	v0 := validityOf(t, srv, "Clients")
	srv.DeleteMailbox(t, imaptest.UserAlice, "Clients")
	srv.CreateMailbox(t, imaptest.UserAlice, "Clients")
	for _, m := range msgs {
		srv.Append(t, imaptest.UserAlice, "Clients", m)
	}
	if v1 := validityOf(t, srv, "Clients"); v1 == v0 {
		t.Fatalf("UIDVALIDITY stayed %d", v0)
	}
	cs := r.wait(t, "new keys and the old removed", func(cs []maildir.Change) bool {
		return count(cs, maildir.Added, "Clients") == 4 && count(cs, maildir.Removed, "Clients") == 2
	})
	var removed, after []string
	for _, c := range cs {
		switch {
		case c.Folder != "Clients":
		case c.Kind == maildir.Removed:
			removed = append(removed, string(c.Key))
		case c.Kind == maildir.Added && !slices.Contains(before, string(c.Key)):
			after = append(after, string(c.Key))
		}
	}
	slices.Sort(before)
	slices.Sort(removed)
	if !slices.Equal(before, removed) {
		t.Errorf("removed %v, want the old keys %v", removed, before)
	}
	if len(after) != 2 {
		t.Errorf("new keys %v, want 2", after)
	}
	for _, k := range after {
		if env, err := s.Envelope(agentKey(k)); err != nil || env.MessageID == "" {
			t.Errorf("Envelope(%s) = %+v, %v", k, env, err)
		}
	}
}

// A server without IDLE is polled: an arrival is found within a poll.
func TestPollWithoutIdle(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.NoIdle())
	caps := srv.Capabilities(t, imaptest.UserAlice)
	if caps.Has(goimap.CapIdle) || !caps.Has(goimap.CapCondStore) {
		t.Fatalf("NoIdle server advertises %v", caps)
	}
	s := newSource(t, srv, func(o *Options) { o.Poll = 100 * time.Millisecond })
	r := start(t, s)
	listed(t, s, r, 2)
	srv.Append(t, imaptest.UserAlice, "Sent", message("Alice <alice@demo.local>", "Sent one", "sent@demo.local", "x"))
	cs := r.wait(t, "the polled arrival", atLeast(1, maildir.Added, "Sent"))
	if env, err := s.Envelope(keyOf(t, cs, maildir.Added, "Sent")); err != nil || env.Subject != "Sent one" {
		t.Errorf("Envelope = %+v, %v", env, err)
	}
	uid := srv.Append(t, imaptest.UserAlice, "INBOX", message("x@example.com", "Polled", "polled@example.com", "x"))
	r.wait(t, "an INBOX arrival", atLeast(1, maildir.Added, "INBOX"))
	srv.Move(t, imaptest.UserAlice, "INBOX", "Sent", uid)
	r.wait(t, "the polled move", func(cs []maildir.Change) bool {
		return count(cs, maildir.Removed, "INBOX") == 1 && count(cs, maildir.Added, "Sent") == 2
	})
}

// agentKey converts a key kept as a string.
func agentKey(k string) agent.MessageKey { return agent.MessageKey(k) }

// At most five mailboxes are kept in IDLE; the rest are polled. IDLE is
// renewed every IdleRestart and keeps reporting arrivals.
func TestIdleLimitAndRenewal(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	folders := []string{"F1", "F2", "F3", "F4", "F5"}
	for _, f := range folders {
		srv.CreateMailbox(t, imaptest.UserAlice, f)
	}
	s := newSource(t, srv, func(o *Options) {
		o.Folders = folders
		o.Poll = 100 * time.Millisecond
		o.IdleRestart = 50 * time.Millisecond
	})
	r := start(t, s)
	listed(t, s, r, 7)
	r.wait(t, "five IDLE connections", func([]maildir.Change) bool { return s.idles.Load() == maxIdle })
	time.Sleep(200 * time.Millisecond) // let IDLE be renewed a few times
	if n := s.idles.Load(); n > maxIdle {
		t.Errorf("%d connections in IDLE, want at most %d", n, maxIdle)
	}
	srv.Append(t, imaptest.UserAlice, "F5", message("a@example.com", "Polled folder", "f5@example.com", "x"))
	srv.Append(t, imaptest.UserAlice, "F3", message("a@example.com", "Idle folder", "f3@example.com", "x"))
	r.wait(t, "arrivals in an IDLE and a polled folder", func(cs []maildir.Change) bool {
		return count(cs, maildir.Added, "F5") == 1 && count(cs, maildir.Added, "F3") == 1
	})
}

// Folders works without Run, on a connection of its own.
func TestFoldersWithoutRun(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	s := newSource(t, srv)
	names, err := s.Folders(context.Background())
	if err != nil || !slices.Equal(names, []string{"INBOX", "Sent"}) && !slices.Equal(names, []string{"Sent", "INBOX"}) {
		t.Errorf("Folders = %q, %v", names, err)
	}
	if _, err := s.Envelope("0123456789abcdef0123456789abcdef"); !errors.Is(err, maildir.ErrGone) {
		t.Errorf("Envelope of an unknown key: %v", err)
	}
	if _, err := s.Body("0123456789abcdef0123456789abcdef"); !errors.Is(err, maildir.ErrGone) {
		t.Errorf("Body of an unknown key: %v", err)
	}
}

// A missed envelope is fetched with those of the next recent messages,
// which a reader going through a listing asks for next; messages older
// than Since are fetched only when asked for.
func TestReadAhead(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	for i := range 3 {
		srv.Append(t, imaptest.UserAlice, "INBOX", message("a@example.com", fmt.Sprint("Message ", i), fmt.Sprint(i, "@example.com"), "x"))
	}
	for _, c := range []struct {
		since  time.Time
		cached int // after asking for the first
	}{{time.Time{}, 3}, {time.Now().Add(time.Hour), 1}} {
		s := newSource(t, srv, func(o *Options) { o.Since = c.since })
		r := start(t, s)
		listed(t, s, r, 2)
		var keys []agent.MessageKey
		for _, ch := range r.all() {
			keys = append(keys, ch.Key)
			s.envs.drop(ch.Key)
		}
		if len(keys) != 3 {
			t.Fatalf("listed %v", keys)
		}
		if env, err := s.Envelope(keys[0]); err != nil || env.Subject != "Message 0" {
			t.Fatalf("Envelope = %+v, %v", env, err)
		}
		if n := s.envs.len(); n != c.cached {
			t.Errorf("Since %v: %d envelopes cached after one miss, want %d", c.since, n, c.cached)
		}
	}
}
