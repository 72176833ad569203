package imap

import (
	"strings"
	"testing"

	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
)

// TestBodyCarriesMeetingRequest: the body of a tracked invitation holds
// its text and its meeting request, fetched as two parts of one FETCH,
// and the outbox finds both in it.
func TestBodyCarriesMeetingRequest(t *testing.T) {
	srv := imaptest.Start(t)
	s := newSource(t, srv)
	r := start(t, s)
	r.wait(t, "the first listing", atLeast(0, maildir.Added, "INBOX"))
	ics := "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:imap-invite-1\r\n" +
		"DTSTART:20261210T150000Z\r\nDTEND:20261210T160000Z\r\nSUMMARY:Pricing call\r\nDTSTAMP:20261201T090000Z\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	msg := "From: Maria Campbell <maria.campbell@contoso.example>\r\nTo: alice@demo.local\r\nSubject: Invitation: Pricing call\r\n" +
		"Message-ID: <imap-invite-1@contoso.example>\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we talk prices?\r\n" +
		"--inner\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n" + ics + "\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"prices.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--outer--\r\n"
	srv.Append(t, imaptest.UserAlice, "INBOX", []byte(msg))
	cs := r.wait(t, "the invitation", atLeast(1, maildir.Added, "INBOX"))
	rc, err := s.Body(cs[len(cs)-1].Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := outbox.ReadBody(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Text, "Shall we talk prices?") || !strings.Contains(string(b.Invitation), "UID:imap-invite-1") {
		t.Fatalf("body = %q, invitation = %q", b.Text, b.Invitation)
	}
	if strings.Contains(b.Text, "JVBERi0") {
		t.Error("the attachment was fetched with the text")
	}
}
