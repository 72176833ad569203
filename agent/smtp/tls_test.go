package smtp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/smtp"
	"crmsync/agent/smtp/smtptest"
)

func TestSTARTTLS(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.STARTTLS())
	a := s.Account("")
	if a.Security != agent.SecuritySTARTTLS || a.CAFile == "" {
		t.Fatalf("account %+v, want STARTTLS with the CA file", a)
	}
	answer := send(t, a, smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: over TLS\r\n\r\nhi\r\n"))
	if !queued.MatchString(answer) {
		t.Errorf("answer %q", answer)
	}
	s.WaitDelivered(t, 1, 10*time.Second)
	if log := s.Log(); !strings.Contains(log, "Anonymous TLS connection established from localhost") &&
		!strings.Contains(log, "TLS connection established from localhost") {
		t.Error("Postfix logged no TLS connection")
	}

	// Without the CA the self-signed certificate is not trusted, and the
	// mail is not sent in clear instead.
	a.CAFile = ""
	_, err := smtp.Send(context.Background(), a, smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: no\r\n\r\nno\r\n"))
	wantKind(t, err, smtp.ErrTLS)
	wantSentence(t, err, "certificate is not trusted", "choose its certificate as the CA file")

	// Implicit TLS to the STARTTLS port: the server greets in clear.
	a = s.Account("")
	a.Security = agent.SecurityTLS
	_, err = smtp.Send(context.Background(), a, smtp.Options{Timeout: 5 * time.Second}, "alice@crm.test", []string{"bob@example.test"}, []byte("Subject: no\r\n\r\nno\r\n"))
	wantKind(t, err, smtp.ErrTLS)
	wantSentence(t, err, "did not answer with TLS", "465 is for smtps://")

	time.Sleep(200 * time.Millisecond)
	if n := len(s.Delivered(t)); n != 1 {
		t.Errorf("%d messages delivered, want 1", n)
	}
}
