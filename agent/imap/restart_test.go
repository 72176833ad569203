package imap

import (
	"testing"
	"time"

	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
)

// Dovecot restarted while the Source runs: mail delivered during the
// outage is reported once the Source has reconnected, nothing is missed
// and nothing is reported twice.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	srv.Append(t, imaptest.UserAlice, "INBOX", message("a@example.com", "Before", "before@example.com", "x"))
	s := newSource(t, srv)
	r := start(t, s)
	listed(t, s, r, 2)
	srv.Append(t, imaptest.UserAlice, "INBOX", message("b@example.com", "Live", "live@example.com", "x"))
	r.wait(t, "the live arrival", atLeast(2, maildir.Added, "INBOX"))

	t0 := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(t0))
	r.wait(t, "the Source to notice the outage", func([]maildir.Change) bool { return !s.connected() })
	srv.Deliver(t, imaptest.UserAlice, "INBOX", message("c@example.com", "During the outage", "outage@example.com", "x"))
	srv.Deliver(t, imaptest.UserAlice, "Sent", message("alice@demo.local", "Sent during the outage", "sent-outage@example.com", "x"))
	t0 = time.Now()
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started again in %s", time.Since(t0))
	r.wait(t, "the outage's mail", func(cs []maildir.Change) bool {
		return count(cs, maildir.Added, "INBOX") >= 3 && count(cs, maildir.Added, "Sent") >= 1
	})
	// A last arrival after the reconnection: once it is in, anything
	// reported twice would be too.
	srv.Append(t, imaptest.UserAlice, "INBOX", message("d@example.com", "After", "after@example.com", "x"))
	cs := r.wait(t, "the arrival after the restart", atLeast(4, maildir.Added, "INBOX"))

	seen := map[string]bool{}
	subjects := map[string]bool{}
	for _, c := range cs {
		if c.Kind != maildir.Added {
			t.Errorf("unexpected %s of %s in %s", c.Kind, c.Key, c.Folder)
			continue
		}
		if seen[string(c.Key)] {
			t.Errorf("%s reported twice", c.Key)
		}
		seen[string(c.Key)] = true
		env, err := s.Envelope(c.Key)
		if err != nil {
			t.Errorf("Envelope(%s): %v", c.Key, err)
			continue
		}
		subjects[env.Subject] = true
	}
	if len(cs) != 5 {
		t.Errorf("%d changes, want 5 Added: %v", len(cs), cs)
	}
	for _, want := range []string{"Before", "Live", "During the outage", "Sent during the outage", "After"} {
		if !subjects[want] {
			t.Errorf("%q was not reported", want)
		}
	}
}
