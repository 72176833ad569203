package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

var aliceDAV = agent.DAVAccount{URL: "https://dav.example.com/alice/", Username: "alice"}

// openRecords shows the settings window on its "Address book and
// calendar" tab.
func openRecords(t *testing.T, tune func(*agenttest.FakeBackend)) (*agenttest.FakeBackend, *recordsSection) {
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
	u.settings.tabs.SelectIndex(tabRecords)
	return be, u.settings.records
}

func fill(r *recordsSection, url, user, password string) {
	r.url.SetText(url)
	r.user.SetText(user)
	r.password.SetText(password)
}

func TestRecordsLoad(t *testing.T) {
	_, r := openRecords(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.Records = agent.RecordSync{DAV: agent.DAVAccount{URL: aliceDAV.URL, Username: "alice", CAFile: "/etc/ssl/ca.pem"},
			AddressBook: "Customers", Contacts: true, Appointments: true}
	})
	if r.url.Text != aliceDAV.URL || r.user.Text != "alice" || r.caFile.Text != "/etc/ssl/ca.pem" ||
		r.addressBook.Text != "Customers" || r.calendar.Text != "" {
		t.Errorf("fields: %q %q %q %q %q", r.url.Text, r.user.Text, r.caFile.Text, r.addressBook.Text, r.calendar.Text)
	}
	if !r.contacts.Checked || !r.appointments.Checked || r.tasks.Checked {
		t.Errorf("kinds: %v %v %v", r.contacts.Checked, r.appointments.Checked, r.tasks.Checked)
	}
	if r.password.Text != "" || !strings.Contains(r.passwordItem.HintText, "Saved in the keychain") {
		t.Errorf("password %q hint %q", r.password.Text, r.passwordItem.HintText)
	}
	if r.syncNow.Disabled() || r.stop.Disabled() {
		t.Error("Sync now and Stop syncing are for a saved account")
	}
	if r.s.saveBar.Visible() {
		t.Error("the window's Save is hidden: the tab has its own")
	}

	// A new account keeps everything in step, and has nothing to sync yet.
	_, r = openRecords(t, nil)
	if r.url.Text != "" || !r.contacts.Checked || !r.appointments.Checked || !r.tasks.Checked {
		t.Errorf("new account: %q %v %v %v", r.url.Text, r.contacts.Checked, r.appointments.Checked, r.tasks.Checked)
	}
	if !r.syncNow.Disabled() || !r.stop.Disabled() || strings.Contains(r.passwordItem.HintText, "Saved in the keychain") {
		t.Errorf("new account: sync now disabled=%v hint %q", r.syncNow.Disabled(), r.passwordItem.HintText)
	}
}

func TestRecordsSave(t *testing.T) {
	be, r := openRecords(t, nil)
	fill(r, " https://dav.example.com/alice/ ", "alice", "correct horse")
	r.tasks.SetChecked(false)
	r.calendar.SetText("Work")
	test.Tap(r.save)
	want := agent.RecordSync{DAV: aliceDAV, Calendar: "Work", Contacts: true, Appointments: true}
	if got := be.Settings().Records; got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	calls := be.Calls()
	save := slices.Index(calls, "SaveDAVPassword https://alice@dav.example.com/alice/")
	update := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "UpdateSettings") })
	if save < 0 || update < 0 || save > update {
		t.Fatalf("want the password saved, then the settings: %q", calls)
	}
	if be.DAVPassword != "correct horse" || r.password.Text != "" {
		t.Errorf("password kept %q, field %q", be.DAVPassword, r.password.Text)
	}
	if !strings.Contains(r.message.Text, "contacts and appointments") || r.syncNow.Disabled() {
		t.Errorf("after save: %q, sync now disabled=%v", r.message.Text, r.syncNow.Disabled())
	}
	if !hasCall(be, "SyncOverview") {
		t.Error("the overview is read again after Save")
	}

	// No password typed: the keychain's stays.
	r.addressBook.SetText("Customers")
	test.Tap(r.save)
	if got := be.Settings().Records.AddressBook; got != "Customers" {
		t.Errorf("address book %q", got)
	}
	if n := countPrefix(be.Calls(), "SaveDAVPassword"); n != 1 {
		t.Errorf("SaveDAVPassword called %d times; only a typed password is saved", n)
	}

	// A new user needs its password.
	r.user.SetText("bob")
	before := len(be.Calls())
	test.Tap(r.save)
	if len(be.Calls()) != before || !strings.Contains(r.message.Text, "Type the password") {
		t.Errorf("new user without a password: %q calls %q", r.message.Text, be.Calls()[before:])
	}

	// The engine's sentence is shown.
	r.user.SetText("alice")
	be.SetError("UpdateSettings", errors.New("the CA file /nope.pem cannot be read: no such file"))
	r.caFile.SetText("/nope.pem")
	test.Tap(r.save)
	if r.message.Text != "the CA file /nope.pem cannot be read: no such file" || !r.message.Visible() || r.save.Disabled() {
		t.Errorf("error shown: %q", r.message.Text)
	}
}

func TestRecordsValidation(t *testing.T) {
	be, r := openRecords(t, nil)
	for _, c := range []struct{ url, user, want string }{
		{"", "alice", "server address"},
		{"dav.example.com", "alice", "starts with https://"},
		{"https://dav.example.com/", " ", "user name"},
	} {
		fill(r, c.url, c.user, "pw")
		test.Tap(r.save)
		if !strings.Contains(r.message.Text, c.want) || !r.message.Visible() {
			t.Errorf("%q %q: message %q, want %q", c.url, c.user, r.message.Text, c.want)
		}
		test.Tap(r.test)
		if len(r.testLines) != 1 || !strings.Contains(r.testLines[0], c.want) {
			t.Errorf("%q %q: test %q", c.url, c.user, r.testLines)
		}
	}
	fill(r, "https://dav.example.com/", "alice", "pw")
	r.contacts.SetChecked(false)
	r.appointments.SetChecked(false)
	r.tasks.SetChecked(false)
	test.Tap(r.save)
	if !strings.Contains(r.message.Text, "Choose what to keep in step") {
		t.Errorf("nothing chosen: %q", r.message.Text)
	}
	for _, c := range be.Calls() {
		if strings.HasPrefix(c, "UpdateSettings") || strings.HasPrefix(c, "SaveDAVPassword") || strings.HasPrefix(c, "TestDAV") {
			t.Errorf("a refused form reached the backend: %s", c)
		}
	}
}

func TestRecordsTestConnection(t *testing.T) {
	be, r := openRecords(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.Records = agent.RecordSync{DAV: aliceDAV, Contacts: true}
		be.DAVSteps = []agent.CheckStep{
			{Name: "DNS", OK: true, Detail: "dav.example.com is 192.0.2.10"},
			{Name: "Login", OK: true, Detail: "signed in as alice"},
			{Name: "Sync", OK: true, Warning: true, Detail: "the server does not offer sync-collection; changes are found by listing every item, which is slower"},
		}
	})
	test.Tap(r.test)
	if !hasCall(be, "TestDAV https://alice@dav.example.com/alice/ password=false") {
		t.Errorf("calls %q", be.Calls())
	}
	want := []string{
		"✓ DNS: dav.example.com is 192.0.2.10",
		"✓ Login: signed in as alice",
		"⚠ Sync: the server does not offer sync-collection; changes are found by listing every item, which is slower",
		"The server works with crmsync.",
	}
	if !slices.Equal(r.testLines, want) || len(r.testResult.Objects) != len(want) {
		t.Errorf("test lines:\n%s", strings.Join(r.testLines, "\n"))
	}

	be.DAVSteps = []agent.CheckStep{{Name: "DNS", OK: true, Detail: "found"}, {Name: "Login", Detail: "the server refused the user name or password"}}
	r.password.SetText("wrong")
	test.Tap(r.test)
	want = []string{"✓ DNS: found", "✗ Login: the server refused the user name or password", "The test stopped at the Login step."}
	if !slices.Equal(r.testLines, want) || !hasCall(be, "TestDAV https://alice@dav.example.com/alice/ password=true") {
		t.Errorf("failed test lines %q calls %q", r.testLines, be.Calls())
	}

	be.SetError("TestDAV", errors.New("no password for https://alice@dav.example.com/alice/ in the keychain"))
	test.Tap(r.test)
	if len(r.testLines) != 1 || !strings.Contains(r.testLines[0], "could not run: no password") {
		t.Errorf("error: %q", r.testLines)
	}
}

func TestRecordsSyncNow(t *testing.T) {
	be, r := openRecords(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.Records = agent.RecordSync{DAV: aliceDAV, Contacts: true, Tasks: true}
	})
	if len(r.reportLines) != 0 {
		t.Errorf("no pass yet, yet a report: %q", r.reportLines)
	}
	be.SyncReportValue = agent.SyncReport{Finished: time.Date(2026, 3, 2, 15, 42, 0, 0, time.Local),
		Kinds: []agent.SyncKind{
			{Kind: "contacts", Kept: 42, ToItems: agent.SyncCount{Created: 3, Updated: 1}},
			{Kind: "tasks", Kept: 3, ToCRM: agent.SyncCount{Updated: 1}, Conflicts: 1},
		},
		Notices: []string{"Ana Silva's phone was changed on both sides; the CRM's value was kept."}}
	test.Tap(r.syncNow)
	want := []string{
		"Last sync at 15:42",
		"✓ contacts: 42 kept in step · to your address book: 3 created, 1 updated, 0 deleted · to the CRM: nothing",
		"✓ tasks: 3 kept in step · to your calendar: nothing · to the CRM: 0 created, 1 updated, 0 deleted · 1 field edited on both sides, the CRM's value kept",
		"⚠ Ana Silva's phone was changed on both sides; the CRM's value was kept.",
	}
	if !hasCall(be, "SyncNow") || !slices.Equal(r.reportLines, want) {
		t.Errorf("report:\n%s", strings.Join(r.reportLines, "\n"))
	}

	be.SetError("SyncNow", errors.New("the address book and calendar server cannot be reached"))
	be.SyncReportValue = agent.SyncReport{}
	test.Tap(r.syncNow)
	if len(r.reportLines) != 2 || !strings.Contains(r.reportLines[1], "did not run: the address book and calendar server cannot be reached") {
		t.Errorf("failed sync: %q", r.reportLines)
	}
}

func demoOverview() agent.SyncOverview {
	return agent.SyncOverview{
		Filters: []agent.SyncFilterInfo{
			{Kind: "contacts", Name: "My Outlook Contacts"},
			{Kind: "contacts", Name: "Contacts at Contoso", Organisation: true},
			{Kind: "appointments", Name: "My Appointments"},
			{Kind: "tasks", Name: "My Tasks"},
		},
		Fields: []agent.SyncFieldInfo{
			{Kind: "contacts", Field: "FullName", Column: "fullname", ToItem: true},
			{Kind: "contacts", Field: "Email1Address", Column: "emailaddress1", ToItem: true, ToCRM: true},
			{Kind: "contacts", Field: "BusinessPhone", Column: "telephone1", ToItem: true, ToCRM: true},
			{Kind: "contacts", Field: "MobilePhone", Column: "mobilephone", ToItem: true, ToCRM: true},
			{Kind: "contacts", Field: "CompanyName", Column: "parentcustomerid", ToItem: true},
			{Kind: "contacts", Field: "JobTitle", Column: "jobtitle", ToCRM: true},
			{Kind: "appointments", Field: "Subject", Column: "subject", ToItem: true, ToCRM: true},
			{Kind: "appointments", Field: "Start", Column: "scheduledstart", ToItem: true, ToCRM: true},
			{Kind: "appointments", Field: "End", Column: "scheduledend", ToItem: true, ToCRM: true},
			{Kind: "appointments", Field: "Location", Column: "location", ToItem: true, ToCRM: true},
			{Kind: "appointments", Field: "RequiredAttendees", Column: "requiredattendees", ToItem: true},
			{Kind: "tasks", Field: "Subject", Column: "subject", ToItem: true, ToCRM: true},
			{Kind: "tasks", Field: "DueDate", Column: "scheduledend", ToItem: true, ToCRM: true},
			{Kind: "tasks", Field: "Status", Column: "statuscode", ToItem: true, ToCRM: true},
		},
		Hidden: []string{"contacts: telephone2"},
		Counts: map[string]int{"contacts": 12, "appointments": 5, "tasks": 2},
	}
}

func TestRecordsOverview(t *testing.T) {
	be, r := openRecords(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.Records = agent.RecordSync{DAV: aliceDAV, Contacts: true, Appointments: true, Tasks: true}
		be.OverviewValue = demoOverview()
	})
	if !hasCall(be, "SyncOverview") {
		t.Fatalf("showing the tab reads the overview: %q", be.Calls())
	}
	text := strings.Join(r.overviewLines, "\n")
	for _, want := range []string{
		"12 contacts, 5 appointments, 2 tasks will be kept in step.",
		"Filters for contacts: My Outlook Contacts (yours), Contacts at Contoso (organisation)",
		"fullname → FullName",
		"emailaddress1 ←→ Email1Address",
		"jobtitle ← JobTitle",
		"Hidden by field security: contacts: telephone2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("overview lacks %q:\n%s", want, text)
		}
	}
	if len(r.overview.Objects) < 4 {
		t.Errorf("%d rows shown", len(r.overview.Objects))
	}

	// Not set up, or offline: the engine's sentence, not a blank.
	be.SetError("SyncOverview", errors.New("the address book and calendar are not set up"))
	r.s.show()
	if len(r.overviewLines) != 1 || !strings.Contains(r.overviewLines[0], "could not be read: the address book and calendar are not set up") {
		t.Errorf("failed overview: %q", r.overviewLines)
	}
}

func TestRecordsStop(t *testing.T) {
	be, r := openRecords(t, func(be *agenttest.FakeBackend) {
		be.SettingsValue.Records = agent.RecordSync{DAV: aliceDAV, Contacts: true, Appointments: true, Tasks: true}
	})
	test.Tap(r.stop)
	if r.stopDlg == nil || countPrefix(be.Calls(), "UpdateSettings") != 0 {
		t.Fatal("Stop syncing asks first")
	}
	test.Tap(r.stopDlg.cancel)
	if countPrefix(be.Calls(), "UpdateSettings") != 0 || be.Settings().Records.DAV.IsZero() {
		t.Fatal("Cancel keeps syncing")
	}
	test.Tap(r.stop)
	test.Tap(r.stopDlg.ok)
	if got := be.Settings().Records; got != (agent.RecordSync{}) {
		t.Errorf("after stop: %+v", got)
	}
	if r.url.Text != "" || !r.syncNow.Disabled() || !strings.Contains(r.message.Text, "stay there") {
		t.Errorf("after stop: url %q message %q", r.url.Text, r.message.Text)
	}
}

func TestWindowStatusRecords(t *testing.T) {
	now := time.Now()
	s := agent.Status{State: agent.StateOnline, User: "Alice", Mail: "/home/alice/Maildir", LastSync: now.Add(-time.Minute)}
	if line := windowStatus(s, now); strings.Contains(line, "address book") {
		t.Errorf("not set up, yet: %q", line)
	}
	s.Records = "in step at 15:42 (42 contacts, 7 appointments, 3 tasks)"
	if line := windowStatus(s, now); !strings.HasSuffix(line, " · address book and calendar: in step at 15:42 (42 contacts, 7 appointments, 3 tasks)") {
		t.Errorf("status line %q", line)
	}
}
