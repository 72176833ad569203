package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"crmsync/agent"
	"crmsync/agent/agenttest"
	"crmsync/assets"
)

// eventually polls cond on the Fyne goroutine's results.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasCall(be *agenttest.FakeBackend, want string) bool {
	for _, c := range be.Calls() {
		if c == want {
			return true
		}
	}
	return false
}

func newUI(t *testing.T, state agent.State) (*UI, *agenttest.FakeBackend) {
	t.Helper()
	a := test.NewTempApp(t)
	be := agenttest.New(state)
	u := New(a, be, Options{Tray: true})
	u.inline = true
	return u, be
}

func TestTrayFollowsStatus(t *testing.T) {
	u, _ := newUI(t, agent.StateNeedsSignIn)
	tr := u.tray
	if tr.signInOut.Label != "Sign in…" || !tr.connected.Disabled || !strings.HasPrefix(tr.status.Label, "Signed out") {
		t.Errorf("signed out menu: %q %q disabled=%v", tr.status.Label, tr.signInOut.Label, tr.connected.Disabled)
	}
	now := time.Now()
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, User: "Alice Martin", Pending: 2, LastSuccess: now}})
	if got := tr.status.Label; got != "Online · Alice Martin · 2 pending · synced just now" {
		t.Errorf("status line %q", got)
	}
	if tr.signInOut.Label != "Sign out" || !tr.connected.Checked || tr.icon != assets.TrayOnline {
		t.Errorf("online menu: %q checked=%v icon=%s", tr.signInOut.Label, tr.connected.Checked, tr.icon)
	}
	for state, icon := range map[agent.State]string{
		agent.StateOff: assets.TrayOff, agent.StateBackoff: assets.TrayConnecting, agent.StateConnecting: assets.TrayConnecting,
		agent.StateNeedsSignIn: assets.TraySignIn, agent.StateNotPermitted: assets.TrayNotPermitted,
	} {
		u.apply(agent.Event{Status: &agent.Status{State: state}})
		if tr.icon != icon {
			t.Errorf("%v: icon %s, want %s", state, tr.icon, icon)
		}
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, Warnings: []agent.Warning{{Severity: agent.SeverityError}}}})
	if tr.icon != assets.TrayError {
		t.Errorf("online with an error warning: icon %s", tr.icon)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateBackoff, NextRetry: time.Now().Add(3 * time.Minute)}})
	if !strings.Contains(tr.status.Label, "CRM unreachable") || !strings.Contains(tr.status.Label, "retry in 2 min") {
		t.Errorf("backoff status line %q", tr.status.Label)
	}
}

func TestTrayMenuActions(t *testing.T) {
	u, be := newUI(t, agent.StateOnline)
	tr := u.tray
	if !tr.track.Disabled || !tr.untrack.Disabled {
		t.Error("track/untrack last must be disabled before any message")
	}
	u.apply(agent.Event{Item: &agent.Item{Key: "k1", Track: agent.Untracked, Received: time.Now()}})
	if tr.track.Disabled || !tr.untrack.Disabled {
		t.Error("an untracked last message offers Track only")
	}
	tr.track.Action()
	eventually(t, "Track k1", func() bool { return hasCall(be, "Track k1") })
	u.apply(agent.Event{Item: &agent.Item{Key: "k1", Track: agent.Tracked, Received: time.Now()}})
	be.UntrackResultValue = agent.UntrackResult{Reason: "The CRM copy stays because Bob Nguyen owns it."}
	tr.untrack.Action()
	eventually(t, "Untrack k1", func() bool { return hasCall(be, "Untrack k1") })

	tr.connected.Action()
	eventually(t, "switch off", func() bool { return hasCall(be, "UpdateSettings connection=false") })
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOff}})
	tr.connected.Action()
	eventually(t, "switch on", func() bool { return hasCall(be, "UpdateSettings connection=true") })

	tr.signInOut.Action()
	eventually(t, "SignOut", func() bool { return hasCall(be, "SignOut") })
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateNeedsSignIn}})
	tr.signInOut.Action()
	if u.signIn.w == nil || !u.signIn.w.Content().Visible() {
		t.Error("Sign in… must open the sign-in window")
	}
	for _, open := range []*fyne.MenuItem{tr.items, tr.sent, tr.settings} {
		open.Action()
	}
	if u.items.w == nil || u.sent.w == nil || u.settings.w == nil {
		t.Error("menu items must open their windows")
	}
	if last := tr.menu.Items[len(tr.menu.Items)-1]; last.Label != "Quit" || !last.IsQuit {
		t.Error("the menu must end with Quit")
	}
}

type fakeAutostart struct{ on bool }

func (f *fakeAutostart) Enabled() bool            { return f.on }
func (f *fakeAutostart) SetEnabled(on bool) error { f.on = on; return nil }

func TestSettingsPatch(t *testing.T) {
	a := test.NewTempApp(t)
	be := agenttest.New(agent.StateOnline)
	be.SettingsValue = agent.Settings{ConnectionEnabled: true, MaildirPath: "/home/a/Maildir", AutoTrack: agent.TrackFromCRMRecords}
	auto := &fakeAutostart{}
	u := New(a, be, Options{Tray: true, Autostart: auto})
	u.inline = true
	s := u.settings
	s.show()
	s.scope.SetSelected("All mail")
	s.excluded.SetText("noreply@shop.example\n\n@news.example, other@x.example")
	s.folders.SetText(".Sent")
	s.autostart.SetChecked(true)
	test.Tap(s.save)
	eventually(t, "the patch", func() bool {
		return hasCall(be, "UpdateSettings autotrack=1 excluded=noreply@shop.example,@news.example,other@x.example")
	})
	if !auto.on {
		t.Error("start at login was not switched on")
	}
	// Only what changed is sent.
	for _, c := range be.Calls() {
		if strings.Contains(c, "maildir=") || strings.Contains(c, "connection=") {
			t.Errorf("unchanged settings were sent: %s", c)
		}
	}
	be.SetError("UpdateSettings", errors.New("maildir: /nope: not a maildir: missing cur/, new/, tmp/"))
	s.maildir.SetText("/nope")
	test.Tap(s.save)
	eventually(t, "the error shown", func() bool { return strings.Contains(s.errText.Text, "not a maildir") })
}

func TestItemsWindow(t *testing.T) {
	u, be := newUI(t, agent.StateOnline)
	be.Items = []agent.Item{
		{Key: "k1", From: "Maria Campbell", Subject: "Quote", Track: agent.Tracked, Reason: "sender is in the CRM", Received: time.Now()},
		{Key: "k2", From: "Stranger", Subject: "Lunch?", Track: agent.Untracked, Reason: "no CRM match", Received: time.Now()},
	}
	v := u.items
	v.show()
	eventually(t, "the list", func() bool { return len(v.items) == 2 })
	v.list.Select(1)
	if !strings.Contains(v.detail.Text, "no CRM match") || v.track.Disabled() == true || !v.untrack.Disabled() {
		t.Errorf("untracked item: %q track=%v untrack=%v", v.detail.Text, v.track.Disabled(), v.untrack.Disabled())
	}
	test.Tap(v.track)
	eventually(t, "Track k2", func() bool { return hasCall(be, "Track k2") })
	v.list.Select(0)
	be.UntrackResultValue = agent.UntrackResult{Reason: "The CRM copy stays because Bob Nguyen owns it; only the link on this computer is removed."}
	test.Tap(v.untrack)
	eventually(t, "the untrack reason", func() bool { return strings.Contains(v.result.Text, "Bob Nguyen owns it") })
	be.UntrackResultValue = agent.UntrackResult{DeletedInCRM: true, Reason: "The CRM copy will be deleted: it is yours."}
	test.Tap(v.untrack)
	eventually(t, "the deleted reason", func() bool { return strings.Contains(v.result.Text, "will be deleted") })

	u.apply(agent.Event{Item: &agent.Item{Key: "k3", Subject: "New", Track: agent.Pending, Received: time.Now()}})
	if len(v.items) != 3 || v.items[0].Key != "k3" {
		t.Errorf("a new item goes on top: %v", v.items)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, ScanDone: 250, ScanTotal: 1000}})
	if !v.progress.Visible() || v.scanText.Text != "Reading your mail folder: 250 of 1000 messages" {
		t.Errorf("scan progress: %q", v.scanText.Text)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, ScanDone: 1000, ScanTotal: 1000}})
	if v.progress.Visible() {
		t.Error("progress must hide when the scan is done")
	}
}

func TestNotificationsCoalesce(t *testing.T) {
	a := test.NewTempApp(t)
	now := time.Unix(1_700_000_000, 0)
	n := newNotifier(a, func() time.Time { return now })
	for range 5 {
		n.notify("Sign in again", "expired")
	}
	n.notify("Tracking failed", "x")
	now = now.Add(11 * time.Minute)
	n.notify("Sign in again", "expired")
	if got := strings.Join(n.sent, "|"); got != "Sign in again|Tracking failed|Sign in again" {
		t.Errorf("notifications sent: %s", got)
	}
}

func TestFormatDisclosures(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.Local)
	got := formatDisclosures([]agent.Disclosure{
		{Key: "k1", At: at, Purpose: "tracking decision", Fields: []agent.FieldSize{{Name: "From", Bytes: 30}, {Name: "Subject", Bytes: 12}}},
		{Key: "k2", At: at, Purpose: "tracked message", Fields: []agent.FieldSize{{Name: "Body", Bytes: 2048}}, BodySent: true},
	})
	for _, want := range []string{"From 30 B, Subject 12 B  (42 B; body not sent)", "Body 2048 B  (2048 B; body uploaded)", "09:30:00"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if formatDisclosures(nil) != "Nothing has been sent yet." {
		t.Error("empty history text")
	}
}
