package ui

import (
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
	if !strings.Contains(tr.status.Label, "CRM unreachable") || !strings.Contains(tr.status.Label, "retry in 3 min") {
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
