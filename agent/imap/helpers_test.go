package imap

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
)

// waitFor is how long a test waits for something that should take
// milliseconds; past it the test fails rather than hangs.
const waitFor = 10 * time.Second

// testLogger logs to the test when -v is given, and nowhere otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newSource returns a Source for alice on srv over plaintext loopback,
// with opts applied.
func newSource(t testing.TB, srv *imaptest.Server, edit ...func(*Options)) *Source {
	t.Helper()
	o := Options{
		Account:  srv.Account(imaptest.UserAlice, agent.SecurityNone),
		Password: imaptest.PasswordAlice,
		Salt:     []byte("test salt"),
		Logger:   testLogger(t),
		Poll:     200 * time.Millisecond,
	}
	for _, e := range edit {
		e(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recorder runs a Source and keeps every Change it sends.
type recorder struct {
	mu      sync.Mutex
	changes []maildir.Change
	err     error // what Run returned
	ended   bool
}

// start runs s until the test ends, reading its changes as fast as they
// come, and checks at the end that Run returned.
func start(t testing.TB, s *Source) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan maildir.Change) // unbuffered: the source must never depend on a buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := s.Run(ctx, out)
		r.mu.Lock()
		r.err, r.ended = err, true
		r.mu.Unlock()
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case c := <-out:
				r.mu.Lock()
				r.changes = append(r.changes, c)
				r.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return within %s of its context ending", waitFor)
		}
	})
	return r
}

// all returns the changes so far.
func (r *recorder) all() []maildir.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]maildir.Change(nil), r.changes...)
}

// wait polls until ok holds for the changes so far, failing the test
// with what was seen after waitFor.
func (r *recorder) wait(t testing.TB, what string, ok func([]maildir.Change) bool) []maildir.Change {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		cs := r.all()
		if ok(cs) {
			return cs
		}
		r.mu.Lock()
		ended, err := r.ended, r.err
		r.mu.Unlock()
		if ended {
			t.Fatalf("waiting for %s: Run returned %v; changes: %v", what, err, cs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s; changes: %v", what, waitFor, cs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count returns how many changes of kind in folder there are.
func count(cs []maildir.Change, kind maildir.ChangeKind, folder string) int {
	n := 0
	for _, c := range cs {
		if c.Kind == kind && (folder == "" || c.Folder == folder) {
			n++
		}
	}
	return n
}

// atLeast returns a wait condition: n changes of kind in folder.
func atLeast(n int, kind maildir.ChangeKind, folder string) func([]maildir.Change) bool {
	return func(cs []maildir.Change) bool { return count(cs, kind, folder) >= n }
}

// listed waits until n first listings are done (INBOX and Sent are two).
func listed(t testing.TB, s *Source, r *recorder, n int) {
	t.Helper()
	r.wait(t, "the first listings", func([]maildir.Change) bool {
		return s.lists.Load() >= int64(n) && s.connected()
	})
}

// connected reports whether the command connection is up.
func (s *Source) connected() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sess != nil
}

// message renders a small message.
func message(from, subject, id, body string, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: Alice Martin <alice@demo.local>\r\nSubject: %s\r\nMessage-ID: <%s>\r\n", from, subject, id)
	b.WriteString("Date: Mon, 01 Dec 2025 10:00:00 +0000\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(body + "\r\n")
	return []byte(b.String())
}

// keyOf finds the one change of kind in folder, failing the test unless
// there is exactly one.
func keyOf(t testing.TB, cs []maildir.Change, kind maildir.ChangeKind, folder string) agent.MessageKey {
	t.Helper()
	var found []agent.MessageKey
	for _, c := range cs {
		if c.Kind == kind && c.Folder == folder {
			found = append(found, c.Key)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s in %s, got %d: %v", kind, folder, len(found), cs)
	}
	return found[0]
}
