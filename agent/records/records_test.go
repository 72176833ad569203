package records

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// TestFirstPassThenInStep: the first pass writes what the filters select,
// with the fields the administrator maps and nothing field security
// hides; the second finds nothing to do and reads no records.
func TestFirstPassThenInStep(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	sy := alice.syncer()
	rep := alice.pass(sy)
	t.Logf("first pass:\n%s", rep)

	ov, err := sy.Overview(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range AllKinds {
		if ov.Counts[k] == 0 {
			t.Errorf("the filters select no %s", k)
		}
		if got := rep.Kinds[k].ToItems.Created; got != ov.Counts[k] || rep.Kinds[k].Kept != ov.Counts[k] {
			t.Errorf("%s: %d items created, %d kept, want %d", k, got, rep.Kinds[k].Kept, ov.Counts[k])
		}
	}
	cards := alice.files(DefaultAddressBook)
	if len(cards) != ov.Counts[Contacts] {
		t.Fatalf("Radicale holds %d cards, want %d", len(cards), ov.Counts[Contacts])
	}
	cal := alice.files(DefaultCalendar)
	if len(cal) != ov.Counts[Appointments]+ov.Counts[Tasks] {
		t.Fatalf("Radicale holds %d calendar items, want %d", len(cal), ov.Counts[Appointments]+ov.Counts[Tasks])
	}
	// Every card carries its record's ID, and no home phone: alice may
	// not read that secured column.
	for name, b := range cards {
		it := decodeContact(t, b)
		if it.CRMID == "" || !strings.HasPrefix(name, "crm-"+it.CRMID) || it.UID != "crm-"+it.CRMID {
			t.Errorf("%s: CRM ID %q, UID %q", name, it.CRMID, it.UID)
		}
		if it.Values["HomePhone"] != "" || strings.Contains(string(b), "TEL;TYPE=home") {
			t.Errorf("%s carries a home phone alice may not read:\n%s", name, b)
		}
		if it.Values["Email1Address"] == "" || it.Values["FullName"] == "" {
			t.Errorf("%s lacks a name or an address: %v", name, it.Values)
		}
	}
	if !containsAll(ov.Policy.Hidden[Contacts], "telephone2") {
		t.Errorf("hidden columns = %v, want telephone2", ov.Policy.Hidden)
	}
	// The appointment alice organises with Contoso has its attendees.
	var review string
	for _, b := range cal {
		if strings.Contains(string(b), "Contoso quarterly review") {
			review = unfold(string(b))
		}
	}
	if review == "" || !strings.Contains(review, "ATTENDEE") || !strings.Contains(review, "LOCATION:Contoso HQ") {
		t.Fatalf("the review is missing or lacks its attendees:\n%s", review)
	}

	// In step: a second pass changes nothing. It reads the changes the
	// first pass made (the server's sync token moved with each write),
	// recognises them by their ETags and fetches no item; a third pass
	// finds the token unchanged and asks for nothing more.
	davBefore := alice.dav.Requests()
	rep = alice.pass(sy)
	if rep.Changed() || len(rep.Notices) > 0 {
		t.Fatalf("second pass changed something:\n%s", rep)
	}
	if n := alice.dav.Requests() - davBefore; n > 4 {
		t.Errorf("the second pass made %d DAV requests, want at most 4 (a PROPFIND and a REPORT per collection)", n)
	}
	davBefore, crmBefore := alice.dav.Requests(), f.crmHits.Load()
	rep = alice.pass(sy)
	if rep.Changed() || len(rep.Notices) > 0 {
		t.Fatalf("third pass changed something:\n%s", rep)
	}
	davN, crmN := alice.dav.Requests()-davBefore, f.crmHits.Load()-crmBefore
	t.Logf("third pass: %d DAV requests, %d CRM requests", davN, crmN)
	if davN > 2 || crmN > 6 {
		t.Errorf("an idle pass made %d DAV and %d CRM requests, want at most 2 and 6", davN, crmN)
	}
}

// TestEditsFlowByDirection: an edit on either side reaches the other
// where the field's direction allows; a conflicting edit keeps the CRM's
// value and says so; an edit against the direction is undone and said.
func TestEditsFlowByDirection(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	sy := alice.syncer(func(o *Options) { o.PolicyAge = 1 })
	alice.pass(sy)
	id := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	card, ok := alice.find(DefaultAddressBook, dav.AddressBook, id)
	if !ok {
		t.Fatalf("no card for contact %s", id)
	}

	// The address book to the CRM: a new job title.
	alice.edit(card, dav.AddressBook, `(?m)^TITLE[^:]*:.*$`, "TITLE:Head of Purchasing")
	rep := alice.pass(sy)
	if rep.Kinds[Contacts].ToCRM.Updated != 1 {
		t.Fatalf("pass after a card edit:\n%s", rep)
	}
	if got := alice.row("contacts", "contactid", id, "jobtitle")["jobtitle"]; got != "Head of Purchasing" {
		t.Fatalf("CRM job title = %v", got)
	}

	// The CRM to the address book: a new business phone.
	if _, err := alice.crm.UpdateRow(ctxT(t), "contacts", "contactid", id, 0, map[string]any{"telephone1": "+1 425 555 0199"}); err != nil {
		t.Fatal(err)
	}
	rep = alice.pass(sy)
	card, _ = alice.find(DefaultAddressBook, dav.AddressBook, id)
	if rep.Kinds[Contacts].ToItems.Updated != 1 || decodeContact(t, card.Data).Values["BusinessPhone"] != "+1 425 555 0199" {
		t.Fatalf("pass after a CRM edit:\n%s\n%s", rep, card.Data)
	}

	// Both sides: the CRM wins, and the user is told.
	alice.edit(card, dav.AddressBook, `(?m)^TITLE[^:]*:.*$`, "TITLE:Card title")
	if _, err := alice.crm.UpdateRow(ctxT(t), "contacts", "contactid", id, 0, map[string]any{"jobtitle": "CRM title"}); err != nil {
		t.Fatal(err)
	}
	rep = alice.pass(sy)
	card, _ = alice.find(DefaultAddressBook, dav.AddressBook, id)
	if rep.Kinds[Contacts].Conflicts != 1 || decodeContact(t, card.Data).Values["JobTitle"] != "CRM title" ||
		alice.row("contacts", "contactid", id, "jobtitle")["jobtitle"] != "CRM title" || !noticeHas(rep, "both in the CRM and in your address book") {
		t.Fatalf("conflict pass:\n%s\n%s", rep, card.Data)
	}

	// A field that flows to the address book only: the card's edit is
	// undone, and the user told.
	if err := f.crm.SetSyncDirection(ctxT(t), "contact", "jobtitle", 1); err != nil {
		t.Fatal(err)
	}
	alice.edit(card, dav.AddressBook, `(?m)^TITLE[^:]*:.*$`, "TITLE:Not sent")
	rep = alice.pass(sy)
	card, _ = alice.find(DefaultAddressBook, dav.AddressBook, id)
	if decodeContact(t, card.Data).Values["JobTitle"] != "CRM title" || alice.row("contacts", "contactid", id, "jobtitle")["jobtitle"] != "CRM title" ||
		!noticeHas(rep, "was not sent") {
		t.Fatalf("one-way pass:\n%s\n%s", rep, card.Data)
	}

	// A field the user may not read: an edit in the card never reaches
	// the CRM, and the CRM's value (which bob sees) stays.
	bob := f.as("bob")
	before := bob.row("contacts", "contactid", id, "telephone2")["telephone2"]
	card, _ = alice.find(DefaultAddressBook, dav.AddressBook, id)
	alice.edit(card, dav.AddressBook, `(?m)^END:VCARD`, "TEL;TYPE=home,voice:+1 206 555 0000\r\nEND:VCARD")
	alice.pass(sy)
	if after := bob.row("contacts", "contactid", id, "telephone2")["telephone2"]; after != before {
		t.Fatalf("alice's card overwrote the secured home phone: %v → %v", before, after)
	}
}

// TestRecordsLeaveAndItemsDeleted: a record that leaves the filters
// takes its item with it; an appointment the user owns and deletes in the
// calendar is deleted in the CRM; a colleague's is put back.
func TestRecordsLeaveAndItemsDeleted(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	sy := alice.syncer()
	alice.pass(sy)

	// A contact deactivated in the CRM leaves "My Outlook Contacts"; one
	// deleted in the CRM leaves too.
	gone := localcrm.DemoID("contact", "yvonne.mckay@fabrikam.example")
	deleted := localcrm.DemoID("contact", "susan.burk@example.com")
	for _, id := range []string{gone, deleted} {
		if _, ok := alice.find(DefaultAddressBook, dav.AddressBook, id); !ok {
			t.Fatalf("no card for %s to start with", id)
		}
	}
	if _, err := alice.crm.UpdateRow(ctxT(t), "contacts", "contactid", gone, 0, map[string]any{"statecode": 1, "statuscode": 2}); err != nil {
		t.Fatal(err)
	}
	if err := alice.crm.DeleteRow(ctxT(t), "contacts", deleted); err != nil {
		t.Fatal(err)
	}
	rep := alice.pass(sy)
	for _, id := range []string{gone, deleted} {
		if _, ok := alice.find(DefaultAddressBook, dav.AddressBook, id); ok {
			t.Errorf("the card of %s stayed after it left the filters:\n%s", id, rep)
		}
	}
	if rep.Kinds[Contacts].ToItems.Deleted != 2 {
		t.Errorf("pass:\n%s", rep)
	}

	// alice deletes her own appointment in the calendar: gone in the CRM.
	own := findSubject(t, alice, "Call with Fabrikam")
	if err := alice.dav.Delete(ctxT(t), own.Href, own.ETag); err != nil {
		t.Fatal(err)
	}
	crmID := itemOf(t, own).CRMID
	rep = alice.pass(sy)
	if rep.Kinds[Appointments].ToCRM.Deleted != 1 || alice.row("appointments", "activityid", crmID, "subject") != nil {
		t.Fatalf("alice's own appointment was not deleted in the CRM:\n%s", rep)
	}

	// alice deletes bob's appointment she attends: kept, and put back.
	theirs := findSubject(t, alice, "")
	if err := alice.dav.Delete(ctxT(t), theirs.Href, theirs.ETag); err != nil {
		t.Fatal(err)
	}
	theirID := itemOf(t, theirs).CRMID
	rep = alice.pass(sy)
	if alice.row("appointments", "activityid", theirID, "subject") == nil || !noticeHas(rep, "belongs to a colleague") {
		t.Fatalf("bob's appointment was deleted, or not explained:\n%s", rep)
	}
	if _, ok := alice.find(DefaultCalendar, dav.Calendar, theirID); !ok {
		t.Fatal("bob's appointment was not put back in alice's calendar")
	}
}

// findSubject returns alice's calendar item with that summary; "" finds
// the one bob organises.
func findSubject(t *testing.T, s *side, subject string) dav.Object {
	t.Helper()
	for name, b := range s.files(DefaultCalendar) {
		text := unfold(string(b))
		if (subject != "" && strings.Contains(text, "SUMMARY:"+subject)) ||
			(subject == "" && strings.Contains(text, "ORGANIZER") && strings.Contains(strings.ToLower(text), "bob@demo.local")) {
			o, ok := s.find(DefaultCalendar, dav.Calendar, itemOf(t, dav.Object{Data: b}).CRMID)
			if !ok {
				t.Fatalf("%s is in Radicale's storage but not on the server", name)
			}
			return o
		}
	}
	t.Fatalf("no calendar item %q", subject)
	return dav.Object{}
}

func itemOf(t *testing.T, o dav.Object) item.Item {
	t.Helper()
	it, err := item.DecodeEvent(o.Data)
	if err != nil {
		it, err = item.DecodeTask(o.Data)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", o.Data, err)
	}
	return it
}

func noticeHas(r Report, s string) bool {
	for _, n := range r.Notices {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestCacheHoldsOnlyIDs: after passes that wrote, merged and tracked, the
// cache file holds none of the records' values, no item names that are
// not IDs, and not the DAV account's user or collection names.
func TestCacheHoldsOnlyIDs(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	sy := alice.syncer()
	alice.pass(sy)
	card, ok := alice.find(DefaultAddressBook, dav.AddressBook, localcrm.DemoID("contact", "maria.campbell@contoso.example"))
	if !ok {
		t.Fatal("no card")
	}
	alice.edit(card, dav.AddressBook, `(?m)^TITLE[^:]*:.*$`, "TITLE:Head of Purchasing")
	alice.pass(sy)
	alice.store.Close()
	var raw []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, _ := os.ReadFile(filepath.Join(alice.dir, "cache.db"+suffix))
		raw = append(raw, b...)
	}
	for _, s := range []string{"Campbell", "Maria", "contoso", "Contoso", "Purchasing", "425 555", "quarterly review",
		"Fabrikam", "alice", "crm-contacts", "crm-calendar", "CRM contacts", "Seattle", "QBR"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the cache file holds %q", s)
		}
	}
}
