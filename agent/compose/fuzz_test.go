package compose

import (
	"bytes"
	"strings"
	"testing"

	"crmsync/agent/outbox"
)

// FuzzBuild builds messages of random names, subjects, bodies, file names
// and addresses: Build must not panic, and what it builds must read back
// with net/mail, mime/multipart and outbox, the names and subject as they
// were cleaned.
func FuzzBuild(f *testing.F) {
	f.Add("Ann Example", "Hello", "<p>Hi</p>", "a.pdf", "bob@example.org")
	f.Add("Doe, \"Jim\"", "Angebot für Müller", "plain\r\ntext", "Angebot für Müller.pdf", "x@y")
	f.Add("\r\nBcc: x@y", "=?UTF-8?Q?a?=", "<", "\x00", "a@b\r\nBcc: c@d")
	f.Add(strings.Repeat("ü", 500), strings.Repeat("x", 2000), strings.Repeat("<br>", 300), strings.Repeat("é", 400), "\"a b\"@c")
	f.Add("\xff\xfe", "\u2028\u0085\u00a0", "&amp;&#0;", "/", "<a@b>")
	f.Fuzz(func(t *testing.T, name, subject, html, filename, addr string) {
		e := sample()
		e.From.Name, e.Subject, e.HTML = name, subject, html
		e.To = []Address{{Name: name, Addr: "bob@example.org"}, {Name: subject, Addr: addr}}
		e.Attachments = []Attachment{{Filename: filename, MIMEType: name, Data: []byte(html)}}
		msg, err := Build(e)
		if err != nil {
			if _, aerr := checkAddr(addr); aerr == nil {
				t.Fatalf("Build refused a good address %q: %v", addr, err)
			}
			e.To = e.To[:1]
			if msg, err = Build(e); err != nil {
				t.Fatalf("Build: %v", err)
			}
		}
		checkLines(t, msg)
		m, leaves := parse(t, msg)
		if got := decodeHeader(t, m.Header.Get("Subject")); got != cleanText(subject) {
			t.Errorf("Subject = %q, want %q", got, cleanText(subject))
		}
		from, err := m.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != cleanText(name) {
			t.Fatalf("From = %v, %v; want name %q", from, err, cleanText(name))
		}
		if to, err := m.Header.AddressList("To"); err != nil || len(to) != len(e.To) {
			t.Fatalf("To = %v, %v", to, err)
		}
		if _, ok := m.Header["Bcc"]; ok {
			t.Fatal("a Bcc header")
		}
		if len(leaves) != 3 || !bytes.Equal(leaves[2].data, []byte(html)) {
			t.Fatalf("parts = %v", paths(leaves))
		}
		if _, err := outbox.ReadBody(bytes.NewReader(msg)); err != nil {
			t.Fatalf("ReadBody: %v", err)
		}
	})
}

// FuzzInvitation checks Invitation does not panic and that what it writes
// reads back.
func FuzzInvitation(f *testing.F) {
	f.Add("uid-1", "Ann", "Review", "Room 1", "Agenda\r\n1.", "jim@example.org")
	f.Add("\x00", "\"\r\n", ";,\\", "\xff", strings.Repeat("ü", 2000), "a")
	f.Fuzz(func(t *testing.T, uid, name, subject, location, description, addr string) {
		m := sampleMeeting()
		m.UID, m.Organizer.Name, m.Subject, m.Location, m.Description = uid, name, subject, location, description
		m.Optional = []Address{{Name: name, Addr: addr}}
		data, err := Invitation(m)
		if err != nil {
			return
		}
		cal := decodeICS(t, data)
		if len(cal.Events()) != 1 {
			t.Fatal("no event")
		}
	})
}
