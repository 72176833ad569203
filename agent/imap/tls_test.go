package imap

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/maildir"
)

// The connection test: each step reported, in words, by what failed.
func TestProbe(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	noIdle := imaptest.Start(t, imaptest.NoIdle())
	plain := imaptest.Start(t, imaptest.NoTLS())
	noCA := func(a agent.IMAPAccount) agent.IMAPAccount { a.CAFile = ""; return a }
	localhost := func(a agent.IMAPAccount) agent.IMAPAccount { a.Host = "localhost"; return a }
	ctx := context.Background()

	ok := []struct {
		name string
		a    agent.IMAPAccount
		pw   string
	}{
		{"STARTTLS with the CA file", srv.Account(imaptest.UserAlice, agent.SecuritySTARTTLS), imaptest.PasswordAlice},
		{"implicit TLS with the CA file", srv.Account(imaptest.UserAlice, agent.SecurityTLS), imaptest.PasswordAlice},
		{"implicit TLS to localhost", localhost(srv.Account(imaptest.UserBob, agent.SecurityTLS)), imaptest.PasswordBob},
		{"STARTTLS on loopback without STARTTLS falls back to plaintext", plain.Account(imaptest.UserAlice, agent.SecuritySTARTTLS), imaptest.PasswordAlice},
		{"plaintext on loopback", srv.Account(imaptest.UserAlice, agent.SecurityNone), imaptest.PasswordAlice},
	}
	for _, c := range ok {
		r := Probe(ctx, c.a, c.pw)
		if err := errors.Join(r.DNS, r.Connect, r.TLS, r.Login, r.Idle); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if r.Folders < 2 || r.Latency <= 0 {
			t.Errorf("%s: Folders %d, Latency %s", c.name, r.Folders, r.Latency)
		}
	}

	r := Probe(ctx, noCA(srv.Account(imaptest.UserAlice, agent.SecurityTLS)), imaptest.PasswordAlice)
	if !errors.Is(r.TLS, ErrTLS) || !strings.Contains(r.TLS.Error(), "certificate is not trusted") {
		t.Errorf("untrusted certificate over TLS: TLS = %v", r.TLS)
	}
	r = Probe(ctx, noCA(srv.Account(imaptest.UserAlice, agent.SecuritySTARTTLS)), imaptest.PasswordAlice)
	if !errors.Is(r.TLS, ErrTLS) || !strings.Contains(r.TLS.Error(), "certificate is not trusted") {
		t.Errorf("untrusted certificate over STARTTLS: TLS = %v", r.TLS)
	}
	r = Probe(ctx, srv.Account(imaptest.UserAlice, agent.SecurityTLS), "wrong")
	if !errors.Is(r.Login, ErrLogin) || !strings.Contains(r.Login.Error(), "refused the user name or password") || r.TLS != nil {
		t.Errorf("wrong password: %+v", r)
	}
	r = Probe(ctx, noIdle.Account(imaptest.UserAlice, agent.SecuritySTARTTLS), imaptest.PasswordAlice)
	if r.Idle == nil || !strings.Contains(r.Idle.Error(), "does not offer IDLE; new mail will be found by checking every 30 seconds") ||
		errors.Join(r.DNS, r.Connect, r.TLS, r.Login) != nil {
		t.Errorf("server without IDLE: %+v", r)
	}
	// TLS spoken to the plaintext port.
	wrongPort := srv.Account(imaptest.UserAlice, agent.SecurityTLS)
	wrongPort.Port = srv.Account(imaptest.UserAlice, agent.SecurityNone).Port
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	r = Probe(tctx, wrongPort, imaptest.PasswordAlice)
	cancel()
	if r.TLS == nil && r.Connect == nil {
		t.Errorf("TLS to the plaintext port passed: %+v", r)
	} else {
		t.Logf("TLS to the plaintext port: %v", errors.Join(r.TLS, r.Connect))
	}
	r = Probe(ctx, agent.IMAPAccount{Host: "127.0.0.1", Port: closedPort(t), Security: agent.SecurityNone, Username: "alice"}, "pw")
	if r.Connect == nil || !strings.Contains(r.Connect.Error(), "could not connect") {
		t.Errorf("closed port: %+v", r)
	}
	r = Probe(ctx, agent.IMAPAccount{Host: "mail.example.com", Security: agent.SecurityNone, Username: "alice"}, "pw")
	if !errors.Is(r.TLS, ErrTLS) {
		t.Errorf("plaintext to another computer: %+v", r)
	}
	r = Probe(ctx, agent.IMAPAccount{Host: "no-such-host.invalid", Security: agent.SecurityTLS, Username: "alice"}, "pw")
	if r.DNS == nil {
		t.Errorf("unknown host: %+v", r)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// The Source over STARTTLS and over implicit TLS with the server's CA
// file: arrivals come through; without the CA file, Run stops with
// ErrTLS; with a wrong password, with ErrLogin, at once.
func TestSourceOverTLS(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t)
	for i, sec := range []agent.Security{agent.SecuritySTARTTLS, agent.SecurityTLS} {
		s := newSource(t, srv, func(o *Options) { o.Account = srv.Account(imaptest.UserAlice, sec) })
		r := start(t, s)
		listed(t, s, r, 2)
		srv.Append(t, imaptest.UserAlice, "INBOX", message("a@example.com", "Over "+sec.String(), sec.String()+"@example.com", "x"))
		cs := r.wait(t, "an arrival over "+sec.String(), atLeast(i+1, maildir.Added, "INBOX"))
		if env, err := s.Envelope(cs[len(cs)-1].Key); err != nil || env.Subject != "Over "+sec.String() {
			t.Errorf("%s: Envelope = %+v, %v", sec, env, err)
		}
	}

	untrusted := srv.Account(imaptest.UserAlice, agent.SecurityTLS)
	untrusted.CAFile = ""
	err := runOnce(t, newSource(t, srv, func(o *Options) { o.Account = untrusted }))
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("Run without the CA file: %v", err)
	}
	err = runOnce(t, newSource(t, srv, func(o *Options) { o.Password = "wrong" }))
	if !errors.Is(err, ErrLogin) {
		t.Errorf("Run with a wrong password: %v", err)
	}
}

// runOnce runs s and returns what Run returned, failing if it runs on.
func runOnce(t testing.TB, s *Source) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	out := make(chan maildir.Change, 16)
	err := s.Run(ctx, out)
	if ctx.Err() != nil {
		t.Fatalf("Run did not return by itself within %s", waitFor)
	}
	return err
}

// XOAUTH2 sends the user and token in the form Microsoft and Google
// document. Dovecot here has no OAuth, so the refusal is what is checked:
// the exchange completes and reads as a refused login.
func TestXOAUTH2(t *testing.T) {
	t.Parallel()
	mech, ir, _ := (&xoauth2{user: "alice@contoso.com", token: "tok"}).Start()
	if mech != "XOAUTH2" || string(ir) != "user=alice@contoso.com\x01auth=Bearer tok\x01\x01" {
		t.Errorf("XOAUTH2 initial response %q %q", mech, ir)
	}
	srv := imaptest.Start(t)
	calls := 0
	s := newSource(t, srv, func(o *Options) {
		o.Password = ""
		o.Token = func(context.Context) (string, error) { calls++; return "not-a-token", nil }
	})
	if err := runOnce(t, s); !errors.Is(err, ErrLogin) {
		t.Errorf("Run with a token the server refuses: %v", err)
	}
	if calls == 0 {
		t.Error("the token source was not asked")
	}
}
