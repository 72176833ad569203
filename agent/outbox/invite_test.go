package outbox

import (
	"strings"
	"testing"
)

// TestReadBodyFindsMeetingRequests: a text/calendar part is a meeting
// request when its METHOD (the part's parameter, or the property in the
// text) is REQUEST; replies and cancellations are not; the text is still
// the first text/plain part.
func TestReadBodyFindsMeetingRequests(t *testing.T) {
	cal := func(method, param string) string {
		ct := "text/calendar; charset=utf-8"
		if param != "" {
			ct += "; method=" + param
		}
		return "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nSee you then.\r\n" +
			"--b\r\nContent-Type: " + ct + "\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:" + method + "\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" +
			"--b--\r\n"
	}
	for _, c := range []struct {
		name, msg string
		want      bool
	}{
		{"request", cal("REQUEST", ""), true},
		{"request by parameter", cal("REQUEST", "REQUEST"), true},
		{"reply", cal("REPLY", "REPLY"), false},
		{"cancel", cal("CANCEL", ""), false},
		{"no calendar", "From: a@example.com\r\nSubject: s\r\n\r\nHello.\r\n", false},
	} {
		b, err := ReadBody(strings.NewReader(c.msg))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := b.Invitation != nil; got != c.want {
			t.Errorf("%s: invitation found = %v, want %v", c.name, got, c.want)
		}
		if !strings.HasPrefix(b.Text, "See you then.") && !strings.HasPrefix(b.Text, "Hello.") {
			t.Errorf("%s: text = %q", c.name, b.Text)
		}
	}
}
