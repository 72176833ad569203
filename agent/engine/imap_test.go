package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
)

// imapMessage is a message as a mail server would store it.
func imapMessage(from, subject, id string) []byte {
	return fmt.Appendf(nil, "From: %s\r\nTo: alice@demo.local\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nThe body of %s.\r\n",
		from, subject, id, time.Now().Format(time.RFC1123Z), subject)
}

// itemWith waits for the recent item with subject that satisfies ok, and
// returns it.
func itemWith(t *testing.T, e *running, subject string, what string, ok func(agent.Item) bool) agent.Item {
	t.Helper()
	var found agent.Item
	waitFor(t, what, func() bool {
		items, err := e.RecentItems(context.Background(), 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Subject == subject && ok(it) {
				found = it
				return true
			}
		}
		return false
	})
	return found
}

func tracked(it agent.Item) bool { return it.Track == agent.Tracked }

func trackedRegarding(r agent.RecordRef) func(agent.Item) bool {
	return func(it agent.Item) bool {
		return it.Track == agent.Tracked && it.Regarding != nil && strings.EqualFold(it.Regarding.ID, r.ID)
	}
}

// TestIMAPAccount runs the engine on a real Dovecot: mail arriving through
// IDLE is decided and tracked; a folder rule tracks mail moved into the
// folder regarding its record; a server restart loses nothing; a mailbox
// recreated with a new UIDVALIDITY tracks nothing twice; and the cache
// holds no folder name, address or subject.
func TestIMAPAccount(t *testing.T) {
	srv := imaptest.Start(t)
	h := newHarness(t)
	acct := srv.Account("alice", agent.SecuritySTARTTLS)
	h.passwords[acct.URL()] = srv.Password("alice")
	h.settings.Update(func(s *agent.Settings) { s.IMAP = acct })
	srv.CreateMailbox(t, "alice", "INBOX/Contoso deal")
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online, watching the IMAP account", func() bool {
		st := e.Status()
		return st.State == agent.StateOnline && st.Mail == acct.URL() && len(st.Warnings) == 0
	})
	ctx := context.Background()

	// A contact's mail arrives through IDLE and is tracked.
	srv.Append(t, "alice", "INBOX", imapMessage("Maria Campbell <maria.campbell@contoso.example>", "Quote for 250 laptops", "imap-1@contoso.example"))
	itemWith(t, e, "Quote for 250 laptops", "the contact's mail tracked", tracked)

	// A folder rule: a stranger's mail moved into the folder is tracked
	// regarding the rule's account.
	acc := record(t, e, "account", "Contoso Ltd")
	folders, err := e.MailFolders(ctx)
	if err != nil || !strings.Contains(strings.Join(folders, "|"), "INBOX/Contoso deal") {
		t.Fatalf("MailFolders = %v, %v", folders, err)
	}
	if _, err := e.AddFolderRule(ctx, "INBOX/Contoso deal", acc); err != nil {
		t.Fatal(err)
	}
	uid := srv.Append(t, "alice", "INBOX", imapMessage("Sam Stranger <sam@unknown.example>", "Lunch on Friday?", "imap-2@unknown.example"))
	itemWith(t, e, "Lunch on Friday?", "the stranger's mail decided", func(it agent.Item) bool { return it.Track == agent.Untracked })
	srv.Move(t, "alice", "INBOX", "INBOX/Contoso deal", uid)
	moved := itemWith(t, e, "Lunch on Friday?", "the moved mail tracked regarding the account", trackedRegarding(acc))

	// The server restarts; mail that arrives after it is back is tracked.
	srv.Restart(t)
	srv.Append(t, "alice", "INBOX", imapMessage("Thomas Andersen <thomas.andersen@contoso.example>", "After the restart", "imap-3@contoso.example"))
	itemWith(t, e, "After the restart", "mail after a server restart tracked", tracked)

	// The mapped folder is recreated (a new UIDVALIDITY) with the same
	// message: it is relearned by Message-ID, and not tracked twice.
	srv.DeleteMailbox(t, "alice", "INBOX/Contoso deal")
	srv.CreateMailbox(t, "alice", "INBOX/Contoso deal")
	srv.Append(t, "alice", "INBOX/Contoso deal", imapMessage("Sam Stranger <sam@unknown.example>", "Lunch on Friday?", "imap-2@unknown.example"))
	again := trackedRegarding(acc)
	itemWith(t, e, "Lunch on Friday?", "the recreated folder's message relearned", func(it agent.Item) bool {
		return it.Key != moved.Key && again(it)
	})
	waitFor(t, "the outbox empty", func() bool { return e.Status().Pending == 0 })
	for _, id := range []string{"<imap-1@contoso.example>", "<imap-2@unknown.example>", "<imap-3@contoso.example>"} {
		if n := h.inCRM(id); n != 1 {
			t.Errorf("the CRM has %d copies of %s, want 1", n, id)
		}
	}
	e.stop()
	b, err := os.ReadFile(h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Contoso", "contoso.example", "unknown.example", "Lunch", "INBOX", "alice"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the cache file holds %q", secret)
		}
	}
}
