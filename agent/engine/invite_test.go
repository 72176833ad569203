package engine

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/dav/davtest"
)

// invitation is a meeting request as Outlook sends one: a text part, an
// HTML part and the iCalendar request, base64-encoded.
func invitation(from, uid, id string, start time.Time) string {
	ics := "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n" +
		"ORGANIZER;CN=Maria Campbell:mailto:maria.campbell@contoso.example\r\n" +
		"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;CN=Alice Martin:mailto:alice@demo.local\r\n" +
		"ATTENDEE;ROLE=OPT-PARTICIPANT;CN=Thomas Andersen:mailto:thomas.andersen@contoso.example\r\n" +
		"SUMMARY:Delivery schedule review\r\nDTSTART:" + start.UTC().Format("20060102T150405Z") + "\r\n" +
		"DTEND:" + start.Add(time.Hour).UTC().Format("20060102T150405Z") + "\r\nUID:" + uid + "\r\n" +
		"LOCATION:Contoso HQ\r\nDESCRIPTION:Let us go through the new delivery dates.\r\nDTSTAMP:20261201T090000Z\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	b64 := encodeBase64Lines(ics)
	return fmt.Sprintf("From: %s\r\nTo: alice@demo.local\r\nSubject: Invitation: Delivery schedule review\r\nMessage-ID: <%s>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLet us go through the new delivery dates.\r\n"+
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Let us go through the new delivery dates.</p>\r\n"+
		"--b1\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n",
		from, id, time.Now().Format(time.RFC1123Z), b64)
}

// TestInvitationByMailTrackedAsAppointment: a meeting request from a CRM
// contact is tracked as mail is, and its meeting becomes an appointment
// regarding the contact, with the parties resolved, exactly once even
// when the message is tracked again.
func TestInvitationByMailTrackedAsAppointment(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })

	const uid = "040000008200E00074C5B7101A82E00800000000invite-1"
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	msg := invitation("Maria Campbell <maria.campbell@contoso.example>", uid, "invite-1@contoso.example", start)
	tmp := filepath.Join(h.mdir, "tmp", string(k(900)))
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.mdir, "new", string(k(900)))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invitation tracked", func() bool { return h.inCRM("<invite-1@contoso.example>") == 1 })

	c, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		t.Fatal(err)
	}
	id := crm.DerivedID(mustUserID(h, "alice@demo.local"), uid)
	var row map[string]any
	waitFor(t, "the appointment in the CRM", func() bool {
		rows, err := c.Rows(ctx, "appointments", "activityid", []string{id},
			[]string{"activityid", "subject", "location", "globalobjectid", "scheduledstart", "_regardingobjectid_value"},
			"appointment_activity_parties($select=participationtypemask,addressused,_partyid_value)")
		if err != nil || len(rows) != 1 {
			return false
		}
		row = rows[0]
		return true
	})
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	if row["subject"] != "Delivery schedule review" || row["globalobjectid"] != uid || row["location"] != "Contoso HQ" ||
		!strings.EqualFold(fmt.Sprint(row["_regardingobjectid_value"]), maria) {
		t.Fatalf("appointment = %v", row)
	}
	parties, _ := row["appointment_activity_parties"].([]any)
	masks := map[float64]int{}
	for _, p := range parties {
		masks[p.(map[string]any)["participationtypemask"].(float64)]++
	}
	if masks[7] != 1 || masks[5] != 1 || masks[6] != 1 {
		t.Fatalf("parties by mask = %v, want an organizer, a required and an optional attendee", masks)
	}
	got, err := time.Parse(time.RFC3339, fmt.Sprint(row["scheduledstart"]))
	if err != nil || !got.Equal(start) {
		t.Fatalf("scheduledstart = %v, want %v", row["scheduledstart"], start)
	}
	// Tracked again by hand: the same copy, the same appointment.
	ctxT, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.Untrack(ctxT, k(900)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "untracked", func() bool { return h.inCRM("<invite-1@contoso.example>") == 0 })
	if err := e.Track(ctxT, k(900), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "tracked again", func() bool { return h.inCRM("<invite-1@contoso.example>") == 1 })
	fx := `<fetch><entity name="appointment"><attribute name="activityid"/><filter>` +
		`<condition attribute="globalobjectid" operator="eq" value="` + uid + `"/></filter></entity></fetch>`
	rows, err := c.FetchVersions(ctx, "appointments", "activityid", fx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("appointments with the meeting's UID: %v, %v; want exactly one", rows, err)
	}
}

// encodeBase64Lines encodes s in base64 lines of 76 characters, as mail
// does.
func encodeBase64Lines(s string) string {
	enc := base64.StdEncoding.EncodeToString([]byte(s))
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}

// TestInvitationReachesCalendarAtOnce: with the address book and calendar
// kept in step, a meeting request tracked by mail is in the calendar
// within seconds, not at the next pass two minutes later.
func TestInvitationReachesCalendarAtOnce(t *testing.T) {
	h := newHarness(t)
	dav := davtest.Start(t)
	acct := dav.Account(davtest.UserAlice)
	rs := agent.RecordSync{DAV: agent.DAVAccount{URL: acct.URL, Username: acct.Username}, Appointments: true}
	h.passwords[rs.DAV.Display()] = dav.Password(davtest.UserAlice)
	h.settings.Update(func(s *agent.Settings) { s.Records = rs })
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "the first pass", func() bool { return strings.Contains(e.Status().Records, "in step at") })
	before := len(dav.ItemFiles(davtest.UserAlice, "crm-calendar"))

	const uid = "040000008200E00074C5B7101A82E00800000000invite-2"
	msg := invitation("Maria Campbell <maria.campbell@contoso.example>", uid, "invite-2@contoso.example", time.Now().Add(72*time.Hour).Truncate(time.Hour))
	tmp := filepath.Join(h.mdir, "tmp", string(k(901)))
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.mdir, "new", string(k(901)))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the meeting in the calendar", func() bool {
		for _, b := range dav.ItemFiles(davtest.UserAlice, "crm-calendar") {
			if strings.Contains(string(b), "Delivery schedule review") {
				return true
			}
		}
		return false
	})
	if n := len(dav.ItemFiles(davtest.UserAlice, "crm-calendar")); n != before+1 {
		t.Fatalf("the calendar holds %d items, want %d", n, before+1)
	}
}
