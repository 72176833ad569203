package smtp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/smtp"
	"crmsync/agent/smtp/smtptest"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.WithAuth())
	a := s.Account(imaptest.UserAlice)
	if a.Username != imaptest.UserAlice {
		t.Fatalf("account %+v has no user", a)
	}
	msg := []byte("From: alice@crm.test\r\nTo: bob@example.test\r\nSubject: signed in\r\n\r\nhi\r\n")
	answer := send(t, a, smtp.Options{Password: imaptest.PasswordAlice}, "alice@crm.test", []string{"bob@example.test"}, msg)
	if !queued.MatchString(answer) {
		t.Errorf("answer %q", answer)
	}
	m := findByHeader(t, s.WaitDelivered(t, 1, 10*time.Second), "Subject", "signed in")
	// Postfix notes the authenticated sender in its Received field only
	// with smtpd_sasl_authenticated_header; the log says who signed in.
	_ = m
	if log := s.Log(); !strings.Contains(log, "sasl_method=PLAIN, sasl_username="+imaptest.UserAlice) {
		t.Errorf("Postfix did not log a PLAIN sign-in by %s", imaptest.UserAlice)
	}

	_, err := smtp.Send(context.Background(), a, smtp.Options{Password: "wrong"}, "alice@crm.test", []string{"bob@example.test"}, msg)
	wantKind(t, err, smtp.ErrAuth)
	wantSentence(t, err, "refused the user name or password", "535 5.7.8 Error: authentication failed")

	// Unauthenticated: Postfix refuses the recipient.
	anon := a
	anon.Username = ""
	_, err = smtp.Send(context.Background(), anon, smtp.Options{}, "alice@crm.test", []string{"bob@example.test"}, msg)
	var re *smtp.RefusedError
	if !asRefused(err, &re) || re.Code != 554 || !strings.Contains(re.Text, "Recipient address rejected: Access denied") {
		t.Errorf("unauthenticated Send: %v, want Postfix's refusal of the recipient", err)
	}

	// Postfix offers AUTH only after STARTTLS (smtpd_tls_auth_only); a
	// loopback plaintext session cannot sign in, and says why.
	plain := a
	plain.Security = agent.SecurityNone
	_, err = smtp.Send(context.Background(), plain, smtp.Options{Password: imaptest.PasswordAlice}, "alice@crm.test", []string{"bob@example.test"}, msg)
	wantKind(t, err, smtp.ErrAuth)
	wantSentence(t, err, "does not offer signing in (AUTH)")
}

func TestAuthLogin(t *testing.T) {
	t.Parallel()
	s := smtptest.Start(t, smtptest.OnlyMechanisms("login"))
	a := s.Account(imaptest.UserBob)
	send(t, a, smtp.Options{Password: imaptest.PasswordBob}, "bob@crm.test", []string{"alice@example.test"}, []byte("Subject: login\r\n\r\nhi\r\n"))
	s.WaitDelivered(t, 1, 10*time.Second)
	if log := s.Log(); !strings.Contains(log, "sasl_method=LOGIN, sasl_username="+imaptest.UserBob) {
		t.Errorf("Postfix did not log a LOGIN sign-in by %s", imaptest.UserBob)
	}
	_, err := smtp.Send(context.Background(), a, smtp.Options{Password: imaptest.PasswordAlice}, "bob@crm.test", []string{"alice@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	wantKind(t, err, smtp.ErrAuth)

	// A token asks for XOAUTH2, which this server does not offer.
	_, err = smtp.Send(context.Background(), a, smtp.Options{Token: func(context.Context) (string, error) { return "tok", nil }},
		"bob@crm.test", []string{"alice@example.test"}, []byte("Subject: x\r\n\r\nx\r\n"))
	wantKind(t, err, smtp.ErrAuth)
	wantSentence(t, err, "XOAUTH2")
}
