package compose

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"crmsync/agent/item"
)

func sampleMeeting() Meeting {
	berlin := time.FixedZone("CET", 3600)
	return Meeting{
		UID:         "crm-appointment-4711@crmsync.invalid",
		Sequence:    2,
		Organizer:   Address{Name: "Ann Example", Addr: "ann@example.com"},
		Required:    []Address{{Name: `Doe, "Jim"`, Addr: "jim@example.org"}, {Name: "Jörg Müller", Addr: "joerg@example.org"}},
		Optional:    []Address{{Addr: "carol@example.net"}},
		Subject:     "Review; budget, Q2",
		Location:    "Room 1, Floor 2",
		Description: "Agenda:\r\n1. numbers\n2. plans \\ ideas",
		Start:       time.Date(2026, 3, 5, 10, 0, 0, 0, berlin),
		End:         time.Date(2026, 3, 5, 11, 30, 0, 0, berlin),
	}
}

func decodeICS(t *testing.T, data []byte) *ical.Calendar {
	t.Helper()
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatalf("go-ical cannot read the invitation: %v\n%s", err, data)
	}
	return cal
}

func TestInvitation(t *testing.T) {
	m := sampleMeeting()
	data, err := Invitation(m)
	if err != nil {
		t.Fatal(err)
	}
	checkICSLines(t, data)
	cal := decodeICS(t, data)
	for prop, want := range map[string]string{ical.PropMethod: "REQUEST", ical.PropVersion: "2.0", ical.PropProductID: "-//crmsync//EN"} {
		if p := cal.Props.Get(prop); p == nil || p.Value != want {
			t.Errorf("%s = %v, want %q", prop, p, want)
		}
	}
	events := cal.Events()
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	ev := events[0]
	for prop, want := range map[string]string{
		ical.PropUID:           m.UID,
		ical.PropSequence:      "2",
		ical.PropDateTimeStamp: "20260301T083000Z",
		ical.PropDateTimeStart: "20260305T090000Z",
		ical.PropDateTimeEnd:   "20260305T103000Z",
		ical.PropStatus:        "CONFIRMED",
		ical.PropOrganizer:     "mailto:ann@example.com",
	} {
		if p := ev.Props.Get(prop); p == nil || p.Value != want {
			t.Errorf("%s = %v, want %q", prop, p, want)
		}
	}
	if s, err := ev.Props.Text(ical.PropSummary); err != nil || s != m.Subject {
		t.Errorf("SUMMARY = %q, %v", s, err)
	}
	if cn := ev.Props.Get(ical.PropOrganizer).Params.Get(ical.ParamCommonName); cn != "Ann Example" {
		t.Errorf("ORGANIZER CN = %q", cn)
	}
	att := ev.Props.Values(ical.PropAttendee)
	if len(att) != 3 {
		t.Fatalf("%d attendees", len(att))
	}
	for i, want := range []struct{ addr, role, cn string }{
		{"mailto:jim@example.org", "REQ-PARTICIPANT", `Doe, 'Jim'`},
		{"mailto:joerg@example.org", "REQ-PARTICIPANT", "Jörg Müller"},
		{"mailto:carol@example.net", "OPT-PARTICIPANT", ""},
	} {
		p := att[i]
		if p.Value != want.addr || p.Params.Get(ical.ParamRole) != want.role || p.Params.Get(ical.ParamCommonName) != want.cn ||
			p.Params.Get(ical.ParamParticipationStatus) != "NEEDS-ACTION" || p.Params.Get(ical.ParamRSVP) != "TRUE" {
			t.Errorf("attendee %d = %+v, want %+v", i, p, want)
		}
	}

	it, err := item.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if it.UID != m.UID {
		t.Errorf("UID = %q", it.UID)
	}
	for k, want := range map[string]string{
		"Subject":           "Review; budget, Q2",
		"Location":          "Room 1, Floor 2",
		"Body":              "Agenda:\n1. numbers\n2. plans \\ ideas",
		"Start":             "2026-03-05T09:00:00Z",
		"End":               "2026-03-05T10:30:00Z",
		"IsAllDayEvent":     "false",
		"Organizer":         "ann@example.com\tAnn Example",
		"RequiredAttendees": "jim@example.org\tDoe, 'Jim'\njoerg@example.org\tJörg Müller",
		"OptionalAttendees": "carol@example.net\t",
	} {
		if got := it.Values[k]; got != want {
			t.Errorf("DecodeEvent %s = %q, want %q", k, got, want)
		}
	}
}

func TestInvitationAllDay(t *testing.T) {
	zone := time.FixedZone("UTC+10", 10*3600)
	for _, tc := range []struct {
		name       string
		start, end time.Time
		wantEnd    string
	}{
		{"midnight to midnight", time.Date(2026, 3, 5, 0, 0, 0, 0, zone), time.Date(2026, 3, 7, 0, 0, 0, 0, zone), "20260307"},
		{"end inside its day", time.Date(2026, 3, 5, 0, 0, 0, 0, zone), time.Date(2026, 3, 6, 23, 59, 0, 0, zone), "20260307"},
		{"no length", time.Date(2026, 3, 5, 0, 0, 0, 0, zone), time.Date(2026, 3, 5, 0, 0, 0, 0, zone), "20260306"},
	} {
		m := sampleMeeting()
		m.AllDay, m.Start, m.End = true, tc.start, tc.end
		data, err := Invitation(m)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ev := decodeICS(t, data).Events()[0]
		s, e := ev.Props.Get(ical.PropDateTimeStart), ev.Props.Get(ical.PropDateTimeEnd)
		if s.Value != "20260305" || s.Params.Get(ical.ParamValue) != "DATE" || e.Value != tc.wantEnd || e.Params.Get(ical.ParamValue) != "DATE" {
			t.Errorf("%s: DTSTART %+v, DTEND %+v", tc.name, s, e)
		}
		if !strings.Contains(string(data), "DTSTART;VALUE=DATE:20260305\r\n") {
			t.Errorf("%s: no DTSTART;VALUE=DATE line", tc.name)
		}
		it, err := item.DecodeEvent(data)
		if err != nil || it.Values["IsAllDayEvent"] != "true" || it.Values["Start"] != "2026-03-05" {
			t.Errorf("%s: DecodeEvent = %v, %v", tc.name, it.Values, err)
		}
	}
}

func TestInvitationFolding(t *testing.T) {
	m := sampleMeeting()
	m.Description = strings.Repeat("Lange Beschreibung mit Umlauten äöü und €. ", 40)
	m.Required = append(m.Required, Address{Name: strings.Repeat("Ä", 300), Addr: "long@example.org"})
	data, err := Invitation(m)
	if err != nil {
		t.Fatal(err)
	}
	checkICSLines(t, data)
	if !bytes.Contains(data, []byte("\r\n ")) {
		t.Error("nothing was folded")
	}
	it, err := item.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if it.Values["Body"] != strings.TrimSpace(m.Description) {
		t.Errorf("folded description does not come back: %q", it.Values["Body"])
	}
	if !strings.Contains(it.Values["RequiredAttendees"], "long@example.org\tÄÄÄ") {
		t.Errorf("long attendee: %q", it.Values["RequiredAttendees"])
	}
}

func TestInvitationCleans(t *testing.T) {
	m := sampleMeeting()
	m.Subject = "Hi\r\nATTENDEE:mailto:evil@example.com"
	m.Organizer.Name = "Ann\r\n\"Boss\"\x00"
	m.Required = append(m.Required, Address{Name: "Dup", Addr: "JIM@example.org"})
	data, err := Invitation(m)
	if err != nil {
		t.Fatal(err)
	}
	it, err := item.DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if it.Values["Subject"] != "Hi ATTENDEE:mailto:evil@example.com" {
		t.Errorf("Subject = %q", it.Values["Subject"])
	}
	if strings.Contains(it.Values["RequiredAttendees"], "evil") || strings.Count(it.Values["RequiredAttendees"], "jim@") != 1 {
		t.Errorf("RequiredAttendees = %q", it.Values["RequiredAttendees"])
	}
	if it.Values["Organizer"] != "ann@example.com\tAnn 'Boss'" {
		t.Errorf("Organizer = %q", it.Values["Organizer"])
	}
}

func TestInvitationRefuses(t *testing.T) {
	for name, f := range map[string]func(*Meeting){
		"no UID":            func(m *Meeting) { m.UID = " " },
		"UID with CRLF":     func(m *Meeting) { m.UID = "a\r\nb" },
		"negative sequence": func(m *Meeting) { m.Sequence = -1 },
		"no organizer":      func(m *Meeting) { m.Organizer = Address{Name: "Ann"} },
		"bad organizer":     func(m *Meeting) { m.Organizer.Addr = "ann@example.com\r\nX: y" },
		"bad attendee":      func(m *Meeting) { m.Optional = []Address{{Addr: "not an address"}} },
		"no start":          func(m *Meeting) { m.Start = time.Time{} },
		"no end":            func(m *Meeting) { m.End = time.Time{} },
		"end before start":  func(m *Meeting) { m.End = m.Start.Add(-time.Hour) },
		"year 10000":        func(m *Meeting) { m.End = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"too large":         func(m *Meeting) { m.Description = strings.Repeat("x", maxInvitation) },
	} {
		m := sampleMeeting()
		f(&m)
		if _, err := Invitation(m); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "compose: invitation: ") {
			t.Errorf("%s: error without context: %v", name, err)
		}
	}
}

// checkICSLines fails unless every line ends in CRLF and is at most 75
// octets, as RFC 5545 folds them.
func checkICSLines(t *testing.T, data []byte) {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Error("the calendar does not end in CRLF")
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\r\n")), []byte("\r\n")) {
		if len(line) > 75 || bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d (%d octets): %q", i+1, len(line), line)
		}
	}
}
