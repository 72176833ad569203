package dav_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
)

// TestWrongPassword is ErrAuth with a sentence, and never shows the
// password; so is a user reaching into another's collection.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	s, alice, book, _ := setup(t)
	ctx := testCtx(t)
	c, err := dav.New(s.Account(davtest.UserAlice), "wrong-secret", dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Discover(ctx)
	if !errors.Is(err, dav.ErrAuth) || errors.Is(err, dav.ErrPrecondition) {
		t.Fatalf("Discover with a wrong password: %v, want ErrAuth", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "401") || !strings.Contains(msg, "user name or password") || strings.Contains(msg, "wrong-secret") {
		t.Errorf("error %q: want the status and a sentence, without the password", msg)
	}
	if _, err := c.Put(ctx, book.Href+"x.vcf", vcard("x", "X"), dav.AddressBook, ""); !errors.Is(err, dav.ErrAuth) {
		t.Errorf("Put with a wrong password: %v, want ErrAuth", err)
	}

	bob := client(t, s, davtest.UserBob)
	if _, err := bob.List(ctx, book.Href); !errors.Is(err, dav.ErrAuth) || !strings.Contains(err.Error(), "403") {
		t.Errorf("bob listing alice's address book: %v, want ErrAuth with 403", err)
	}
	if alice.Requests() == 0 || bob.Requests() != 1 {
		t.Errorf("Requests() = %d for alice, %d for bob", alice.Requests(), bob.Requests())
	}
}

// TestTLS talks https to a server with a private CA: trusted with the CA
// file, refused with a certificate sentence without it.
func TestTLS(t *testing.T) {
	t.Parallel()
	s := davtest.Start(t, davtest.TLS())
	ctx := testCtx(t)
	acct := s.Account(davtest.UserAlice)
	if !strings.HasPrefix(acct.URL, "https://") || acct.CAFile == "" {
		t.Fatalf("TLS account = %+v", acct)
	}
	c, err := dav.New(acct, davtest.PasswordAlice, dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Discover(ctx); err != nil {
		t.Fatalf("Discover over TLS with the CA file: %v", err)
	}

	acct.CAFile = ""
	c, err = dav.New(acct, davtest.PasswordAlice, dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Discover(ctx)
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted") || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("Discover over TLS without the CA file: %v, want a certificate sentence", err)
	}
	steps := dav.Probe(ctx, acct, davtest.PasswordAlice, dav.Options{})
	last := steps[len(steps)-1]
	if last.Name != dav.StepTLS || last.OK || !strings.Contains(last.Detail, "certificate") {
		t.Fatalf("Probe without the CA file ends with %+v", last)
	}
}

// TestProbe runs the connection test against a working account, a wrong
// password and a closed port.
func TestProbe(t *testing.T) {
	t.Parallel()
	s := davtest.Start(t)
	ctx := testCtx(t)
	acct := s.Account(davtest.UserAlice)
	steps := dav.Probe(ctx, acct, davtest.PasswordAlice, dav.Options{})
	names := []string{dav.StepDNS, dav.StepConnect, dav.StepTLS, dav.StepLogin, dav.StepPrincipal, dav.StepAddressBooks, dav.StepCalendars, dav.StepSync}
	if len(steps) != len(names) {
		t.Fatalf("Probe = %+v", steps)
	}
	for i, st := range steps {
		if st.Name != names[i] || !st.OK || st.Detail == "" {
			t.Errorf("step %d = %+v, want %s OK", i, st, names[i])
		}
	}
	if sync := steps[len(steps)-1]; !sync.Warning {
		t.Errorf("an account without collections: %+v, want a warning", sync)
	}

	c := client(t, s, davtest.UserAlice)
	h, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.EnsureAddressBook(ctx, h, "Contacts"); err != nil {
		t.Fatal(err)
	}
	steps = dav.Probe(ctx, acct, davtest.PasswordAlice, dav.Options{})
	if sync := steps[len(steps)-1]; sync.Name != dav.StepSync || !sync.OK || sync.Warning {
		t.Errorf("with an address book the sync step is %+v", sync)
	}

	steps = dav.Probe(ctx, acct, "wrong", dav.Options{})
	if last := steps[len(steps)-1]; last.Name != dav.StepLogin || last.OK || !strings.Contains(last.Detail, "user name or password") {
		t.Errorf("Probe with a wrong password ends with %+v", last)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/"
	l.Close()
	steps = dav.Probe(ctx, dav.Account{URL: closed, Username: "alice"}, "pw", dav.Options{})
	if last := steps[len(steps)-1]; last.Name != dav.StepConnect || last.OK || !strings.Contains(last.Detail, "could not connect") {
		t.Errorf("Probe of a closed port ends with %+v", last)
	}
	steps = dav.Probe(ctx, dav.Account{URL: "http://dav.example.com/", Username: "alice"}, "pw", dav.Options{})
	if len(steps) != 1 || steps[0].Name != dav.StepAddress || steps[0].OK {
		t.Errorf("Probe of plain http to another host = %+v", steps)
	}
}

// TestRestart keeps the items and the sync token across a restart of
// the server.
func TestRestart(t *testing.T) {
	t.Parallel()
	s, c, book, _ := setup(t)
	ctx := testCtx(t)
	if _, err := c.Put(ctx, book.Href+"a.vcf", vcard("a", "A"), dav.AddressBook, ""); err != nil {
		t.Fatal(err)
	}
	d, err := c.Changes(ctx, book.Href, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	d2, err := c.Changes(ctx, book.Href, d.Token)
	if err != nil || len(d2.Changed)+len(d2.Removed) != 0 {
		t.Fatalf("Changes after a restart = %+v, %v", d2, err)
	}
}
