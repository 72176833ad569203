package item

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
)

func TestRefusals(t *testing.T) {
	big := bytes.Repeat([]byte("X"), maxSize+1)
	tests := []struct {
		name string
		fn   func() error
		want string
	}{
		{"contact too big", func() error { _, err := DecodeContact(big); return err }, "more than"},
		{"event too big", func() error { _, err := DecodeEvent(big); return err }, "more than"},
		{"task too big", func() error { _, err := DecodeTask(big); return err }, "more than"},
		{"prev too big", func() error { _, err := EncodeContact(big, "u", "", nil, nil); return err }, "more than"},
		{"not a vCard", func() error { _, err := DecodeContact([]byte("hello")); return err }, "BEGIN:VCARD"},
		{"a calendar is not a vCard", func() error { _, err := DecodeContact(readTestdata(t, "task.ics")); return err }, "vCard"},
		{"not a calendar", func() error { _, err := DecodeEvent([]byte("hello")); return err }, "BEGIN:VCALENDAR"},
		{"a vCard is not an event", func() error { _, err := DecodeEvent(readTestdata(t, "google.vcf")); return err }, "VEVENT"},
		{"no VTODO", func() error { _, err := DecodeTask(readTestdata(t, "google-allday.ics")); return err }, "VTODO"},
		{"no VEVENT", func() error { _, err := DecodeEvent(readTestdata(t, "task.ics")); return err }, "VEVENT"},
		{"empty", func() error { _, err := DecodeEvent(nil); return err }, "VEVENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "item: ") {
				t.Errorf("error without context: %v", err)
			}
		})
	}
}

// TestGoICalPanics shows the inputs on which go-ical's decoder panics and
// that the codec turns them into errors (the reason for the recover in
// parseCalendar).
func TestGoICalPanics(t *testing.T) {
	for _, in := range []string{
		"BEGIN:VCALENDAR\r\nX;A=b",                         // index out of range: the line ends inside the parameters
		"BEGIN:VCALENDAR\r\nX;A=\"b\"c:v\r\nEND:VCALENDAR", // explicit panic: a character after a quoted value
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("go-ical no longer panics on %q; the recover in parseCalendar may go", in)
				}
			}()
			_, _ = ical.NewDecoder(strings.NewReader(in)).Decode()
		}()
		if _, err := DecodeEvent([]byte(in)); err == nil {
			t.Errorf("%q decoded", in)
		}
		if _, err := EncodeEvent([]byte(in), "u", "", nil, nil); err == nil {
			t.Errorf("%q accepted as prev", in)
		}
	}
}

// TestGoICalQuadraticParams shows go-ical's decoder taking time that grows
// with the square of a parameter value's length, and the codec refusing
// such values before go-ical sees them.
func TestGoICalQuadraticParams(t *testing.T) {
	if testing.Short() {
		t.Skip("slow by design")
	}
	in := "BEGIN:VCALENDAR\r\nX;A=" + strings.Repeat("a", 50000) + ":v\r\nEND:VCALENDAR\r\n"
	start := time.Now()
	_, _ = ical.NewDecoder(strings.NewReader(in)).Decode()
	t.Logf("go-ical, one 50 KB parameter: %v", time.Since(start))

	_, err := DecodeEvent([]byte(in))
	if err == nil || !strings.Contains(err.Error(), "parameter longer") {
		t.Errorf("error %v", err)
	}
	// folding does not dodge the bound
	folded := "BEGIN:VCALENDAR\r\nX;A=" + strings.Repeat("aaaaaaaa\r\n ", 200) + ":v\r\nEND:VCALENDAR\r\n"
	if _, err := DecodeEvent([]byte(folded)); err == nil || !strings.Contains(err.Error(), "parameter longer") {
		t.Errorf("folded: error %v", err)
	}
	// the worst the bound allows, a megabyte of 1 KiB parameters, stays fast
	line := "X;A=" + strings.Repeat("a", maxParamValue) + ":v\r\n"
	worst := "BEGIN:VCALENDAR\r\n" + strings.Repeat(line, (maxSize-100)/len(line)) + "END:VCALENDAR\r\n"
	start = time.Now()
	_, _ = DecodeEvent([]byte(worst))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("worst case took %v", d)
	}
}

func TestHostileInputsDoNotPanic(t *testing.T) {
	ins := []string{
		"", "BEGIN:VCARD", "BEGIN:VCARD\r\nN:;\r\nORG:;\r\nEMAIL;TYPE=\"work:x\r\nTEL;;;:\r\nEND:VCARD",
		"BEGIN:VCARD\r\n \r\n\t\r\nFN\\:x\r\n.:\r\n;:\r\nEND:VCARD",
		"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=:20260101T000000\r\nEND:VEVENT\r\nEND:VCALENDAR",
		string(cal("BEGIN:VTIMEZONE", "TZID:Z", "BEGIN:STANDARD", "DTSTART:x", "TZOFFSETTO:+9999", "END:STANDARD", "END:VTIMEZONE",
			"BEGIN:VEVENT", "DTSTART;TZID=Z:20260101T000000", "END:VEVENT")),
		string(cal("BEGIN:VTIMEZONE", "TZID:Z", "BEGIN:STANDARD", "DTSTART:16010101T000000", "RRULE:FREQ=SECONDLY", "TZOFFSETTO:+0100", "END:STANDARD", "END:VTIMEZONE",
			"BEGIN:VEVENT", "DTSTART;TZID=Z:99991231T235959", "END:VEVENT")),
		string(event("DTSTART:00000101T000000Z", "DURATION:P99999999999999999W")),
		strings.Repeat("BEGIN:VCALENDAR\r\n", 20000),
	}
	for _, in := range ins {
		_, _ = DecodeContact([]byte(in))
		_, _ = DecodeEvent([]byte(in))
		_, _ = DecodeTask([]byte(in))
		_, _ = EncodeContact([]byte(in), "u", "c", contactKeys, fullContact())
		_, _ = EncodeEvent([]byte(in), "u", "c", eventKeys, fullEvent())
		_, _ = EncodeTask([]byte(in), "u", "c", taskKeys, Values{fDueDate: "2026-01-01"})
	}
}

func TestVTimezoneRules(t *testing.T) {
	z := zones{}
	c, err := parseCalendar(readTestdata(t, "outlook-windows-tz.ics"))
	if err != nil {
		t.Fatal(err)
	}
	z.cal = c.Component
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, wall := range []time.Time{
		time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 1, 59, 0, 0, time.UTC), // just before spring forward
		time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 3, 30, 0, 0, time.UTC), // after fall back
		time.Date(2030, 7, 1, 12, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC),
	} {
		got, err := z.resolve("W. Europe Standard Time", wall)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, berlin)
		if !got.Equal(want) {
			t.Errorf("%v: got %v, want %v", wall, got.UTC(), want.UTC())
		}
	}
}
