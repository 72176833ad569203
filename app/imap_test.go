package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/imap/imaptest"
)

// TestAgentOnIMAP runs `crmsync agent --imap` against a real Dovecot with
// both passwords on standard input, in DESIGN's order: mail appended to
// the inbox is tracked, `crmsync folders` maps a folder and lists the
// rule, and mail moved into it is tracked regarding the rule's record.
func TestAgentOnIMAP(t *testing.T) {
	imapSrv := imaptest.Start(t)
	_, crmURL := seededCRM(t)
	data := shortDir(t)
	acct := imapSrv.Account("alice", agent.SecuritySTARTTLS)
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--user", "alice@demo.local", "--imap", acct.URL(),
			"--ca-bundle", acct.CAFile, "--data", data, "--password-stdin"},
			Stdio{In: strings.NewReader("demo-alice\n" + imapSrv.Password("alice") + "\n"), Out: a.out, Err: a.errb})
	}()
	t.Cleanup(a.stop)
	waitFor(t, "the agent to sign in", func() bool {
		return strings.Contains(a.out.String(), "signed in as") || strings.Contains(a.errb.String(), "crmsync agent:")
	})
	if out := a.out.String(); !strings.Contains(out, "watching "+acct.URL()) {
		t.Fatalf("agent output %q, stderr %q; want it watching %s", out, a.errb.String(), acct.URL())
	}
	bob, err := crm.New(crm.Config{URL: crmURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SignIn(context.Background(), "bob@demo.local", "demo-bob"); err != nil {
		t.Fatal(err)
	}
	mail := func(from, subject, id string) []byte {
		return fmt.Appendf(nil, "From: %s\r\nTo: alice@demo.local\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\nHello.\r\n",
			from, subject, id, time.Now().Format(time.RFC1123Z))
	}
	imapSrv.Append(t, "alice", "INBOX", mail("Maria Campbell <maria.campbell@contoso.example>", "Quote", "app-imap-1@contoso.example"))
	waitFor(t, "the contact's mail in the CRM", func() bool {
		_, ok, err := bob.FindEmail(context.Background(), "<app-imap-1@contoso.example>")
		return err == nil && ok
	})

	imapSrv.CreateMailbox(t, "alice", "INBOX/Tailspin")
	account := localcrm.DemoID("account", "Tailspin Toys")
	waitFor(t, "the new folder listed", func() bool {
		code, out, _ := run(t, "folders", "add", "INBOX/Tailspin", "account:"+account, "--data", data)
		return code == ExitOK && strings.Contains(out, "INBOX/Tailspin")
	})
	code, out, errs := run(t, "folders", "--data", data)
	if code != ExitOK || !strings.Contains(out, "INBOX/Tailspin") || !strings.Contains(out, "Tailspin Toys") {
		t.Fatalf("folders: %d %q %q", code, out, errs)
	}
	uid := imapSrv.Append(t, "alice", "INBOX", mail("Sam Stranger <sam@unknown.example>", "Filed away", "app-imap-2@unknown.example"))
	imapSrv.Move(t, "alice", "INBOX", "INBOX/Tailspin", uid)
	waitFor(t, "the moved mail tracked regarding the account", func() bool {
		info, ok, err := bob.FindEmail(context.Background(), "<app-imap-2@unknown.example>")
		return err == nil && ok && info.Regarding != nil && strings.EqualFold(info.Regarding.ID, account)
	})
	if code, out, errs := run(t, "folders", "remove", "INBOX/Tailspin", "--data", data); code != ExitOK {
		t.Fatalf("folders remove: %d %q %q", code, out, errs)
	}
}

// TestAgentIMAPFlagsRefusedClearly checks the command line's refusals for
// the IMAP account: each says what is wrong and exits with the usage code
// before anything is contacted.
func TestAgentIMAPFlagsRefusedClearly(t *testing.T) {
	mdir := newMaildir(t)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"demo-alice\n", []string{"--imap", "imaps://alice@127.0.0.1:1", "--user", "alice@demo.local", "--password-stdin"},
			"no IMAP password; its second line must be the IMAP password"},
		{"", []string{"--imap", "imaps://alice@127.0.0.1:1", "--maildir", mdir}, "choose one mail account"},
		{"", []string{"--imap", "pop3://alice@mail.example.com"}, "imap"},
	} {
		args := append([]string{"agent", "--crm", "http://127.0.0.1:1", "--data", shortDir(t)}, c.args...)
		code, _, errs := runIn(t, c.stdin, args...)
		if code != ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want usage saying %q", c.args, code, errs, c.want)
		}
	}
}
