package ui

import (
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
		ExcludedAddresses: []string{"@newsletter.example"}, InternalDomains: []string{"demo.local"}}
	be.Items = []agent.Item{
		{Key: "k1", From: "Maria Campbell <maria.campbell@contoso.example>", Subject: "Quote for 250 laptops", Track: agent.Tracked, Reason: "sender is in the CRM", Received: now, OwnedByMe: true},
		{Key: "k2", From: "Sam Stranger <sam@unknown.example>", Subject: "Lunch on Friday?", Track: agent.Untracked, Reason: "no CRM match", Received: now},
		{Key: "k3", From: "Deals Weekly <noreply@newsletter.example>", Subject: "Your weekly digest", Track: agent.Untracked, Reason: "excluded domain", Received: now},
	}
	be.DisclosuresValue = []agent.Disclosure{
		{Key: "k2", At: now, Purpose: "tracking decision", Fields: []agent.FieldSize{{Name: "Message-ID", Bytes: 28}, {Name: "Subject", Bytes: 16}, {Name: "From", Bytes: 17}, {Name: "To", Bytes: 16}, {Name: "Cc", Bytes: 0}}},
		{Key: "k1", At: now, Purpose: "tracked message", Fields: []agent.FieldSize{{Name: "Message-ID", Bytes: 28}, {Name: "Subject", Bytes: 21}, {Name: "Body", Bytes: 812}}, BodySent: true},
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

	u.settings.show()
	u.items.show()
	eventually(t, "the items", func() bool { return len(u.items.items) == 3 })
	u.items.list.Select(1)
	u.sent.show()
	for name, w := range map[string]fyne.Window{"settings": u.settings.w, "items": u.items.w, "sent": u.sent.w} {
		capture(t, name, w)
	}
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
