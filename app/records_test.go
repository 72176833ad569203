package app

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestChaosKill9Records kills the agent (SIGKILL, as kill -9) at random
// moments of its first pass over the address book and calendar, restarts
// it each time, and checks that once it is in step every record has
// exactly one item, and an event marked "Track in CRM" exactly one CRM
// appointment: nothing lost, nothing doubled, on either side.
func TestChaosKill9Records(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "crmsync")
	if out, err := exec.Command("go", "build", "-o", bin, "crmsync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	davSrv := davtest.Start(t)
	srv, crmURL := seededCRM(t)
	ctx := context.Background()
	alice, err := crm.New(crm.Config{URL: crmURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SignIn(ctx, "alice@demo.local", "demo-alice"); err != nil {
		t.Fatal(err)
	}
	// Enough contacts that the first pass takes seconds.
	extra := pick(150, 600)
	for i := range extra {
		if _, _, err := alice.CreateRow(ctx, "contacts", "contactid", map[string]any{
			"firstname": fmt.Sprintf("Chaos%04d", i), "lastname": "Contact", "emailaddress1": fmt.Sprintf("chaos%04d@customer.example", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
	// An event waiting to be tracked, in the calendar crmsync will use.
	acct := davSrv.Account("alice")
	dc, err := dav.New(acct, davSrv.Password("alice"), dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	homes, err := dc.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cal, _, err := dc.EnsureCalendar(ctx, homes, "CRM calendar", []string{"VEVENT", "VTODO"})
	if err != nil {
		t.Fatal(err)
	}
	const uid = "7a1e9f40-3c2b-4d8e-9f10-chaos0000001"
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\nBEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20261201T090000Z\r\n" +
		"DTSTART:" + time.Now().Add(96*time.Hour).UTC().Format("20060102T150000Z") + "\r\nDURATION:PT1H\r\nSUMMARY:Chaos review\r\n" +
		"CATEGORIES:Track in CRM\r\nATTENDEE;CN=Maria:mailto:maria.campbell@contoso.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if _, err := dc.Put(ctx, cal.Href+uid+".ics", []byte(ics), dav.Calendar, ""); err != nil {
		t.Fatal(err)
	}

	mdir, data := newMaildir(t), shortDir(t)
	davURL := strings.Replace(acct.URL, "://", "://alice@", 1)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent", "--crm", crmURL, "--user", "alice@demo.local", "--maildir", mdir,
			"--dav", davURL, "--data", data, "--password-stdin")
		cmd.Stdin = strings.NewReader("demo-alice\n" + davSrv.Password("alice") + "\n")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+data)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kills := pick(4, 15)
	cmd := start()
	for range kills {
		ms, _ := rand.Int(rand.Reader, big.NewInt(900))
		time.Sleep(time.Duration(300+ms.Int64()) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cmd = start()
	}
	inStep := waitUntil(3*time.Minute, func() bool {
		code, out, _ := runIn(t, "", "sync", "--data", data)
		return code == ExitOK && strings.Count(out, "to the CRM: nothing") == 3 && strings.Count(out, ": nothing · ") == 3
	})
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()

	ids := map[string]int{}
	for _, coll := range []string{"crm-contacts", "crm-calendar"} {
		for _, b := range davSrv.ItemFiles("alice", coll) {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "X-CRM-ID:"); ok {
					ids[v]++
				}
			}
		}
	}
	doubled := 0
	for _, n := range ids {
		if n > 1 {
			doubled++
		}
	}
	fx := `<fetch><entity name="appointment"><attribute name="activityid"/><filter>` +
		`<condition attribute="globalobjectid" operator="eq" value="` + uid + `"/></filter></entity></fetch>`
	appts, err := alice.FetchVersions(ctx, "appointments", "activityid", fx)
	if err != nil {
		t.Fatal(err)
	}
	contacts := len(davSrv.ItemFiles("alice", "crm-contacts"))
	wantContacts := 5 + extra // the demo's, and the ones made above
	_ = srv
	report(t, "kill-9-records", inStep && doubled == 0 && len(appts) == 1 && contacts == wantContacts,
		"kills=%d in_step=%v items=%d doubled=%d contacts=%d/%d tracked_event_appointments=%d",
		kills, inStep, len(ids), doubled, contacts, wantContacts, len(appts))
}
