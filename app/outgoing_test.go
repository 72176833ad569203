package app

import (
	"context"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/smtp/smtptest"
)

// TestAgentSendsCRMEmail runs `crmsync agent --imap ... --smtp ...`
// against a real Dovecot and a real Postfix: alice's Pending Send emails
// go out through Postfix, their copies land in her IMAP Sent folder, the
// CRM marks them Sent, and `crmsync outbox` lists them.
func TestAgentSendsCRMEmail(t *testing.T) {
	imapSrv := imaptest.Start(t)
	mta := smtptest.Start(t)
	_, crmURL := seededCRM(t)
	data := shortDir(t)
	acct := imapSrv.Account("alice", agent.SecuritySTARTTLS)
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--user", "alice@demo.local", "--imap", acct.URL(),
			"--ca-bundle", acct.CAFile, "--smtp", "smtp://" + mta.Addr, "--data", data, "--password-stdin"},
			Stdio{In: strings.NewReader("demo-alice\n" + imapSrv.Password("alice") + "\n"), Out: a.out, Err: a.errb})
	}()
	t.Cleanup(a.stop)
	waitFor(t, "the agent to say how the CRM's email stands", func() bool {
		_, out, _ := run(t, "status", "--data", data)
		return strings.Contains(out, "CRM email:")
	})
	_, status, _ := run(t, "status", "--data", data)
	t.Logf("status:\n%s", status)
	// Postfix files one copy per recipient: count the messages by ID.
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range mta.Delivered(t) {
				for _, line := range strings.Split(string(m), "\n") {
					if k, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(k, "Message-ID") || strings.EqualFold(k, "Delivered-To")) {
						t.Logf("%s: %s", k, v)
					}
				}
			}
			t.Logf("agent: %s", a.errb.String())
		}
	})
	waitFor(t, "alice's 2 pending emails delivered", func() bool {
		ids := map[string]bool{}
		for _, m := range mta.Delivered(t) {
			for _, line := range strings.Split(string(m), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
					ids[strings.TrimSpace(v)] = true
				}
			}
		}
		return len(ids) == 2
	})
	waitFor(t, "the copies in the IMAP Sent folder", func() bool {
		c, err := imapSrv.Dial("alice")
		if err != nil {
			return false
		}
		defer c.Close()
		if _, err := c.Select("Sent", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return false
		}
		data, err := c.UIDSearch(&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "crm."}}}, nil).Wait()
		return err == nil && len(data.AllUIDs()) == 2
	})
	// The copies in the Sent folder are seen by the mail watcher as sent
	// mail to CRM contacts: they must be recognised as the CRM's emails,
	// not tracked a second time.
	c, err := crm.New(crm.Config{URL: crmURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignIn(ctx, "alice@demo.local", "demo-alice"); err != nil {
		t.Fatal(err)
	}
	me, err := c.WhoAmI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the watcher's decision on the copies
	list, err := c.RecentOutgoing(ctx, me.UserID, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sentCount := 0
	for _, e := range list {
		if e.Status == crm.EmailSent {
			sentCount++
			info, ok, err := c.FindEmail(ctx, e.MessageID)
			if err != nil || !ok || info.ID != crm.ActivityID(e.ID) {
				t.Errorf("the sent email %q is not what its Message-ID %s finds: %+v %v %v", e.Subject, e.MessageID, info, ok, err)
			}
		}
	}
	if sentCount != 2 {
		t.Errorf("%d emails Sent in the CRM, want 2: %+v", sentCount, list)
	}
	waitFor(t, "`crmsync outbox` to list them sent", func() bool {
		code, out, _ := run(t, "outbox", "--data", data)
		return code == ExitOK && strings.Count(out, " sent ") >= 2 && strings.Contains(out, "crmsync sends your CRM email through smtp://")
	})
	if code, out, errs := run(t, "status", "--data", data); code != ExitOK || !strings.Contains(out, "CRM email") {
		t.Logf("status: %q %q", out, errs)
	}
}

// TestAgentSMTPFlagsRefusedClearly checks the command line's refusals for
// the outgoing mail server.
func TestAgentSMTPFlagsRefusedClearly(t *testing.T) {
	mdir := newMaildir(t)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"demo-alice\n", []string{"--smtp", "smtps://alice@mail.example.com:465", "--user", "alice@demo.local", "--password-stdin"},
			"its second line must be the outgoing mail server's (SMTP) password"},
		{"", []string{"--smtp", "smtps://alice:secret@mail.example.com:465"}, "password"},
		{"", []string{"--smtp", "smtp://mail.example.com:25"}, "user"},
	} {
		args := append([]string{"agent", "--crm", "http://127.0.0.1:1", "--maildir", mdir, "--data", shortDir(t)}, c.args...)
		code, _, errs := runIn(t, c.stdin, args...)
		if code != ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want usage saying %q", c.args, code, errs, c.want)
		}
	}
}
