package ui

import (
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

// TestWindowsRender draws each window with Fyne's software renderer and
// checks it is not blank. With CRMSYNC_SCREENSHOTS=DIR set it also writes
// the images there (the README's screenshots come from this).
func TestWindowsRender(t *testing.T) {
	a := test.NewTempApp(t)
	be := agenttest.New(agent.StateOnline)
	now := time.Now()
	be.SettingsValue = agent.Settings{ConnectionEnabled: true, MaildirPath: "/home/alice/Maildir", Folders: []string{".Sent"},
		ExcludedAddresses: []string{"@newsletter.example"}, InternalDomains: []string{"fourthcoffee.example"}}
	be.SettingsValue.CRMURL = "https://fourthcoffee.crm.dynamics.com"
	be.SettingsValue.IMAP = agent.IMAPAccount{Host: "mail.fourthcoffee.example", Username: "alice@fourthcoffee.example"}
	be.StatusValue = agent.Status{State: agent.StateOnline, User: "Alice Martin", Pending: 1,
		Mail: "imaps://alice@mail.fourthcoffee.example:993", LastSync: now.Add(-2 * time.Minute)}
	be.Items = append(demoItems(now),
		agent.Item{Key: "k5", From: "Ana Silva <ana.silva@adatum.example>", Subject: "Site visit next Tuesday: parking, badges and the agenda for the afternoon workshop",
			Track: agent.Tracked, OwnedByMe: true, Reason: "mail moved into the folder INBOX/Adatum, which is mapped to Adatum Corporation",
			Regarding: &agent.RecordRef{Entity: "account", ID: "acc-adatum", Name: "Adatum Corporation"}, Received: now.Add(-5 * time.Hour)},
		agent.Item{Key: "k6", From: "Priya Raman <priya@northwind.example>", Subject: "Invoice 2231 overdue?", Track: agent.Failed,
			Reason: "the CRM refused the email: the regarding case was closed", Received: now.Add(-30 * time.Hour)},
	)
	be.SenderValue = map[agent.MessageKey]*agent.Person{"k1": &maria}
	be.SettingsValue.Records = agent.RecordSync{DAV: agent.DAVAccount{URL: "https://dav.example.com/alice/", Username: "alice"},
		Contacts: true, Appointments: true, Tasks: true}
	be.OverviewValue = demoOverview()
	be.SyncReportValue = agent.SyncReport{Finished: now.Add(-3 * time.Minute), Kinds: []agent.SyncKind{
		{Kind: "contacts", Kept: 12, ToItems: agent.SyncCount{Created: 1, Updated: 2}},
		{Kind: "appointments", Kept: 5, ToCRM: agent.SyncCount{Updated: 1}},
		{Kind: "tasks", Kept: 2}},
		Notices: []string{"Ana Silva's mobile phone was changed in the CRM and in your address book; the CRM's value was kept."}}
	be.RulesValue = twoRules()
	be.SettingsValue.SMTP = agent.SMTPAccount{Host: "mail.example.com", Port: 465, Username: "alice"}
	be.OutboxValue = demoOutbox(now)
	be.MailReportValue = agent.MailReport{Idle: errors.New("the server does not offer IDLE; new mail will be found by checking every 30 seconds"), Folders: 14, Latency: 86 * time.Millisecond}
	be.DisclosuresValue = []agent.Disclosure{
		{Key: "1764671520.M204815P3011Q12.alice-laptop", At: now, Purpose: "tracking decision", Fields: []agent.FieldSize{{Name: "Message-ID", Bytes: 28}, {Name: "Subject", Bytes: 16}, {Name: "From", Bytes: 17}, {Name: "To", Bytes: 16}, {Name: "Cc", Bytes: 0}}},
		{Key: "1764667920.M88211P3011Q9.alice-laptop", At: now, Purpose: "tracked message", Fields: []agent.FieldSize{{Name: "Message-ID", Bytes: 28}, {Name: "Subject", Bytes: 21}, {Name: "Body", Bytes: 812}}, BodySent: true},
	}
	u := New(a, be, Options{Tray: true, Autostart: &fakeAutostart{}})
	u.inline = true
	u.signIn.show()
	u.signIn.crm.SetText("https://contoso.crm.dynamics.com")
	capture(t, "signin", u.signIn.w)
	test.Tap(u.signIn.browser)
	settle(t, u, "the browser prompt", func() bool { return u.signIn.wait.linkRows[0].Visible() })
	capture(t, "signin-browser", u.signIn.w)
	test.Tap(u.signIn.wait.cancel)
	be.CodePrompt.Expires = time.Now().Add(15 * time.Minute)
	test.Tap(u.signIn.code)
	settle(t, u, "the code", func() bool { return u.signIn.wait.codeRows[0].Visible() })
	capture(t, "signin-code", u.signIn.w)
	test.Tap(u.signIn.wait.cancel)

	u.items.show()
	settle(t, u, "the items", func() bool { return len(u.items.rows) == 6 })
	u.items.list.Select(0)
	settle(t, u, "Maria in the CRM", func() bool { return u.items.sender.done })
	capture(t, "items", u.items.w)
	u.items.list.Select(1)
	settle(t, u, "an unknown sender", func() bool { return u.items.sender.done })
	capture(t, "items-unknown-sender", u.items.w)
	test.Tap(u.items.sender.add)
	be.SearchResults = []agent.RecordRef{{Entity: "account", ID: "acc-contoso", Name: "Contoso Ltd"},
		{Entity: "account", ID: "acc-contoso-ph", Name: "Contoso Pharmaceuticals"}}
	u.items.contactDlg.picker.query.SetText("contoso")
	test.Tap(u.items.contactDlg.picker.search)
	u.items.contactDlg.picker.list.Select(0)
	capture(t, "items-add-contact", u.items.w)
	u.items.contactDlg.d.Hide()
	test.TapSecondaryAt(rowWidget(t, u.items, 1), fyne.NewPos(320, 12))
	capture(t, "items-menu", u.items.w)
	u.items.w.Canvas().Overlays().Top().Hide()

	u.settings.show()
	s := u.settings
	s.tabs.SelectIndex(tabTracking)
	capture(t, "settings", s.w)
	s.tabs.SelectIndex(tabMail)
	test.Tap(s.mail.test)
	capture(t, "settings-mail", s.w)
	s.tabs.SelectIndex(tabFolders)
	capture(t, "settings-folders", s.w)
	s.tabs.SelectIndex(tabRecords)
	capture(t, "settings-records", s.w)
	s.records.scroll.ScrollToBottom()
	capture(t, "settings-records-overview", s.w)
	s.tabs.SelectIndex(tabSend)
	capture(t, "settings-send", s.w)

	u.sent.show()
	capture(t, "sent", u.sent.w)
}

// capture checks w is not blank and, with CRMSYNC_SCREENSHOTS set, writes
// it there as name.png.
func capture(t *testing.T, name string, w fyne.Window) {
	t.Helper()
	img := w.Canvas().Capture()
	if n := colours(img); n < 8 {
		t.Errorf("%s window rendered %d colours: blank", name, n)
	}
	if dir := os.Getenv("CRMSYNC_SCREENSHOTS"); dir != "" {
		f, err := os.Create(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
	}
}

func colours(img image.Image) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
		}
	}
	return len(seen)
}
