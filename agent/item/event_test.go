package item

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-ical"
)

var eventKeys = []string{fSubject, fStart, fEnd, fAllDay, fLocation, fBody, fOrganizer, fRequired, fOptional}

// cal wraps VEVENT/VTODO/VTIMEZONE lines into a calendar.
func cal(body ...string) []byte {
	return []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + strings.Join(body, "\r\n") + "\r\nEND:VCALENDAR\r\n")
}

func event(props ...string) []byte {
	return cal(append(append([]string{"BEGIN:VEVENT", "UID:e1", "DTSTAMP:20260101T000000Z"}, props...), "END:VEVENT")...)
}

func TestDecodeEventSamples(t *testing.T) {
	tests := []struct {
		file string
		want Values
	}{
		{"thunderbird-berlin.ics", Values{
			fSubject: "Quarterly review, Q4", fLocation: "Room 4", fBody: "Agenda:\n1. numbers\n2. plans",
			fStart: "2026-12-03T09:00:00Z", fEnd: "2026-12-03T10:30:00Z", fAllDay: "false",
			fOrganizer: "jane.doe@acme.example\tJane Doe",
			fRequired:  "max@example.org\tMax Mustermann",
			fOptional:  "bob@example.org\t",
		}},
		{"outlook-windows-tz.ics", Values{ // Windows TZID, resolved by the VTIMEZONE's rules (summer: +02:00)
			fSubject: "Summer planning", fStart: "2026-07-01T07:00:00Z", fEnd: "2026-07-01T08:00:00Z", fAllDay: "false",
		}},
		{"apple-fixed-offset.ics", Values{ // TZID unknown to Go, fixed-offset VTIMEZONE, DURATION
			fSubject: "Call with Pune", fStart: "2026-12-03T10:00:00Z", fEnd: "2026-12-03T10:45:00Z", fAllDay: "false",
		}},
		{"google-allday.ics", Values{
			fSubject: "Trade fair", fStart: "2026-12-03", fEnd: "2026-12-05", fAllDay: "true",
		}},
		{"recurring-ny.ics", Values{ // the master, not the override listed first
			fSubject: "Standup", fStart: "2026-03-02T14:00:00Z", fEnd: "2026-03-02T14:30:00Z", fAllDay: "false",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			it, err := DecodeEvent(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			assertValues(t, it.Values, tt.want)
		})
	}
}

func TestDecodeEventTimes(t *testing.T) {
	fixed := strings.Join([]string{"BEGIN:VTIMEZONE", "TZID:My Zone", "BEGIN:STANDARD", "DTSTART:19700101T000000",
		"TZOFFSETFROM:-0330", "TZOFFSETTO:-0330", "END:STANDARD", "END:VTIMEZONE"}, "\r\n")
	tests := []struct {
		name        string
		text        []byte
		start, end  string
		allDay, err string
	}{
		{"UTC", event("DTSTART:20261203T100000Z", "DTEND:20261203T110000Z"), "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z", "false", ""},
		{"floating is UTC", event("DTSTART:20261203T100000", "DTEND:20261203T110000"), "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z", "false", ""},
		{"Berlin winter", event("DTSTART;TZID=Europe/Berlin:20261203T100000", "DTEND;TZID=Europe/Berlin:20261203T110000"), "2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z", "false", ""},
		{"Berlin summer", event("DTSTART;TZID=Europe/Berlin:20260703T100000"), "2026-07-03T08:00:00Z", "2026-07-03T08:00:00Z", "false", ""},
		{"New York across DST", event("DTSTART;TZID=America/New_York:20260307T120000", "DTEND;TZID=America/New_York:20260309T120000"), "2026-03-07T17:00:00Z", "2026-03-09T16:00:00Z", "false", ""},
		{"Mozilla prefixed TZID", event("DTSTART;TZID=/mozilla.org/20050126_1/America/New_York:20260707T120000"), "2026-07-07T16:00:00Z", "2026-07-07T16:00:00Z", "false", ""},
		{"unknown TZID, fixed VTIMEZONE", cal(fixed, "BEGIN:VEVENT", "UID:x", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=My Zone:20261203T100000", "END:VEVENT"), "2026-12-03T13:30:00Z", "2026-12-03T13:30:00Z", "false", ""},
		{"unknown TZID, no VTIMEZONE", event("DTSTART;TZID=Mars/Olympus:20261203T100000"), "", "", "", `"Mars/Olympus"`},
		{"Local is not this computer's zone", event("DTSTART;TZID=Local:20261203T100000"), "", "", "", `"Local"`},
		{"DURATION", event("DTSTART:20261203T100000Z", "DURATION:PT1H30M"), "2026-12-03T10:00:00Z", "2026-12-03T11:30:00Z", "false", ""},
		{"DURATION weeks", event("DTSTART;VALUE=DATE:20261203", "DURATION:P1W"), "2026-12-03", "2026-12-10", "true", ""},
		{"all day no end", event("DTSTART;VALUE=DATE:20261203"), "2026-12-03", "2026-12-04", "true", ""},
		{"all day without VALUE", event("DTSTART:20261203", "DTEND:20261204"), "2026-12-03", "2026-12-04", "true", ""},
		{"no DTSTART", event("SUMMARY:x"), "", "", "", "DTSTART"},
		{"bad DTSTART", event("DTSTART:2026-12-03"), "", "", "", "DTSTART"},
		{"bad DURATION", event("DTSTART:20261203T100000Z", "DURATION:1H"), "", "", "", "DURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := DecodeEvent(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertValues(t, Values{fStart: it.Values[fStart], fEnd: it.Values[fEnd], fAllDay: it.Values[fAllDay]},
				Values{fStart: tt.start, fEnd: tt.end, fAllDay: tt.allDay})
		})
	}
}

func TestEncodeEventFields(t *testing.T) {
	base := Values{fStart: "2026-12-03T10:00:00Z", fEnd: "2026-12-03T11:00:00Z"}
	tests := []struct {
		key, value string
		lines      []string
	}{
		{fSubject, "Review; Q4, final", []string{`SUMMARY:Review\; Q4\, final`}},
		{fLocation, "Room 4", []string{"LOCATION:Room 4"}},
		{fBody, "a\nb\\c", []string{`DESCRIPTION:a\nb\\c`}},
		{fOrganizer, "jane@acme.example\tJane Doe", []string{"ORGANIZER;CN=Jane Doe:mailto:jane@acme.example"}},
		{fRequired, "a@x.example\tDoe, Ann\nb@x.example\t", []string{
			`ATTENDEE;CN="Doe, Ann";ROLE=REQ-PARTICIPANT:mailto:a@x.example`,
			"ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:b@x.example"}},
		{fOptional, "c@x.example\tCy", []string{"ATTENDEE;CN=Cy;ROLE=OPT-PARTICIPANT:mailto:c@x.example"}},
		{fStart, "2026-12-03T10:00:00Z", []string{"DTSTART:20261203T100000Z", "DTEND:20261203T110000Z"}},
		{fAllDay, "true", []string{"DTSTART;VALUE=DATE:20261203", "DTEND;VALUE=DATE:20261203"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			v := Values{fStart: base[fStart], fEnd: base[fEnd], tt.key: tt.value}
			out, err := EncodeEvent(nil, "uid-1", "crm-1", []string{fStart, fEnd, tt.key}, v)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range append(tt.lines, "UID:uid-1", "X-CRM-ID:crm-1", "DTSTAMP:20261120T083000Z", "VERSION:2.0", "PRODID:-//crmsync//EN") {
				mustLine(t, out, l)
			}
			it, err := DecodeEvent(out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.key != fAllDay && it.Values[tt.key] != canonPeopleOrText(tt.key, tt.value) {
				t.Errorf("decoded %q", it.Values[tt.key])
			}
		})
	}
}

func canonPeopleOrText(key, s string) string {
	switch key {
	case fOrganizer, fRequired, fOptional:
		return formatPeople(parsePeople(s))
	}
	return s
}

func fullEvent() Values {
	return Values{
		fSubject: "Quarterly review, Q4; final", fStart: "2026-12-03T09:00:00Z", fEnd: "2026-12-03T10:30:00Z",
		fAllDay: "false", fLocation: "Room 4", fBody: "Agenda:\n1. numbers\n2. plans " + strings.Repeat("é", 60),
		fOrganizer: "jane@acme.example\tJane Doe",
		fRequired:  "a@x.example\tAnn\nb@x.example\t",
		fOptional:  "c@x.example\tCy \"The\" Man",
	}
}

func TestEventRoundTrip(t *testing.T) {
	allDay := fullEvent()
	allDay[fAllDay], allDay[fStart], allDay[fEnd] = "true", "2026-12-03", "2026-12-05"
	fixOpt := func(v Values) Values { v[fOptional] = "c@x.example\tCy 'The' Man"; return v } // " cannot be in a parameter
	for _, tt := range []struct {
		name string
		prev []byte
		v    Values
	}{
		{"new", nil, fullEvent()},
		{"new all day", nil, allDay},
		{"over thunderbird", readTestdata(t, "thunderbird-berlin.ics"), fullEvent()},
		{"over outlook", readTestdata(t, "outlook-windows-tz.ics"), fullEvent()},
		{"all day over google", readTestdata(t, "google-allday.ics"), allDay},
		{"timed over all day", readTestdata(t, "google-allday.ics"), fullEvent()},
		{"over recurring", readTestdata(t, "recurring-ny.ics"), fullEvent()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := EncodeEvent(tt.prev, "u", "c", eventKeys, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			it, err := DecodeEvent(out)
			if err != nil {
				t.Fatal(err)
			}
			assertValues(t, it.Values, fixOpt(tt.v))
			again, err := EncodeEvent(out, "u", "c", eventKeys, it.Values)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, out) {
				t.Errorf("second encode differs:\n%s\n---\n%s", out, again)
			}
			for _, l := range strings.Split(string(out), "\r\n") {
				if len(l) > 75 {
					t.Errorf("line longer than 75 octets: %q", l)
				}
			}
		})
	}
}

func TestEventKeepsWhatItDoesNotOwn(t *testing.T) {
	prev := readTestdata(t, "thunderbird-berlin.ics")
	v := Values{
		fSubject:  "New subject",
		fRequired: "max@example.org\tMax M.\nnew@example.org\tNew Person",
		fStart:    "2026-12-04T09:00:00Z", fEnd: "2026-12-04T10:00:00Z",
	}
	out, err := EncodeEvent(prev, "3b7c1e2a-0f11-4c55-9e0a-berlin", "crm-7", eventKeys, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"BEGIN:VALARM", "TRIGGER;VALUE=DURATION:-PT15M", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
		"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3", "X-MOZ-GENERATION:2", "CATEGORIES:Track in CRM",
		"CREATED:20260110T090000Z", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
		// PARTSTAT of the same address kept, CN updated
		"ATTENDEE;CN=Max M.;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:max@example.org",
		"ATTENDEE;CN=New Person;ROLE=REQ-PARTICIPANT:mailto:new@example.org",
		// the chair is not a synchronised role: kept
		"ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:jane.doe@acme.example",
		// times stay in the zone the user's app chose
		"DTSTART;TZID=Europe/Berlin:20261204T100000", "DTEND;TZID=Europe/Berlin:20261204T110000",
		"DTSTAMP:20261120T083000Z", "X-CRM-ID:crm-7",
	} {
		mustLine(t, out, l)
	}
	it, err := DecodeEvent(out)
	if err != nil {
		t.Fatal(err)
	}
	if it.Categories[0] != TrackCategory {
		t.Errorf("categories %q", it.Categories)
	}
	want := Values{
		fSubject: "New subject", fStart: v[fStart], fEnd: v[fEnd], fAllDay: "false",
		fLocation: "Room 4", fBody: "Agenda:\n1. numbers\n2. plans",
		fOrganizer: "jane.doe@acme.example\tJane Doe",
		fRequired:  "max@example.org\tMax M.\nnew@example.org\tNew Person",
		fOptional:  "bob@example.org\t",
	}
	// Location, Body, Organizer, Optional are empty in v but owned: they go
	want[fLocation], want[fBody], want[fOrganizer], want[fOptional] = "", "", "", ""
	assertValues(t, it.Values, want)
}

func TestEventOwnedOnly(t *testing.T) {
	prev := readTestdata(t, "thunderbird-berlin.ics")
	before, _ := DecodeEvent(prev)
	v := fullEvent()
	out, err := EncodeEvent(prev, "", "", []string{fSubject}, v)
	if err != nil {
		t.Fatal(err)
	}
	it, err := DecodeEvent(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Values{}
	for k, s := range before.Values {
		want[k] = s
	}
	want[fSubject] = v[fSubject]
	assertValues(t, it.Values, want)
	mustLine(t, out, "DTSTART;TZID=Europe/Berlin:20261203T100000")
	mustLine(t, out, "ATTENDEE;PARTSTAT=TENTATIVE;ROLE=OPT-PARTICIPANT;RSVP=TRUE:mailto:bob@example.org")
}

func TestEventDurationGivesWayToEnd(t *testing.T) {
	// Start owned, End not: the end stays where it was, written as DTEND.
	prev := event("DTSTART:20261203T100000Z", "DURATION:PT1H")
	out, err := EncodeEvent(prev, "", "", []string{fStart}, Values{fStart: "2026-12-03T10:30:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := DecodeEvent(out)
	assertValues(t, Values{fStart: it.Values[fStart], fEnd: it.Values[fEnd]}, Values{fStart: "2026-12-03T10:30:00Z", fEnd: "2026-12-03T11:00:00Z"})
	if bytes.Contains(out, []byte("DURATION")) {
		t.Errorf("DURATION left beside DTEND:\n%s", out)
	}
}

func TestEncodeEventErrors(t *testing.T) {
	tests := []struct {
		name string
		prev []byte
		v    Values
		want string
	}{
		{"no start", nil, Values{fSubject: "x"}, "Start"},
		{"bad start", nil, Values{fStart: "tomorrow"}, "tomorrow"},
		{"end before start", nil, Values{fStart: "2026-12-03T10:00:00Z", fEnd: "2026-12-03T09:00:00Z"}, "before"},
		{"bad all day", nil, Values{fStart: "2026-12-03", fAllDay: "maybe"}, "maybe"},
		{"prev not a calendar", []byte("hello"), Values{fStart: "2026-12-03"}, "iCalendar"},
		{"prev is a task", readTestdata(t, "task.ics"), Values{fStart: "2026-12-03"}, "VEVENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeEvent(tt.prev, "u", "", eventKeys, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEventUnknownZoneReplacedWhenTimesOwned(t *testing.T) {
	prev := event("DTSTART;TZID=Mars/Olympus:20261203T100000", "SUMMARY:x")
	if _, err := EncodeEvent(prev, "", "", []string{fSubject}, Values{fSubject: "y"}); err == nil {
		t.Error("an unreadable start was carried over silently")
	}
	out, err := EncodeEvent(prev, "", "", []string{fStart, fEnd}, Values{fStart: "2026-12-03T10:00:00Z", fEnd: "2026-12-03T11:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	mustLine(t, out, "DTSTART:20261203T100000Z")
	mustLine(t, out, "SUMMARY:x")
}

func TestEventOutputParsesWithGoICal(t *testing.T) {
	out, err := EncodeEvent(readTestdata(t, "recurring-ny.ics"), "", "", eventKeys, fullEvent())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ical.NewDecoder(bytes.NewReader(out)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Events()); n != 2 {
		t.Errorf("%d events, want master and override", n)
	}
	mustLine(t, out, "SUMMARY:Standup (moved)") // override untouched
	mustLine(t, out, "RRULE:FREQ=WEEKLY;BYDAY=MO")
}
