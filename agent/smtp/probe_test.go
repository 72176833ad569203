package smtp_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/smtp"
	"crmsync/agent/smtp/smtptest"
)

// stepsSay checks the steps' names and outcomes, and that the last says
// the piece of text.
func stepsSay(t *testing.T, steps []smtp.Step, want string, last string) {
	t.Helper()
	var got []string
	for _, s := range steps {
		mark := "ok"
		switch {
		case !s.OK:
			mark = "FAIL"
		case s.Warning:
			mark = "warn"
		}
		got = append(got, s.Name+":"+mark)
		if s.Detail == "" || !strings.HasSuffix(s.Detail, ".") || strings.ToUpper(s.Detail[:1]) != s.Detail[:1] {
			t.Errorf("step %s detail %q is not a sentence", s.Name, s.Detail)
		}
	}
	if strings.Join(got, " ") != want {
		t.Errorf("steps %s, want %s", strings.Join(got, " "), want)
	}
	if len(steps) > 0 && !strings.Contains(strings.ToLower(steps[len(steps)-1].Detail), strings.ToLower(last)) {
		t.Errorf("last step says %q, want %q", steps[len(steps)-1].Detail, last)
	}
	if t.Failed() {
		for _, s := range steps {
			t.Logf("%+v", s)
		}
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	auth := smtptest.Start(t, smtptest.WithAuth())
	plain := smtptest.Start(t)
	ctx := context.Background()

	a := auth.Account(imaptest.UserAlice)
	stepsSay(t, smtp.Probe(ctx, a, imaptest.PasswordAlice), "DNS:ok Connect:ok TLS:ok Login:ok", "Signed in as alice with PLAIN")
	stepsSay(t, smtp.Probe(ctx, a, "wrong"), "DNS:ok Connect:ok TLS:ok Login:FAIL", "535 5.7.8")
	stepsSay(t, smtp.Probe(ctx, a, ""), "Settings:FAIL", "Enter the password")

	noCA := a
	noCA.CAFile = ""
	stepsSay(t, smtp.Probe(ctx, noCA, imaptest.PasswordAlice), "DNS:ok Connect:ok TLS:FAIL", "certificate is not trusted")

	stepsSay(t, smtp.Probe(ctx, plain.Account(""), ""), "DNS:ok Connect:ok TLS:warn Login:warn", "without signing in")
	starttls := plain.Account("")
	starttls.Security = agent.SecuritySTARTTLS
	stepsSay(t, smtp.Probe(ctx, starttls, ""), "DNS:ok Connect:ok TLS:warn Login:warn", "without signing in")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := smtp.Account{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Security: agent.SecurityNone}
	l.Close()
	stepsSay(t, smtp.Probe(ctx, closed, ""), "DNS:ok Connect:FAIL", "could not connect")

	stepsSay(t, smtp.Probe(ctx, smtp.Account{Host: "mail.example.com", Security: agent.SecurityNone, Username: "a"}, "pw"),
		"Settings:FAIL", "use smtps://")
	stepsSay(t, smtp.Probe(ctx, smtp.Account{Host: "no-such-host.invalid", Username: "a"}, "pw"),
		"DNS:FAIL", "could not be")
	if !strings.Contains(auth.Log(), "disconnect from localhost") || strings.Contains(auth.Log(), "data=") {
		t.Error("Probe sent DATA or did not disconnect")
	}
}
