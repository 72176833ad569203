package app

import (
	"context"
	"strings"
	"testing"

	"crmsync/agent/crm"
	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
	"crmsync/agent/item"
)

// TestAgentKeepsRecordsInStep runs `crmsync agent --dav` against a real
// Radicale with the three passwords on standard input, in DESIGN's order
// (CRM, IMAP, DAV; here no IMAP): the address book and calendar are
// created and filled, `crmsync sync` prints what a pass changed by type
// and direction, and an edit made in the address book reaches the CRM.
func TestAgentKeepsRecordsInStep(t *testing.T) {
	davSrv := davtest.Start(t)
	_, crmURL := seededCRM(t)
	data := shortDir(t)
	acct := davSrv.Account("alice")
	davURL := strings.Replace(acct.URL, "://", "://alice@", 1)
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--user", "alice@demo.local", "--maildir", newMaildir(t),
			"--dav", davURL, "--data", data, "--password-stdin"},
			Stdio{In: strings.NewReader("demo-alice\n" + davSrv.Password("alice") + "\n"), Out: a.out, Err: a.errb})
	}()
	t.Cleanup(a.stop)
	waitFor(t, "the agent to sign in", func() bool {
		return strings.Contains(a.out.String(), "signed in as") || strings.Contains(a.errb.String(), "crmsync agent:")
	})
	waitFor(t, "the address book filled", func() bool {
		return len(davSrv.ItemFiles("alice", "crm-contacts")) > 0 && len(davSrv.ItemFiles("alice", "crm-calendar")) > 0
	})
	waitFor(t, "the status to say the address book is in step", func() bool {
		_, out, _ := run(t, "status", "--data", data)
		return strings.Contains(out, "Address book and calendar:") && strings.Contains(out, "in step at")
	})
	code, out, errs := run(t, "sync", "--data", data)
	if code != ExitOK {
		t.Fatalf("sync: %d %q %q", code, out, errs)
	}
	t.Logf("crmsync sync:\n%s", out)
	for _, want := range []string{"contacts", "appointments", "tasks", "kept in step", "to your address book", "to the CRM"} {
		if !strings.Contains(out, want) {
			t.Errorf("`crmsync sync` printed %q; want %q in it", out, want)
		}
	}
	// An edit in the address book, as an app makes it (PUT with
	// If-Match), reaches the CRM.
	dc, err := dav.New(acct, davSrv.Password("alice"), dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := dc.List(ctx, "/alice/crm-contacts/")
	if err != nil {
		t.Fatal(err)
	}
	var hrefs []string
	for _, r := range refs {
		hrefs = append(hrefs, r.Href)
	}
	objs, err := dc.Get(ctx, "/alice/crm-contacts/", dav.AddressBook, hrefs)
	if err != nil {
		t.Fatal(err)
	}
	var card dav.Object
	for _, o := range objs {
		if strings.Contains(string(o.Data), "TITLE:Purchasing Manager") {
			card = o
		}
	}
	if card.Href == "" {
		t.Fatal("no card for Maria Campbell")
	}
	it, err := item.DecodeContact(card.Data)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(card.Data), "TITLE:Purchasing Manager", "TITLE:Chief Buyer", 1)
	if _, err := dc.Put(ctx, card.Href, []byte(edited), dav.AddressBook, card.ETag); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "sync", "--data", data)
	if code != ExitOK || !strings.Contains(out, "to the CRM: 0 created, 1 updated, 0 deleted") {
		t.Fatalf("sync after an edit: %d %q %q", code, out, errs)
	}
	bob, err := crm.New(crm.Config{URL: crmURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		t.Fatal(err)
	}
	rows, err := bob.Rows(ctx, "contacts", "contactid", []string{it.CRMID}, []string{"contactid", "jobtitle"}, "")
	if err != nil || len(rows) != 1 || rows[0]["jobtitle"] != "Chief Buyer" {
		t.Fatalf("the CRM contact after the edit: %v %v", rows, err)
	}
}

// TestAgentDAVFlagsRefusedClearly checks the command line's refusals for
// the address book and calendar server.
func TestAgentDAVFlagsRefusedClearly(t *testing.T) {
	mdir := newMaildir(t)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"demo-alice\n", []string{"--dav", "https://alice@dav.example.com/", "--user", "alice@demo.local", "--password-stdin"},
			"its second line must be the address book and calendar (DAV) password"},
		{"", []string{"--dav", "http://alice@dav.example.com/"}, "refusing http://"},
		{"", []string{"--dav", "https://dav.example.com/"}, "no user name"},
		{"", []string{"--dav", "https://alice:secret@dav.example.com/"}, "do not put the password in the address"},
		{"", []string{"--dav", "https://alice@dav.example.com/", "--records", "contacts,notes"}, `"notes" is not a record type`},
	} {
		args := append([]string{"agent", "--crm", "http://127.0.0.1:1", "--maildir", mdir, "--data", shortDir(t)}, c.args...)
		code, _, errs := runIn(t, c.stdin, args...)
		if code != ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want usage saying %q", c.args, code, errs, c.want)
		}
	}
}
