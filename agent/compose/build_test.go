package compose

import (
	"bytes"
	"net/mail"
	"reflect"
	"strings"
	"testing"
	"time"

	"crmsync/agent/outbox"
)

func TestBuildHeaders(t *testing.T) {
	e := sample()
	e.From = Address{Name: "Jörg Müller", Addr: "joerg@example.com"}
	e.To = []Address{
		{Name: `Doe, "Jim"`, Addr: "jim@example.org"},
		{Name: `Smith, Ännchen "Anna"`, Addr: "anna@example.org"},
		{Addr: "plain@example.org"},
	}
	e.Cc = []Address{{Name: "Carol", Addr: "carol@example.net"}}
	e.Subject = "Angebot für Müller – Rückfrage"
	e.InReplyTo = "parent-1@example.com"
	msg := mustBuild(t, e)
	m, _ := parse(t, msg)

	if got := decodeHeader(t, m.Header.Get("Subject")); got != e.Subject {
		t.Errorf("Subject = %q, want %q", got, e.Subject)
	}
	if !strings.Contains(m.Header.Get("Subject"), "=?UTF-8?Q?") {
		t.Errorf("non-ASCII Subject not an encoded word: %q", m.Header.Get("Subject"))
	}
	from, err := m.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Jörg Müller" || from[0].Address != "joerg@example.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := m.Header.AddressList("To")
	if err != nil {
		t.Fatalf("To: %v (%q)", err, m.Header.Get("To"))
	}
	want := []*mail.Address{
		{Name: `Doe, "Jim"`, Address: "jim@example.org"},
		{Name: `Smith, Ännchen "Anna"`, Address: "anna@example.org"},
		{Address: "plain@example.org"},
	}
	if !reflect.DeepEqual(to, want) {
		t.Errorf("To = %v, want %v", to, want)
	}
	cc, err := m.Header.AddressList("Cc")
	if err != nil || len(cc) != 1 || cc[0].Address != "carol@example.net" || cc[0].Name != "Carol" {
		t.Errorf("Cc = %v, %v", cc, err)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(e.Date) {
		t.Errorf("Date = %v, %v; want %v", d, err, e.Date)
	}
	for k, v := range map[string]string{
		"Message-Id":   "<" + e.MessageID + ">",
		"In-Reply-To":  "<parent-1@example.com>",
		"References":   "<parent-1@example.com>",
		"Mime-Version": "1.0",
	} {
		if got := m.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := m.Header["Bcc"]; ok {
		t.Error("a Bcc header was written")
	}
}

func TestBuildOptionalHeaders(t *testing.T) {
	e := sample()
	e.To, e.Date, e.Subject = nil, time.Time{}, ""
	msg := mustBuild(t, e)
	m, _ := parse(t, msg)
	for _, k := range []string{"To", "Cc", "In-Reply-To", "References", "Bcc"} {
		if _, ok := m.Header[k]; ok {
			t.Errorf("%s written though empty: %q", k, m.Header.Get(k))
		}
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(fixedNow) {
		t.Errorf("Date = %v, %v; want now (%v)", d, err, fixedNow)
	}
	if _, ok := m.Header["Subject"]; !ok {
		t.Error("no Subject header")
	}
}

func TestBuildMessageIDBrackets(t *testing.T) {
	e := sample()
	e.MessageID = "<x@y>"
	m, _ := parse(t, mustBuild(t, e))
	if got := m.Header.Get("Message-Id"); got != "<x@y>" {
		t.Errorf("Message-ID = %q", got)
	}
}

func TestBuildAlternatives(t *testing.T) {
	e := sample()
	e.HTML = "<html><body><p>Dear Bob,</p><p>line one<br>line two &amp; more &lt;3 &euro;</p></body></html>"
	msg := mustBuild(t, e)
	m, leaves := parse(t, msg)
	if got := m.Header.Get("Content-Type"); !strings.HasPrefix(got, "multipart/alternative;") {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := paths(leaves), []string{"multipart/alternative/text/plain", "multipart/alternative/text/html"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("parts = %v, want %v", got, want)
	}
	wantText := "Dear Bob,\n\nline one\nline two & more <3 €"
	if got := crlfToLF(leaves[0].data); got != wantText {
		t.Errorf("text = %q, want %q", got, wantText)
	}
	if got := crlfToLF(leaves[1].data); got != e.HTML {
		t.Errorf("html = %q, want %q", got, e.HTML)
	}
	for _, l := range leaves {
		if l.params["charset"] != "UTF-8" || l.header["Content-Transfer-Encoding"][0] != "quoted-printable" {
			t.Errorf("%s: charset %q, encoding %v", l.path, l.params["charset"], l.header["Content-Transfer-Encoding"])
		}
	}
	b, err := outbox.ReadBody(bytes.NewReader(msg))
	if err != nil || crlfToLF([]byte(b.Text)) != wantText || b.Invitation != nil {
		t.Errorf("ReadBody = %+v, %v", b, err)
	}
}

func TestBuildPlainTextBody(t *testing.T) {
	e := sample()
	e.HTML = "Hi Bob,\r\n\r\nprices: 3 < 4 & 5 > 2.\nBye"
	msg := mustBuild(t, e)
	_, leaves := parse(t, msg)
	want := "Hi Bob,\n\nprices: 3 < 4 & 5 > 2.\nBye"
	if got := crlfToLF(leaves[0].data); got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	html := crlfToLF(leaves[1].data)
	if !strings.HasPrefix(html, "<html><body><pre") || !strings.Contains(html, "prices: 3 &lt; 4 &amp; 5 &gt; 2.\nBye</pre></body></html>") {
		t.Errorf("html = %q", html)
	}
	b, err := outbox.ReadBody(bytes.NewReader(msg))
	if err != nil || crlfToLF([]byte(b.Text)) != want {
		t.Errorf("ReadBody = %+v, %v", b, err)
	}
}

func TestBuildAttachments(t *testing.T) {
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0, 1, 2, 0xff, '\r', '\n'}, 100)...)
	e := sample()
	e.Attachments = []Attachment{
		{Filename: "offer.pdf", MIMEType: "application/pdf", Data: pdf},
		{Filename: "Angebot für Müller.pdf", MIMEType: "application/pdf", Data: pdf[:77]},
		{Filename: "notes.bin", Data: []byte("x")},
		{Filename: "bad.txt", MIMEType: "text/plain\r\nX-Evil: 1", Data: nil},
	}
	msg := mustBuild(t, e)
	m, leaves := parse(t, msg)
	if got := m.Header.Get("Content-Type"); !strings.HasPrefix(got, "multipart/mixed;") {
		t.Errorf("Content-Type = %q", got)
	}
	want := []string{
		"multipart/mixed/multipart/alternative/text/plain",
		"multipart/mixed/multipart/alternative/text/html",
		"multipart/mixed/application/pdf",
		"multipart/mixed/application/pdf",
		"multipart/mixed/application/octet-stream",
		"multipart/mixed/application/octet-stream",
	}
	if got := paths(leaves); !reflect.DeepEqual(got, want) {
		t.Fatalf("parts = %v, want %v", got, want)
	}
	for i, a := range e.Attachments {
		l := leaves[2+i]
		if l.filename != a.Filename {
			t.Errorf("attachment %d: filename %q, want %q", i, l.filename, a.Filename)
		}
		if !bytes.Equal(l.data, a.Data) {
			t.Errorf("attachment %d: data differs", i)
		}
		if d := l.header["Content-Disposition"][0]; !strings.HasPrefix(d, "attachment;") {
			t.Errorf("attachment %d: Content-Disposition %q", i, d)
		}
		if l.header["Content-Transfer-Encoding"][0] != "base64" {
			t.Errorf("attachment %d: not base64", i)
		}
	}
	if d := leaves[3].header["Content-Disposition"][0]; d != "attachment; filename*=utf-8''Angebot%20f%C3%BCr%20M%C3%BCller.pdf" {
		t.Errorf("RFC 2231 filename: %q", d)
	}
	if bytes.Contains(msg, []byte("X-Evil")) {
		t.Error("a MIME type injected a header")
	}
	b, err := outbox.ReadBody(bytes.NewReader(msg))
	if err != nil || !strings.Contains(b.Text, "Hi Bob,") {
		t.Errorf("ReadBody = %+v, %v", b, err)
	}
}

func TestBuildInvitation(t *testing.T) {
	ics, err := Invitation(sampleMeeting())
	if err != nil {
		t.Fatal(err)
	}
	e := sample()
	e.Invitation = ics
	e.Attachments = []Attachment{{Filename: "agenda.pdf", MIMEType: "application/pdf", Data: []byte("%PDF")}}
	msg := mustBuild(t, e)
	_, leaves := parse(t, msg)
	want := []string{
		"multipart/mixed/multipart/alternative/text/plain",
		"multipart/mixed/multipart/alternative/text/html",
		"multipart/mixed/multipart/alternative/text/calendar",
		"multipart/mixed/application/pdf",
		"multipart/mixed/application/ics",
	}
	if got := paths(leaves); !reflect.DeepEqual(got, want) {
		t.Fatalf("parts = %v, want %v", got, want)
	}
	cal := leaves[2]
	if ct := cal.header["Content-Type"][0]; ct != "text/calendar; charset=UTF-8; method=REQUEST" {
		t.Errorf("calendar Content-Type = %q", ct)
	}
	if !bytes.Equal(cal.data, ics) || !bytes.Equal(leaves[4].data, ics) {
		t.Error("the invitation does not come back as it was")
	}
	if leaves[4].filename != "invite.ics" {
		t.Errorf("ics filename = %q", leaves[4].filename)
	}
	b, err := outbox.ReadBody(bytes.NewReader(msg))
	if err != nil || b.Invitation == nil || !strings.Contains(b.Text, "Hi Bob,") {
		t.Fatalf("ReadBody = %+v, %v", b, err)
	}
	if !bytes.Equal(b.Invitation, ics) {
		t.Error("ReadBody's invitation differs")
	}

	// Without attachments the invitation still makes a mixed message.
	e.Attachments = nil
	_, leaves = parse(t, mustBuild(t, e))
	if got := paths(leaves); !reflect.DeepEqual(got, []string{want[0], want[1], want[2], want[4]}) {
		t.Errorf("parts = %v", got)
	}
}

func TestBuildLineLengths(t *testing.T) {
	long := strings.Repeat("word ", 400)
	e := sample()
	e.Subject = long + strings.Repeat("x", 3000) + " ü " + strings.Repeat("=?", 50)
	e.From.Name = strings.Repeat("N", 2000) + " " + long
	e.To = nil
	for i := 0; i < 100; i++ {
		e.To = append(e.To, Address{Name: "Name Number " + strings.Repeat("ö", i), Addr: "someone.with.a.long.address@example.com"})
	}
	e.HTML = "<p>" + strings.Repeat("a", 5000) + "</p>" + strings.Repeat("<b>x</b>", 1000)
	e.Attachments = []Attachment{{Filename: strings.Repeat("Ünïcödé ", 100) + ".pdf", MIMEType: "application/" + strings.Repeat("x", 300), Data: bytes.Repeat([]byte{1}, 1000)}}
	msg := mustBuild(t, e)
	m, leaves := parse(t, msg)
	if got := decodeHeader(t, m.Header.Get("Subject")); got != cleanText(e.Subject) {
		t.Errorf("long Subject does not come back: %.100q", got)
	}
	if from, err := m.Header.AddressList("From"); err != nil || from[0].Name != cleanText(e.From.Name) {
		t.Errorf("long From name does not come back: %v", err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 100 || to[99].Name != e.To[99].Name {
		t.Errorf("To of 100 does not come back: %v", err)
	}
	if name := leaves[2].filename; len(name) > maxFilename || !strings.HasSuffix(name, ".pdf") {
		t.Errorf("long filename = %q", name)
	}
}

func TestBuildInjection(t *testing.T) {
	e := sample()
	e.Subject = "Hi\r\nBcc: evil@example.com\r\n\r\nbody"
	e.From.Name = "Ann\nBcc: evil@example.com"
	e.To = []Address{{Name: "Bob\r\n", Addr: "bob@example.org"}}
	e.Cc = []Address{{Name: "Carol\u2028X-Evil: 1", Addr: "carol@example.org"}}
	msg := mustBuild(t, e)
	m, _ := parse(t, msg)
	if _, ok := m.Header["Bcc"]; ok {
		t.Fatal("a Bcc header was injected")
	}
	if _, ok := m.Header["X-Evil"]; ok {
		t.Fatal("a header was injected")
	}
	if got := decodeHeader(t, m.Header.Get("Subject")); got != "Hi Bcc: evil@example.com body" {
		t.Errorf("Subject = %q", got)
	}
	if from, _ := m.Header.AddressList("From"); from[0].Name != "Ann Bcc: evil@example.com" {
		t.Errorf("From name = %q", from[0].Name)
	}

	for name, f := range map[string]func(*Email){
		"CRLF in an address":   func(e *Email) { e.To[0].Addr = "bob@example.org\r\nBcc: evil@example.com" },
		"LF in the sender":     func(e *Email) { e.From.Addr = "ann@example.com\n" + "x" },
		"name in an address":   func(e *Email) { e.Cc = []Address{{Addr: "Carol <carol@example.org>"}} },
		"two addresses":        func(e *Email) { e.To[0].Addr = "a@example.org, b@example.org" },
		"not an address":       func(e *Email) { e.To[0].Addr = "bob" },
		"empty address":        func(e *Email) { e.Cc = []Address{{Name: "Nobody"}} },
		"no sender":            func(e *Email) { e.From = Address{Name: "Ann"} },
		"no message ID":        func(e *Email) { e.MessageID = " " },
		"CRLF in message ID":   func(e *Email) { e.MessageID = "a@b>\r\nBcc: evil@example.com" },
		"message ID without @": func(e *Email) { e.MessageID = "abc" },
		"CRLF in In-Reply-To":  func(e *Email) { e.InReplyTo = "a@b\r\nX-Evil: 1" },
	} {
		e := sample()
		f(&e)
		if msg, err := Build(e); err == nil {
			t.Errorf("%s: built:\n%s", name, msg)
		} else if !strings.HasPrefix(err.Error(), "compose: ") {
			t.Errorf("%s: error without context: %v", name, err)
		}
	}
}

func TestBuildMaxSize(t *testing.T) {
	e := sample()
	e.Attachments = []Attachment{{Filename: "big.bin", Data: make([]byte, MaxSize)}}
	_, err := Build(e)
	if err == nil || !strings.Contains(err.Error(), "34.2 MiB") || !strings.Contains(err.Error(), "25 MiB") {
		t.Errorf("Build of 25 MiB of attachments: %v", err)
	}

	// Attachments just under the limit, which the text then pushes over.
	e.Attachments[0].Data = make([]byte, (MaxSize-1000)/4*3)
	e.HTML = strings.Repeat("<p>much text</p>", 1000)
	if _, err := Build(e); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Errorf("Build over the limit with its text: %v", err)
	}

	e.HTML = "short"
	e.Attachments[0].Data = make([]byte, 10<<20)
	if msg, err := Build(e); err != nil || len(msg) > MaxSize {
		t.Errorf("Build of 10 MiB: %d bytes, %v", len(msg), err)
	}
}

func crlfToLF(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }
