package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/track"
)

// mkfolder makes the Maildir++ folder name under the harness's Maildir.
func (h *harness) mkfolder(name string) {
	h.t.Helper()
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(h.mdir, name, d), 0o700); err != nil {
			h.t.Fatal(err)
		}
	}
}

// moveTo moves message key from wherever it is to folder's cur/ ("" for
// the inbox), as a mail client does when the user drags it there.
func (h *harness) moveTo(key agent.MessageKey, folder string) {
	h.t.Helper()
	found, _ := filepath.Glob(filepath.Join(h.mdir, "*", string(key)+"*"))
	more, _ := filepath.Glob(filepath.Join(h.mdir, ".*", "*", string(key)+"*"))
	found = append(found, more...)
	if len(found) != 1 {
		h.t.Fatalf("message %s found at %v", key, found)
	}
	if err := os.Rename(found[0], filepath.Join(h.mdir, folder, "cur", string(key)+":2,S")); err != nil {
		h.t.Fatal(err)
	}
}

// record finds a demo record by name, live, as the settings window does.
func record(t *testing.T, e *running, entity, name string) agent.RecordRef {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	refs, err := e.SearchRecords(ctx, name, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if r.Entity == entity && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q in %v", entity, name, refs)
	return agent.RecordRef{}
}

// message reads k's cache row.
func message(t *testing.T, e *running, k agent.MessageKey) cache.Message {
	t.Helper()
	m, _, err := e.store.Message(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func regardingIs(m cache.Message, r agent.RecordRef) bool {
	return m.State == agent.Tracked && m.Regarding != nil && m.Regarding.Entity == r.Entity && strings.EqualFold(m.Regarding.ID, r.ID)
}

// TestFolderRuleTracksMailMovedIntoMaildirFolder maps a Maildir++ folder
// to an account: mail moved into it and mail delivered into it is tracked
// regarding the account, whatever the automatic choice says; moving it out
// does not untrack it; the rule lives in the CRM and the cache keeps no
// folder name.
func TestFolderRuleTracksMailMovedIntoMaildirFolder(t *testing.T) {
	h := newHarness(t)
	h.mkfolder(".Contoso deal")
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	ctx := context.Background()
	acct := record(t, e, "account", "Tailspin Toys")

	// A stranger's mail is not tracked automatically...
	h.deliver(k(1), "Sam Stranger <sam@unknown.example>", "Lunch?", "rule-1@unknown.example")
	waitFor(t, "the stranger's mail decided", func() bool {
		return message(t, e, k(1)).Reason == int(track.ReasonNoCRMMatch)
	})

	if _, err := e.AddFolderRule(ctx, ".Nowhere", acct); err == nil || !strings.Contains(err.Error(), "no folder") {
		t.Fatalf("mapping a folder that does not exist: %v; want a refusal naming the folders", err)
	}
	if _, err := e.AddFolderRule(ctx, "INBOX", acct); err == nil {
		t.Fatal("mapping the inbox itself was accepted")
	}
	rule, err := e.AddFolderRule(ctx, ".Contoso deal", acct)
	if err != nil || rule.Regarding.Name != "Tailspin Toys" {
		t.Fatalf("AddFolderRule = %+v, %v; want the rule with the record's name", rule, err)
	}
	rules, err := e.FolderRules(ctx)
	if err != nil || len(rules) != 1 || rules[0].Folder != ".Contoso deal" || rules[0].ID != rule.ID ||
		rules[0].Regarding.Name != "Tailspin Toys" {
		t.Fatalf("FolderRules = %+v, %v; want the one rule, with the account's name", rules, err)
	}

	// ...but once moved into the mapped folder it is, regarding the account.
	h.moveTo(k(1), ".Contoso deal")
	waitFor(t, "the moved mail tracked regarding the account", func() bool { return regardingIs(message(t, e, k(1)), acct) })
	if m := message(t, e, k(1)); m.Reason != int(track.ReasonFolderRule) {
		t.Errorf("reason = %v, want the folder rule", track.Reason(m.Reason))
	}

	// Mail delivered straight into the folder is tracked the same way,
	// even from a slow writer: seen while still empty, it is read again
	// once it settles rather than dropped.
	msg := fmt.Sprintf("From: Ann Other <ann@elsewhere.example>\r\nTo: alice@demo.local\r\nSubject: Filed\r\nMessage-ID: <rule-2@elsewhere.example>\r\nDate: %s\r\n\r\nHi.\r\n",
		time.Now().Format(time.RFC1123Z))
	f, err := os.OpenFile(filepath.Join(h.mdir, ".Contoso deal", "new", string(k(2))), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the source sees the empty file and cannot read it yet
	if _, err := f.WriteString(msg); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mail delivered into the folder tracked", func() bool { return regardingIs(message(t, e, k(2)), acct) })

	// Moving it out does not untrack it.
	h.moveTo(k(1), "")
	time.Sleep(300 * time.Millisecond) // past the Maildir's debounce
	if m := message(t, e, k(1)); !regardingIs(m, acct) {
		t.Fatalf("after moving out: %+v; want still tracked regarding the account", m)
	}
	if n := h.inCRM("<rule-1@unknown.example>"); n != 1 {
		t.Fatalf("the CRM has %d copies of the moved mail, want 1", n)
	}

	if err := e.RemoveFolderRule(ctx, ".Contoso deal"); err != nil {
		t.Fatal(err)
	}
	if rules, err := e.FolderRules(ctx); err != nil || len(rules) != 0 {
		t.Fatalf("after removing: %+v, %v", rules, err)
	}
	if err := e.RemoveFolderRule(ctx, ".Contoso deal"); err == nil {
		t.Fatal("removing a rule that is gone succeeded")
	}
	e.stop()
	b, err := os.ReadFile(h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"Contoso", "Tailspin", "unknown.example", "Lunch"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the cache file holds %q", secret)
		}
	}
}

// TestFolderRulesLimit fills the mailbox's 25 rules and checks the 26th is
// refused with a sentence that says what to do.
func TestFolderRulesLimit(t *testing.T) {
	h := newHarness(t)
	for i := range agent.MaxFolderRules + 1 {
		h.mkfolder(fmt.Sprintf(".F%02d", i))
	}
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	ctx := context.Background()
	acct := record(t, e, "account", "Contoso Ltd")
	for i := range agent.MaxFolderRules {
		if _, err := e.AddFolderRule(ctx, fmt.Sprintf(".F%02d", i), acct); err != nil {
			t.Fatalf("rule %d: %v", i+1, err)
		}
	}
	_, err := e.AddFolderRule(ctx, fmt.Sprintf(".F%02d", agent.MaxFolderRules), acct)
	if err == nil || !strings.Contains(err.Error(), "remove one") {
		t.Fatalf("the 26th rule: %v; want a refusal that says to remove one", err)
	}
	// Remapping a folder that has a rule replaces it, even at the limit.
	other := record(t, e, "account", "Fabrikam Inc")
	if _, err := e.AddFolderRule(ctx, ".F00", other); err != nil {
		t.Fatalf("remapping at the limit: %v", err)
	}
	rules, err := e.FolderRules(ctx)
	if err != nil || len(rules) != agent.MaxFolderRules || rules[0].Folder != ".F00" || rules[0].Regarding.ID != other.ID {
		t.Fatalf("rules after remapping = %d, %+v, %v", len(rules), rules[0], err)
	}
}
