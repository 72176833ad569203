package smtp_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/smtp"
	"crmsync/agent/smtp/smtptest"
)

// queued is Postfix's answer to an accepted message.
var queued = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$`)

func TestSendMultipartWithBcc(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	rcpts := []string{"bob@example.test", "carol@example.test", "dave-hidden@example.test"}
	answer := send(t, s.Account(""), smtp.Options{}, "alice@crm.test", rcpts, []byte(multipart))
	if !queued.MatchString(answer) {
		t.Errorf("answer %q, want Postfix's queue answer", answer)
	}
	// One copy per envelope recipient, the hidden one included.
	msgs := s.WaitDelivered(t, len(rcpts), 10*time.Second)
	seen := map[string]bool{}
	for _, raw := range msgs {
		m := parse(t, raw)
		to := m.Header.Get("X-Original-To")
		seen[to] = true
		if got := m.Header.Get("Delivered-To"); got != to {
			t.Errorf("Delivered-To %q, X-Original-To %q", got, to)
		}
		if got := m.Header.Get("Return-Path"); got != "<alice@crm.test>" {
			t.Errorf("Return-Path %q, want the envelope sender", got)
		}
		for name, want := range map[string]string{
			"From":           "Alice <alice@crm.test>",
			"To":             "Bob <bob@example.test>",
			"Cc":             "carol@example.test",
			"Subject":        "Quarterly review",
			"Message-Id":     "<crm-42@crm.test>",
			"X-Crm-Activity": "0f8fad5b-d9cb-469f-a165-70867728950e",
			"Content-Type":   `multipart/alternative; boundary="b1"`,
		} {
			if got := m.Header.Get(name); got != want {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
		// Only the hidden recipient's own copy names it, in the fields
		// the delivery agent adds.
		for name, values := range m.Header {
			if name == "X-Original-To" || name == "Delivered-To" {
				continue
			}
			if strings.Contains(strings.Join(values, " "), "dave-hidden") {
				t.Errorf("the hidden recipient shows in %s: %q", name, values)
			}
		}
		if !strings.Contains(string(raw), "<p>Hello Bob,</p><p>see you on Monday.</p>\n--b1--") {
			t.Errorf("body not intact:\n%s", raw)
		}
	}
	for _, r := range rcpts {
		if !seen[r] {
			t.Errorf("nothing delivered to envelope recipient %s (got %v)", r, seen)
		}
	}
}

func TestSendRefusesBccField(t *testing.T) {
	t.Parallel()
	msg := "From: a@crm.test\r\nTo: b@example.test\r\nbcc: hidden@example.test\r\n\r\nhi\r\n"
	_, err := smtp.Send(context.Background(), smtp.Account{Host: "127.0.0.1", Port: 1, Security: agent.SecurityNone},
		smtp.Options{}, "a@crm.test", []string{"b@example.test"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "Bcc") {
		t.Fatalf("Send with a Bcc field: %v, want a refusal before connecting", err)
	}
	for _, bad := range []string{"x@y\r\nDATA", "Bob <bob@example.test>", ""} {
		_, err := smtp.Send(context.Background(), smtp.Account{Host: "127.0.0.1", Port: 1, Security: agent.SecurityNone},
			smtp.Options{}, "a@crm.test", []string{bad}, []byte("Subject: x\r\n\r\nx\r\n"))
		if err == nil || errors.Is(err, smtp.ErrTemporary) {
			t.Errorf("Send to %q: %v, want a refusal before connecting", bad, err)
		}
	}
}

func TestSendRefusedRecipient(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.RefuseRecipient("nobody@example.test", "User unknown in this test"))
	_, err := smtp.Send(context.Background(), s.Account(""), smtp.Options{}, "alice@crm.test",
		[]string{"bob@example.test", "nobody@example.test", "carol@example.test"}, []byte(multipart))
	var re *smtp.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Send: %v (%T), want a *RefusedError", err, err)
	}
	if re.Stage != "RCPT TO <nobody@example.test>" || re.Code != 554 {
		t.Errorf("refused %q with %d, want RCPT TO <nobody@example.test> with 554", re.Stage, re.Code)
	}
	if want := "554 5.7.1 <nobody@example.test>: Recipient address rejected: User unknown in this test"; re.Text != want {
		t.Errorf("Text %q, want %q", re.Text, want)
	}
	if errors.Is(err, smtp.ErrTemporary) {
		t.Error("a refusal is temporary")
	}
	// The accepted recipient before the refused one gets nothing either.
	// Postfix delivers within milliseconds; a message sent after the
	// refused one, to the same recipient, arrives first if at all.
	send(t, s.Account(""), smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: marker\r\n\r\nmarker\r\n"))
	s.WaitDelivered(t, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if msgs := s.Delivered(t); len(msgs) != 1 || parse(t, msgs[0]).Header.Get("Subject") != "marker" {
		t.Errorf("%d messages delivered, want only the marker", len(msgs))
	}
}

func TestSendDotStuffing(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	// Bare LF line endings too: they become CRLF on the wire.
	body := ".\r\n..two dots\r\n.one dot\n. dot space\r\nlast line without an end"
	msg := "From: alice@crm.test\r\nTo: bob@example.test\r\nSubject: dots\r\n\r\n" + body
	send(t, s.Account(""), smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte(msg))
	raw := s.WaitDelivered(t, 1, 10*time.Second)[0]
	// The virtual delivery agent stores LF line endings.
	want := "\n\n.\n..two dots\n.one dot\n. dot space\nlast line without an end\n"
	if !strings.HasSuffix(string(raw), want) {
		t.Errorf("delivered body does not end with %q:\n%s", want, raw)
	}
}

func TestSendPlaintextLoopback(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t)
	a := s.Account("")
	for _, sec := range []agent.Security{agent.SecurityNone, agent.SecuritySTARTTLS} {
		// STARTTLS falls back to plaintext for a loopback server that
		// offers none.
		a.Security = sec
		answer := send(t, a, smtp.Options{LocalName: "crm-agent.test"}, "alice@crm.test", []string{"bob@example.test"},
			[]byte("Subject: "+sec.String()+"\r\n\r\nhi\r\n"))
		if !queued.MatchString(answer) {
			t.Errorf("%s: answer %q", sec, answer)
		}
	}
	// An address in UTF-8 goes with SMTPUTF8, which Postfix offers.
	a.Security = agent.SecurityNone
	send(t, a, smtp.Options{}, "jörg@crm.test", []string{"zoë@example.test"}, []byte("Subject: Grüße\r\n\r\nhi\r\n"))
	m := findByHeader(t, s.WaitDelivered(t, 3, 10*time.Second), "Subject", "Grüße")
	if got := m.Header.Get("X-Original-To"); got != "zoë@example.test" {
		t.Errorf("UTF-8 recipient delivered as %q", got)
	}
}

func TestSendUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	a := smtp.Account{Host: "127.0.0.1", Port: port, Security: agent.SecurityNone}
	_, err = smtp.Send(context.Background(), a, smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	wantKind(t, err, smtp.ErrTemporary)
	wantSentence(t, err, "could not connect to 127.0.0.1:", "check the server name and port")
}

func TestSendCancel(t *testing.T) {
	t.Parallel()
	// A server that accepts and never greets: only ctx ends the wait.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	a := smtp.Account{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Security: agent.SecurityNone}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = smtp.Send(ctx, a, smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send returned %s after the cancel", d)
	}
	wantKind(t, err, smtp.ErrTemporary)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	wantSentence(t, err, "sending was cancelled")

	// The same with the timeout of the options.
	start = time.Now()
	_, err = smtp.Send(context.Background(), a, smtp.Options{Timeout: 300 * time.Millisecond}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send returned %s after a 300ms timeout", d)
	}
	wantKind(t, err, smtp.ErrTemporary)
	wantSentence(t, err, "did not answer in time")
}

func TestSendDeferredRecipient(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.DeferRecipient("grey@example.test", "Greylisted, try again later"))
	_, err := smtp.Send(context.Background(), s.Account(""), smtp.Options{}, "alice@crm.test",
		[]string{"bob@example.test", "grey@example.test"}, []byte("Subject: grey\r\n\r\nx\r\n"))
	wantKind(t, err, smtp.ErrTemporary)
	wantSentence(t, err, "450 4.7.1 <grey@example.test>: Recipient address rejected: Greylisted, try again later")
	var re *smtp.RefusedError
	if asRefused(err, &re) {
		t.Errorf("a 4xx is a refusal: %v", re)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(s.Delivered(t)); n != 0 {
		t.Errorf("%d messages delivered after a deferred recipient, want none", n)
	}
}
