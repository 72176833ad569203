package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

var aliceSMTP = agent.SMTPAccount{Host: "mail.example.com", Port: 465, Username: "alice"}

// demoOutbox is an outbox with a sent email and a failed one.
func demoOutbox(now time.Time) agent.OutgoingReport {
	return agent.OutgoingReport{Enabled: true,
		Why: "crmsync sends your CRM email through smtps://alice@mail.example.com:465.",
		Items: []agent.OutgoingItem{
			{ID: "e1", Subject: "Proposal for the Adatum rollout", State: "sent", Modified: now.Add(-40 * time.Minute)},
			{ID: "e2", Subject: "Re: Invoice 2231 overdue?", State: "failed", Modified: now.Add(-10 * time.Minute)},
		}}
}

// openSend shows the settings window on its "Send email" tab.
func openSend(t *testing.T, tune func(*agenttest.FakeBackend)) (*agenttest.FakeBackend, *sendSection) {
	t.Helper()
	a := test.NewTempApp(t)
	be := agenttest.New(agent.StateOnline)
	be.SettingsValue = agent.Settings{ConnectionEnabled: true, CRMURL: "https://fourthcoffee.crm.dynamics.com",
		MaildirPath: "/home/alice/Maildir"}
	if tune != nil {
		tune(be)
	}
	u := New(a, be, Options{Tray: true})
	u.inline = true
	u.settings.show()
	u.settings.tabs.SelectIndex(tabSend)
	return be, u.settings.outgoing
}

func fillSMTP(x *sendSection, host, port string, sec agent.Security, user, password string) {
	x.host.SetText(host)
	x.port.SetText(port)
	x.security.SetSelectedIndex(int(sec))
	x.user.SetText(user)
	x.password.SetText(password)
}

// noBackendCall fails when a refused form reached the backend.
func noBackendCall(t *testing.T, be *agenttest.FakeBackend, what string) {
	t.Helper()
	for _, c := range be.Calls() {
		for _, p := range []string{"UpdateSettings", "SaveSMTPPassword", "TestSMTP"} {
			if strings.HasPrefix(c, p) {
				t.Errorf("%s: a refused form reached the backend: %s", what, c)
			}
		}
	}
}

func TestSendLoad(t *testing.T) {
	_, x := openSend(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.SMTP = agent.SMTPAccount{Host: "mail.example.com", Port: 2525, Security: agent.SecuritySTARTTLS,
			Username: "alice", CAFile: "/etc/ssl/ca.pem"}
	})
	if x.host.Text != "mail.example.com" || x.port.Text != "2525" || x.security.Selected != "STARTTLS (port 587)" ||
		x.user.Text != "alice" || x.caFile.Text != "/etc/ssl/ca.pem" {
		t.Errorf("fields: %q %q %q %q %q", x.host.Text, x.port.Text, x.security.Selected, x.user.Text, x.caFile.Text)
	}
	if x.password.Text != "" || !strings.Contains(x.passwordItem.HintText, "Saved in the keychain") {
		t.Errorf("password %q hint %q", x.password.Text, x.passwordItem.HintText)
	}
	if x.stop.Disabled() || x.s.saveBar.Visible() {
		t.Errorf("stop disabled=%v; the window's Save shown=%v: the tab has its own", x.stop.Disabled(), x.s.saveBar.Visible())
	}

	// No server yet: the usual port shows, and there is nothing to stop.
	_, x = openSend(t, nil)
	if x.host.Text != "" || x.port.Text != "" || x.security.Selected != "TLS (port 465)" || !x.stop.Disabled() {
		t.Errorf("new: %q %q %q stop disabled=%v", x.host.Text, x.port.Text, x.security.Selected, x.stop.Disabled())
	}
	if !strings.HasPrefix(x.port.PlaceHolder, "465") {
		t.Errorf("port placeholder %q", x.port.PlaceHolder)
	}
	x.security.SetSelectedIndex(int(agent.SecuritySTARTTLS))
	if !strings.HasPrefix(x.port.PlaceHolder, "587") {
		t.Errorf("STARTTLS port placeholder %q", x.port.PlaceHolder)
	}
}

func TestSendSave(t *testing.T) {
	be, x := openSend(t, nil)
	fillSMTP(x, " mail.example.com ", "465", agent.SecurityTLS, "alice", "correct horse")
	test.Tap(x.save)
	if got := be.Settings().SMTP; got != aliceSMTP {
		t.Errorf("saved %+v, want %+v", got, aliceSMTP)
	}
	calls := be.Calls()
	save := slices.Index(calls, "SaveSMTPPassword smtps://alice@mail.example.com:465")
	update := slices.Index(calls, "UpdateSettings smtp=smtps://alice@mail.example.com:465")
	if save < 0 || update < 0 || save > update {
		t.Fatalf("want the password saved, then the settings: %q", calls)
	}
	if be.SMTPPassword != "correct horse" || x.password.Text != "" {
		t.Errorf("password kept %q, field %q", be.SMTPPassword, x.password.Text)
	}
	if !strings.Contains(x.message.Text, "smtps://alice@mail.example.com:465") || x.stop.Disabled() {
		t.Errorf("after save: %q, stop disabled=%v", x.message.Text, x.stop.Disabled())
	}
	if countPrefix(be.Calls(), "Outbox") < 2 {
		t.Error("the outbox is read again after Save")
	}

	// No password typed: the keychain's stays.
	x.caFile.SetText("/etc/ssl/ca.pem")
	test.Tap(x.save)
	if got := be.Settings().SMTP.CAFile; got != "/etc/ssl/ca.pem" {
		t.Errorf("CA file %q", got)
	}
	if n := countPrefix(be.Calls(), "SaveSMTPPassword"); n != 1 {
		t.Errorf("SaveSMTPPassword called %d times; only a typed password is saved", n)
	}

	// Another user needs its password.
	x.user.SetText("bob")
	before := len(be.Calls())
	test.Tap(x.save)
	if len(be.Calls()) != before || !strings.Contains(x.message.Text, "Type the password") {
		t.Errorf("new user without a password: %q calls %q", x.message.Text, be.Calls()[before:])
	}

	// The engine's sentence is shown.
	x.user.SetText("alice")
	be.SetError("UpdateSettings", errors.New("the CA file /nope.pem cannot be read: no such file"))
	x.caFile.SetText("/nope.pem")
	test.Tap(x.save)
	if x.message.Text != "the CA file /nope.pem cannot be read: no such file" || !x.message.Visible() || x.save.Disabled() {
		t.Errorf("error shown: %q", x.message.Text)
	}

	// A server on this computer needs no sign-in, so no password.
	be.SetError("UpdateSettings", nil)
	fillSMTP(x, "localhost", "", agent.SecurityNone, "", "")
	x.caFile.SetText("")
	test.Tap(x.save)
	if got := be.Settings().SMTP; got != (agent.SMTPAccount{Host: "localhost", Security: agent.SecurityNone}) {
		t.Errorf("local server saved %+v; message %q", got, x.message.Text)
	}
	if n := countPrefix(be.Calls(), "SaveSMTPPassword"); n != 1 {
		t.Errorf("SaveSMTPPassword called %d times for a server without sign-in", n)
	}
}

func TestSendValidation(t *testing.T) {
	be, x := openSend(t, nil)
	for _, c := range []struct {
		host, port string
		sec        agent.Security
		user, want string
	}{
		{"", "", agent.SecurityTLS, "alice", "Type the server"},
		{"smtps://mail.example.com", "", agent.SecurityTLS, "alice", "The server is a name"},
		{"mail.example.com", "0", agent.SecurityTLS, "alice", "The port must be a number from 1 to 65535"},
		{"mail.example.com", "65536", agent.SecurityTLS, "alice", "The port must be"},
		{"mail.example.com", "smtp", agent.SecurityTLS, "alice", "The port must be"},
		{"mail.example.com", "", agent.SecurityNone, "alice", "With the security None, your user name and password"},
		{"192.0.2.10", "25", agent.SecurityNone, "", "The security None is for a server on this computer only"},
		{"mail.example.com", "", agent.SecuritySTARTTLS, "", "Type the user name"},
	} {
		fillSMTP(x, c.host, c.port, c.sec, c.user, "pw")
		test.Tap(x.save)
		if !strings.Contains(x.message.Text, c.want) || !x.message.Visible() {
			t.Errorf("%q %q %v %q: message %q, want %q", c.host, c.port, c.sec, c.user, x.message.Text, c.want)
		}
		test.Tap(x.test)
		if len(x.testLines) != 1 || !strings.Contains(x.testLines[0], c.want) {
			t.Errorf("%q %q %v %q: test %q", c.host, c.port, c.sec, c.user, x.testLines)
		}
	}
	noBackendCall(t, be, "validation")

	// Security None with a user name is fine on this computer.
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		fillSMTP(x, host, "1025", agent.SecurityNone, "alice", "pw")
		if a, msg := x.account(); msg != "" || a.Host != host || a.Port != 1025 {
			t.Errorf("%s: %+v %q", host, a, msg)
		}
	}
}

func TestSendTestConnection(t *testing.T) {
	be, x := openSend(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.SMTP = aliceSMTP
		be.SMTPSteps = []agent.CheckStep{
			{Name: "DNS", OK: true, Detail: "mail.example.com is 192.0.2.25"},
			{Name: "TLS", OK: true, Detail: "the server's certificate is trusted"},
			{Name: "Login", OK: true, Warning: true, Detail: "signed in as alice; the server offers only PLAIN, which TLS protects"},
		}
	})
	test.Tap(x.test)
	if !hasCall(be, "TestSMTP smtps://alice@mail.example.com:465 password=false") {
		t.Errorf("calls %q", be.Calls())
	}
	want := []string{
		"✓ DNS: mail.example.com is 192.0.2.25",
		"✓ TLS: the server's certificate is trusted",
		"⚠ Login: signed in as alice; the server offers only PLAIN, which TLS protects",
		"The server works with crmsync. No mail was sent.",
	}
	if !slices.Equal(x.testLines, want) || len(x.testResult.Objects) != len(want) {
		t.Errorf("test lines:\n%s", strings.Join(x.testLines, "\n"))
	}

	be.SMTPSteps = []agent.CheckStep{{Name: "DNS", OK: true, Detail: "found"}, {Name: "Login", Detail: "the server refused the user name or password"}}
	x.password.SetText("wrong")
	test.Tap(x.test)
	want = []string{"✓ DNS: found", "✗ Login: the server refused the user name or password", "The test stopped at the Login step. No mail was sent."}
	if !slices.Equal(x.testLines, want) || !hasCall(be, "TestSMTP smtps://alice@mail.example.com:465 password=true") {
		t.Errorf("failed test lines %q calls %q", x.testLines, be.Calls())
	}

	be.SetError("TestSMTP", errors.New("no password for smtps://alice@mail.example.com:465 in the keychain"))
	test.Tap(x.test)
	if len(x.testLines) != 1 || !strings.Contains(x.testLines[0], "could not run: no password") {
		t.Errorf("error: %q", x.testLines)
	}
	if countPrefix(be.Calls(), "UpdateSettings") != 0 || countPrefix(be.Calls(), "SaveSMTPPassword") != 0 {
		t.Errorf("a test saves nothing: %q", be.Calls())
	}
}

func TestSendAdministrator(t *testing.T) {
	be, x := openSend(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.SMTP = aliceSMTP
		be.OutboxValue = agent.OutgoingReport{Enabled: true, Why: "crmsync sends your CRM email through smtps://alice@mail.example.com:465."}
	})
	if !hasCall(be, "Outbox") {
		t.Fatalf("showing the tab reads the outbox: %q", be.Calls())
	}
	if want := adminSet + " crmsync sends your CRM email through smtps://alice@mail.example.com:465."; x.admin.Text != want {
		t.Errorf("enabled: %q", x.admin.Text)
	}
	if x.admin.Importance == widget.DangerImportance || x.admin.Importance == widget.WarningImportance {
		t.Errorf("enabled shown as a problem: %v", x.admin.Importance)
	}

	why := "Your CRM administrator set your mailbox's outgoing email to server-side synchronization: the CRM sends it, not crmsync."
	be.OutboxValue = agent.OutgoingReport{Why: why}
	test.Tap(x.refresh)
	if x.admin.Text != why || x.admin.Importance != widget.WarningImportance {
		t.Errorf("not enabled: %q %v", x.admin.Text, x.admin.Importance)
	}

	// The administrator's switch was read, the list was not.
	be.SetError("Outbox", errors.New("the CRM did not answer"))
	test.Tap(x.refresh)
	if x.admin.Text != why || len(x.outboxLines) != 1 || !strings.Contains(x.outboxLines[0], "could not be read from the CRM: the CRM did not answer") {
		t.Errorf("list failed: %q %q", x.admin.Text, x.outboxLines)
	}

	// Offline, or not set up: the engine's sentence, not a blank.
	be.OutboxValue = agent.OutgoingReport{}
	be.SetError("Outbox", errors.New("crmsync is offline, so listing the CRM's outgoing email waits"))
	x.s.show()
	if !strings.Contains(x.admin.Text, "could not be read from the CRM: crmsync is offline") || x.admin.Importance != widget.DangerImportance {
		t.Errorf("failed outbox: %q", x.admin.Text)
	}
	if len(x.outboxLines) != 1 || x.refresh.Disabled() {
		t.Errorf("outbox after an error: %q, refresh disabled=%v", x.outboxLines, x.refresh.Disabled())
	}
}

func TestSendOutbox(t *testing.T) {
	now := time.Now()
	be, x := openSend(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.SMTP = aliceSMTP
		be.OutboxValue = demoOutbox(now)
		be.OutboxValue.Items = append(be.OutboxValue.Items,
			agent.OutgoingItem{ID: "e3", Subject: "", State: "pending", Modified: now.Add(-5 * time.Minute)})
	})
	at := func(d time.Duration) string { return shortTime(now.Add(d), now) }
	want := []string{
		"(no subject) — Waiting to be sent · " + at(-5*time.Minute),
		"Re: Invoice 2231 overdue? — Failed · " + at(-10*time.Minute),
		"Proposal for the Adatum rollout — Sent · " + at(-40*time.Minute),
		failedHint,
	}
	if !slices.Equal(x.outboxLines, want) || len(x.outbox.Objects) != 3 || !x.failedHint.Visible() {
		t.Errorf("outbox, newest first:\n%s", strings.Join(x.outboxLines, "\n"))
	}
	if len(x.retry) != 1 || x.retry["e2"] == nil {
		t.Fatalf("only the failed email can be sent again: %v", x.retry)
	}
	be.OutboxValue.Items = be.OutboxValue.Items[:1] // the retried one left the list
	before := countPrefix(be.Calls(), "Outbox")
	test.Tap(x.retry["e2"])
	if !hasCall(be, "RetryEmail e2") || countPrefix(be.Calls(), "Outbox") != before+1 {
		t.Errorf("Send again: %q", be.Calls())
	}
	if len(x.outboxLines) != 1 || x.failedHint.Visible() {
		t.Errorf("after Send again: %q", x.outboxLines)
	}

	be.OutboxValue.Items = nil
	test.Tap(x.refresh)
	if !slices.Equal(x.outboxLines, []string{outboxEmpty}) {
		t.Errorf("empty outbox: %q", x.outboxLines)
	}

	// A retry the CRM refuses says so.
	be.OutboxValue = demoOutbox(now)
	test.Tap(x.refresh)
	be.SetError("RetryEmail", errors.New("the email is no longer failed"))
	test.Tap(x.retry["e2"])
	if !strings.Contains(x.message.Text, "not sent again: the email is no longer failed") || x.retry["e2"].Disabled() {
		t.Errorf("failed retry: %q", x.message.Text)
	}
}

func TestSendStop(t *testing.T) {
	be, x := openSend(t, func(be *agenttest.FakeBackend) { be.SettingsValue.SMTP = aliceSMTP })
	test.Tap(x.stop)
	if x.stopDlg == nil || countPrefix(be.Calls(), "UpdateSettings") != 0 {
		t.Fatal("Stop sending asks first")
	}
	test.Tap(x.stopDlg.cancel)
	if countPrefix(be.Calls(), "UpdateSettings") != 0 || be.Settings().SMTP.IsZero() {
		t.Fatal("Cancel keeps sending")
	}
	test.Tap(x.stop)
	test.Tap(x.stopDlg.ok)
	if got := be.Settings().SMTP; !got.IsZero() || !hasCall(be, "UpdateSettings smtp=none") {
		t.Errorf("after stop: %+v %q", got, be.Calls())
	}
	if x.host.Text != "" || !x.stop.Disabled() || !strings.Contains(x.message.Text, "Pending Send") {
		t.Errorf("after stop: host %q message %q", x.host.Text, x.message.Text)
	}
}

func TestTrayOutgoing(t *testing.T) {
	u, _ := newUI(t, agent.StateOnline)
	tr := u.tray
	if slices.Contains(tr.menu.Items, tr.outgoing) {
		t.Error("nothing waits, yet the menu has an outgoing line")
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, OutgoingPending: 2}})
	item := menuAction(t, tr.menu, "2 CRM emails waiting to be sent")
	if tr.menu.Items[1] != item {
		t.Errorf("the line is not below the status line: %d items", len(tr.menu.Items))
	}
	n := len(tr.menu.Items)
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, OutgoingPending: 1}})
	menuAction(t, tr.menu, "1 CRM email waiting to be sent")
	if len(tr.menu.Items) != n {
		t.Errorf("the line was added twice: %d items, want %d", len(tr.menu.Items), n)
	}
	item.Action()
	if u.settings.w == nil || u.settings.tabs.SelectedIndex() != tabSend {
		t.Error("the line opens Settings on Send email")
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline}})
	if slices.Contains(tr.menu.Items, tr.outgoing) || len(tr.menu.Items) != n-1 {
		t.Error("the line stays once nothing waits")
	}
}

func TestWindowStatusOutgoing(t *testing.T) {
	now := time.Now()
	s := agent.Status{State: agent.StateOnline, User: "Alice", Mail: "/home/alice/Maildir", LastSync: now.Add(-time.Minute)}
	if line := windowStatus(s, now); strings.Contains(line, "CRM email") {
		t.Errorf("not sending, yet: %q", line)
	}
	s.Outgoing = "2 emails waiting to be sent"
	if line := windowStatus(s, now); !strings.HasSuffix(line, " · CRM email: 2 emails waiting to be sent") {
		t.Errorf("status line %q", line)
	}
}
