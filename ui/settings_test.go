package ui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

// openSettings shows the settings window over a Maildir account.
func openSettings(t *testing.T, tune func(*agenttest.FakeBackend)) (*UI, *agenttest.FakeBackend, *settingsWindow) {
	t.Helper()
	a := test.NewTempApp(t)
	be := agenttest.New(agent.StateOnline)
	be.SettingsValue = agent.Settings{ConnectionEnabled: true, CRMURL: "https://fourthcoffee.crm.dynamics.com",
		MaildirPath: "/home/alice/Maildir", AutoTrack: agent.TrackFromCRMRecords}
	if tune != nil {
		tune(be)
	}
	u := New(a, be, Options{Tray: true, Autostart: &fakeAutostart{}})
	u.inline = true
	u.settings.show()
	return u, be, u.settings
}

func TestSettingsPatch(t *testing.T) {
	_, be, s := openSettings(t, nil)
	s.scope.SetSelected("All mail")
	s.excluded.SetText("noreply@shop.example\n\n@news.example, other@x.example")
	s.mail.folders.SetText(".Sent")
	s.autostart.SetChecked(true)
	test.Tap(s.save)
	if !hasCall(be, "UpdateSettings folders=.Sent autotrack=1 excluded=noreply@shop.example,@news.example,other@x.example") {
		t.Errorf("calls %q", be.Calls())
	}
	if !s.u.o.Autostart.Enabled() {
		t.Error("start at login was not switched on")
	}
	// Only what changed is sent.
	for _, c := range be.Calls() {
		if strings.Contains(c, "maildir=") || strings.Contains(c, "connection=") || strings.Contains(c, "imap=") {
			t.Errorf("unchanged settings were sent: %s", c)
		}
	}
	be.SetError("UpdateSettings", errors.New("maildir: /nope: not a maildir: missing cur/, new/, tmp/"))
	s.mail.maildir.SetText("/nope")
	test.Tap(s.save)
	if !strings.Contains(s.errText.Text, "not a maildir") {
		t.Errorf("error shown: %q", s.errText.Text)
	}
}

func TestSettingsIMAP(t *testing.T) {
	_, be, s := openSettings(t, nil)
	m := s.mail
	if m.imapBox.Visible() || !m.maildirBox.Visible() {
		t.Fatal("a Maildir user sees the Maildir fields")
	}
	m.kind.SetSelected(kindIMAP)
	if !m.imapBox.Visible() || m.maildirBox.Visible() {
		t.Fatal("choosing IMAP shows its fields")
	}
	m.host.SetText("mail.fourthcoffee.example")
	m.security.SetSelected("STARTTLS")
	if !strings.HasPrefix(m.port.PlaceHolder, "143 ") {
		t.Errorf("port placeholder %q, want the STARTTLS default", m.port.PlaceHolder)
	}
	m.user.SetText("alice@fourthcoffee.example")
	m.password.SetText("correct horse")
	test.Tap(s.save)
	acct := agent.IMAPAccount{Host: "mail.fourthcoffee.example", Security: agent.SecuritySTARTTLS, Username: "alice@fourthcoffee.example"}
	calls := be.Calls()
	save, update := slices.Index(calls, "SaveMailPassword "+acct.URL()), slices.Index(calls, "UpdateSettings imap="+acct.URL())
	if save < 0 || update < 0 || save > update {
		t.Fatalf("want the password saved, then the account: %q", calls)
	}
	if be.MailPassword != "correct horse" || m.password.Text != "" {
		t.Errorf("password kept %q, field %q", be.MailPassword, m.password.Text)
	}
	for _, c := range calls {
		if strings.Contains(c, "correct horse") {
			t.Errorf("the password reached a call's record: %s", c)
		}
	}

	// No password typed: the keychain's stays, and only the port changes.
	s.show()
	if m.kind.Selected != kindIMAP || m.host.Text != "mail.fourthcoffee.example" || m.password.Text != "" {
		t.Fatalf("reopened form: %q %q", m.kind.Selected, m.host.Text)
	}
	m.port.SetText("1143")
	m.caFile.SetText("/etc/ssl/contoso-ca.pem")
	test.Tap(s.save)
	acct.Port, acct.CAFile = 1143, "/etc/ssl/contoso-ca.pem"
	if !hasCall(be, "UpdateSettings imap="+acct.URL()+" ca=/etc/ssl/contoso-ca.pem") {
		t.Errorf("calls %q", be.Calls())
	}
	if n := countPrefix(be.Calls(), "SaveMailPassword"); n != 1 {
		t.Errorf("SaveMailPassword called %d times; only a typed password is saved", n)
	}

	// A wrong port is caught before anything is sent.
	s.show()
	m.port.SetText("99999")
	before := len(be.Calls())
	test.Tap(s.save)
	if len(be.Calls()) != before || !strings.Contains(s.errText.Text, "port") || s.tabs.SelectedIndex() != tabMail {
		t.Errorf("bad port: %q calls %q", s.errText.Text, be.Calls()[before:])
	}

	// Back to the Maildir: a zero account and the folder, which must be set.
	s.show()
	m.kind.SetSelected(kindMaildir)
	m.maildir.SetText("")
	test.Tap(s.save)
	if !strings.Contains(s.errText.Text, "Choose the Maildir folder") || !s.errText.Visible() {
		t.Errorf("no Maildir folder: %q", s.errText.Text)
	}
	m.maildir.SetText("/home/alice/Maildir")
	test.Tap(s.save)
	if !hasCall(be, "UpdateSettings maildir=/home/alice/Maildir imap=none") {
		t.Errorf("calls %q", be.Calls())
	}
}

func countPrefix(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func TestSettingsTestMail(t *testing.T) {
	_, be, s := openSettings(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.IMAP = agent.IMAPAccount{Host: "mail.fourthcoffee.example", Username: "alice@fourthcoffee.example"}
	})
	m := s.mail
	be.MailReportValue = agent.MailReport{Idle: errors.New("the server does not offer IDLE; new mail will be found by checking every 30 seconds"), Folders: 14, Latency: 120 * time.Millisecond}
	test.Tap(m.test)
	if !hasCall(be, "TestMail imaps://alice%40fourthcoffee.example@mail.fourthcoffee.example:993 password=false") {
		t.Errorf("calls %q", be.Calls())
	}
	want := []string{
		"✓ DNS: found mail.fourthcoffee.example",
		"✓ Connect: reached mail.fourthcoffee.example:993",
		"✓ TLS: the server's certificate is trusted",
		"✓ Login: signed in as alice@fourthcoffee.example",
		"! IDLE: the server does not offer IDLE; new mail will be found by checking every 30 seconds",
		"The account works: 14 folders, answered in 120 ms.",
	}
	if got := m.testLines; !slices.Equal(got, want) {
		t.Errorf("test lines:\n%s", strings.Join(got, "\n"))
	}
	if len(m.testResult.Objects) != len(want) {
		t.Errorf("%d rows shown", len(m.testResult.Objects))
	}

	be.MailReportValue = agent.MailReport{Login: errors.New("AUTHENTICATIONFAILED Invalid credentials")}
	m.password.SetText("wrong")
	test.Tap(m.test)
	want = []string{
		"✓ DNS: found mail.fourthcoffee.example",
		"✓ Connect: reached mail.fourthcoffee.example:993",
		"✓ TLS: the server's certificate is trusted",
		"✗ Login: AUTHENTICATIONFAILED Invalid credentials",
		"– IDLE: not tried",
		"The test stopped at the Login step.",
	}
	if got := m.testLines; !slices.Equal(got, want) {
		t.Errorf("failed test lines:\n%s", strings.Join(got, "\n"))
	}
	if !hasCall(be, "TestMail imaps://alice%40fourthcoffee.example@mail.fourthcoffee.example:993 password=true") {
		t.Errorf("the typed password must be tried: %q", be.Calls())
	}

	be.MailReportValue = agent.MailReport{}
	m.security.SetSelected(securityChoices[agent.SecurityNone])
	m.host.SetText("localhost")
	test.Tap(m.test)
	if m.testLines[2] != "– TLS: not used: the connection is not encrypted" {
		t.Errorf("no TLS: %q", m.testLines[2])
	}

	be.SetError("TestMail", errors.New("context deadline exceeded"))
	test.Tap(m.test)
	if len(m.testLines) != 1 || !strings.Contains(m.testLines[0], "could not run: context deadline exceeded") {
		t.Errorf("error: %q", m.testLines)
	}
}

func twoRules() []agent.FolderRule {
	return []agent.FolderRule{
		{ID: "r1", Folder: "INBOX/Contoso", Regarding: agent.RecordRef{Entity: "account", ID: "acc-contoso", Name: "Contoso Ltd"}},
		{ID: "r2", Folder: "INBOX/Deals/Fabrikam renewal", Regarding: agent.RecordRef{Entity: "opportunity", ID: "opp-fab", Name: "Fabrikam renewal 2027"}},
	}
}

func TestSettingsFolderRules(t *testing.T) {
	_, be, s := openSettings(t, func(be *agenttest.FakeBackend) {
		be.RulesValue = twoRules()
		be.MailFoldersValue = []string{"INBOX", "INBOX/Contoso", "INBOX/Deals/Fabrikam renewal", "INBOX/Adatum"}
		be.SearchResults = []agent.RecordRef{{Entity: "account", ID: "acc-adatum", Name: "Adatum Corporation"}}
	})
	f := s.folders
	if f.count.Text != "2 of 25 folder rules" || len(f.removes) != 2 || f.add.Disabled() {
		t.Fatalf("rules shown: %q, %d remove buttons", f.count.Text, len(f.removes))
	}
	test.Tap(f.add)
	dlg := f.dlg
	if !hasCall(be, "MailFolders") || len(dlg.folder.Options) != 4 {
		t.Fatalf("the folder picker must list the mail folders: %q", dlg.folder.Options)
	}
	dlg.folder.SetSelected("INBOX/Adatum")
	if !dlg.ok.Disabled() {
		t.Error("Add rule needs a record too")
	}
	dlg.picker.query.SetText("adatum")
	test.Tap(dlg.picker.search)
	dlg.picker.list.Select(0)
	if dlg.ok.Disabled() {
		t.Fatal("Add rule must be enabled with a folder and a record")
	}
	test.Tap(dlg.ok)
	if !hasCall(be, "AddFolderRule INBOX/Adatum account:acc-adatum") || f.count.Text != "3 of 25 folder rules" {
		t.Errorf("after add: %q calls %q", f.count.Text, be.Calls())
	}
	test.Tap(f.removes["INBOX/Contoso"])
	if !hasCall(be, "RemoveFolderRule INBOX/Contoso") || f.count.Text != "2 of 25 folder rules" || f.removes["INBOX/Contoso"] != nil {
		t.Errorf("after remove: %q calls %q", f.count.Text, be.Calls())
	}

	be.SetError("RemoveFolderRule", errors.New("the CRM cannot be reached"))
	test.Tap(f.removes["INBOX/Adatum"])
	if !strings.Contains(f.status.Text, "the CRM cannot be reached") || f.removes["INBOX/Adatum"] == nil {
		t.Errorf("a failed remove must say so and keep the rule: %q", f.status.Text)
	}
}

func TestSettingsFolderRulesLimit(t *testing.T) {
	_, _, s := openSettings(t, func(be *agenttest.FakeBackend) {
		for i := range agent.MaxFolderRules {
			be.RulesValue = append(be.RulesValue, agent.FolderRule{Folder: fmt.Sprintf("INBOX/Customer %02d", i),
				Regarding: agent.RecordRef{Entity: "account", ID: fmt.Sprint(i), Name: fmt.Sprintf("Customer %02d", i)}})
		}
	})
	f := s.folders
	if f.count.Text != "25 of 25 folder rules" || !f.add.Disabled() || !strings.Contains(f.status.Text, "remove one") {
		t.Errorf("at the limit: %q add disabled=%v status %q", f.count.Text, f.add.Disabled(), f.status.Text)
	}
}

func TestSettingsFolderRulesOffline(t *testing.T) {
	_, _, s := openSettings(t, func(be *agenttest.FakeBackend) {
		be.SetError("FolderRules", errors.New("the CRM cannot be reached: dial tcp: connection refused"))
	})
	f := s.folders
	if !strings.Contains(f.status.Text, "could not be read from the CRM: the CRM cannot be reached") || !f.add.Disabled() {
		t.Errorf("offline: %q add disabled=%v", f.status.Text, f.add.Disabled())
	}
}
