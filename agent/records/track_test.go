package records

import (
	"fmt"
	"strings"
	"testing"

	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// event is an invitation-like event a calendar app would write.
func event(uid, summary, attendee string, track bool) string {
	cat := ""
	if track {
		cat = "CATEGORIES:" + item.TrackCategory + "\r\n"
	}
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp//Calendar 1.0//EN\r\nBEGIN:VEVENT\r\n" +
		"UID:" + uid + "\r\nDTSTAMP:20261201T090000Z\r\nDTSTART:20261210T150000Z\r\nDTEND:20261210T160000Z\r\n" +
		"SUMMARY:" + summary + "\r\nDESCRIPTION:Budget figures for the secret project\r\n" + cat +
		"ORGANIZER;CN=Alice Martin:mailto:alice@demo.local\r\n" +
		"ATTENDEE;ROLE=REQ-PARTICIPANT;CN=Guest:mailto:" + attendee + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

// TestTrackEventFromCalendar: an event the user marks "Track in CRM" with
// a CRM contact as attendee becomes a CRM appointment with its parties,
// and the item gets the record's ID; before that decision only the
// addresses left the device. An event without one is left alone, and
// the user told once.
func TestTrackEventFromCalendar(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	sy := alice.syncer()
	alice.pass(sy)
	ctx := ctxT(t)
	homes, err := alice.dav.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cal dav.Collection
	for _, c := range homes.Calendars {
		if c.Name == DefaultCalendar {
			cal = c
		}
	}
	const uid = "5f0c1c8e-8a47-4f7e-9d39-2b7c3a3f6d10"
	href := cal.Href + uid + ".ics"
	if _, err := alice.dav.Put(ctx, href, []byte(event(uid, "Pricing workshop", "maria.campbell@contoso.example", true)), dav.Calendar, ""); err != nil {
		t.Fatal(err)
	}
	stranger := cal.Href + "9a1d2f44-0c61-4c39-8f5e-2f8f6b1e7a55.ics"
	if _, err := alice.dav.Put(ctx, stranger, []byte(event("9a1d2f44-0c61-4c39-8f5e-2f8f6b1e7a55", "Dentist", "reception@dentist.example", true)), dav.Calendar, ""); err != nil {
		t.Fatal(err)
	}
	private := cal.Href + "0b7e5a35-14c9-4a77-a6f1-0f7e1b6d3c21.ics"
	if _, err := alice.dav.Put(ctx, private, []byte(event("0b7e5a35-14c9-4a77-a6f1-0f7e1b6d3c21", "Lunch with Maria", "maria.campbell@contoso.example", false)), dav.Calendar, ""); err != nil {
		t.Fatal(err)
	}
	// A lead counts as an attendee the CRM knows.
	leadID, _, err := alice.crm.CreateRow(ctx, "leads", "leadid", map[string]any{
		"firstname": "Lena", "lastname": "Prospect", "emailaddress1": "lena@prospect.example", "subject": "Interested in laptops"})
	if err != nil {
		t.Fatal(err)
	}
	const leadUID = "3c9d2b10-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	if _, err := alice.dav.Put(ctx, cal.Href+leadUID+".ics", []byte(event(leadUID, "Demo for a prospect", "lena@prospect.example", true)), dav.Calendar, ""); err != nil {
		t.Fatal(err)
	}
	before := len(f.wireLog())
	rep := alice.pass(sy)
	if rep.Kinds[Appointments].ToCRM.Created != 2 || !noticeHas(rep, "none of its attendees") {
		t.Fatalf("pass:\n%s", rep)
	}
	leadAppt := alice.row("appointments", "activityid", recordID(alice.userID, leadUID), "subject")
	if leadAppt == nil {
		t.Fatal("the event with a lead as attendee was not tracked")
	}
	parties, err := alice.crm.Rows(ctx, "appointments", "activityid", []string{recordID(alice.userID, leadUID)}, []string{"activityid"},
		"appointment_activity_parties($select=participationtypemask,_partyid_value)")
	if err != nil || len(parties) != 1 || !strings.Contains(fmt.Sprint(parties[0]["appointment_activity_parties"]), leadID) {
		t.Fatalf("the lead is not a party of its appointment: %v %v", parties, err)
	}
	got, err := alice.dav.Get(ctx, cal.Href, dav.Calendar, []string{href})
	if err != nil || len(got) != 1 {
		t.Fatalf("get the tracked event: %v", err)
	}
	it := itemOf(t, got[0])
	if it.CRMID == "" || it.UID != uid {
		t.Fatalf("the tracked event has CRM ID %q and UID %q", it.CRMID, it.UID)
	}
	row := alice.row("appointments", "activityid", it.CRMID, "subject", "globalobjectid", "description")
	if row == nil || row["subject"] != "Pricing workshop" || row["globalobjectid"] != uid {
		t.Fatalf("CRM appointment = %v", row)
	}
	// The wire: the summary and the description crossed only in the
	// create of the tracked event; the other two never crossed.
	created := false
	for _, line := range f.wireLog()[before:] {
		if strings.HasPrefix(line, "POST ") && strings.Contains(line, "/appointments") {
			created = true
			continue
		}
		for _, secret := range []string{"Pricing workshop", "secret project", "Dentist", "Lunch with Maria"} {
			if strings.Contains(line, secret) && !(created && secret != "Dentist" && secret != "Lunch with Maria") {
				t.Errorf("%q crossed the wire outside the tracked create: %s", secret, line)
			}
		}
	}
	// The next pass tracks nothing twice and says nothing again.
	rep = alice.pass(sy)
	if rep.Kinds[Appointments].ToCRM.Created != 0 || noticeHas(rep, "none of its attendees") {
		t.Fatalf("second pass:\n%s", rep)
	}
}
