package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"

	"crmsync/agent/smtp"
)

// multipart is a message as the CRM writes one: text and HTML
// alternatives, To and Cc in the header, the Bcc recipient nowhere.
const multipart = "From: Alice <alice@crm.test>\r\n" +
	"To: Bob <bob@example.test>\r\n" +
	"Cc: carol@example.test\r\n" +
	"Subject: Quarterly review\r\n" +
	"Message-ID: <crm-42@crm.test>\r\n" +
	"Date: Mon, 01 Dec 2025 10:00:00 +0000\r\n" +
	"X-CRM-Activity: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello Bob,=0A=0Asee you on Monday.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Hello Bob,</p><p>see you on Monday.</p>\r\n" +
	"--b1--\r\n"

// send sends with a short timeout and fails the test on an error.
func send(t *testing.T, a smtp.Account, o smtp.Options, from string, rcpts []string, msg []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	answer, err := smtp.Send(ctx, a, o, from, rcpts, msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return answer
}

// parse reads a delivered message.
func parse(t *testing.T, raw []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v\n%s", err, raw)
	}
	return m
}

// findByHeader returns the delivered message whose field name is value.
func findByHeader(t *testing.T, msgs [][]byte, name, value string) *mail.Message {
	t.Helper()
	for _, raw := range msgs {
		if m := parse(t, raw); m.Header.Get(name) == value {
			return m
		}
	}
	t.Fatalf("no delivered message has %s: %s among %d", name, value, len(msgs))
	return nil
}

// wantKind fails the test unless err is kind.
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v (%T), want %v", err, err, kind)
	}
	for _, other := range []error{smtp.ErrTLS, smtp.ErrAuth, smtp.ErrTemporary} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("error %v is also %v", err, other)
		}
	}
}

// wantSentence fails the test unless err says each of the pieces.
func wantSentence(t *testing.T, err error, pieces ...string) {
	t.Helper()
	for _, p := range pieces {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// asRefused is errors.As for a *smtp.RefusedError.
func asRefused(err error, re **smtp.RefusedError) bool { return errors.As(err, re) }

// wantNot fails the test if err is kind.
func wantNot(t *testing.T, err, kind error) {
	t.Helper()
	if errors.Is(err, kind) {
		t.Errorf("error %v is %v", err, kind)
	}
}
