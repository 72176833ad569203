package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"crmsync/agent"
	"crmsync/assets"
)

// tray is the system tray icon and menu.
type tray struct {
	u                                 *UI
	menu                              *fyne.Menu
	status, connected, track, untrack *fyne.MenuItem
	outgoing                          *fyne.MenuItem // below status while the CRM's email waits for crmsync
	items, sent, settings, signInOut  *fyne.MenuItem
	restart                           *fyne.MenuItem // in the menu only once the engine has stopped
	quit                              *fyne.MenuItem
	desk                              desktop.App // nil when there is no tray
	icon                              string      // the icon shown now
}

func newTray(u *UI) *tray {
	t := &tray{u: u}
	t.status = fyne.NewMenuItem("Starting…", nil)
	t.status.Disabled = true
	t.outgoing = fyne.NewMenuItem("", func() {
		u.settings.show()
		u.settings.tabs.SelectIndex(tabSend)
	})
	t.connected = fyne.NewMenuItem("Connected", t.toggleConnected)
	t.track = fyne.NewMenuItem("Track last message", t.trackLast)
	t.untrack = fyne.NewMenuItem("Untrack last message", t.untrackLast)
	t.items = fyne.NewMenuItem("Tracked items…", func() { u.items.show() })
	t.sent = fyne.NewMenuItem("What was sent…", func() { u.sent.show() })
	t.settings = fyne.NewMenuItem("Settings…", func() { u.settings.show() })
	t.signInOut = fyne.NewMenuItem("Sign in…", t.signInOrOut)
	t.restart = fyne.NewMenuItem("Restart crmsync", u.doRestart)
	t.quit = fyne.NewMenuItem("Quit", func() { u.app.Quit() })
	t.quit.IsQuit = true
	t.menu = fyne.NewMenu("crmsync", t.status, fyne.NewMenuItemSeparator(), t.connected,
		fyne.NewMenuItemSeparator(), t.track, t.untrack, t.items, t.sent,
		fyne.NewMenuItemSeparator(), t.settings, t.signInOut, fyne.NewMenuItemSeparator(), t.quit)
	if d, ok := u.app.(desktop.App); ok && u.o.Tray {
		t.desk = d
		d.SetSystemTrayMenu(t.menu)
	}
	return t
}

// iconFor picks the tray icon of a state.
func iconFor(s agent.Status) string {
	switch s.State {
	case agent.StateOnline:
		for _, w := range s.Warnings {
			if w.Severity == agent.SeverityError {
				return assets.TrayError
			}
		}
		return assets.TrayOnline
	case agent.StateOff:
		return assets.TrayOff
	case agent.StateConnecting, agent.StateBackoff, agent.StateStarting:
		return assets.TrayConnecting
	case agent.StateNeedsSignIn:
		return assets.TraySignIn
	case agent.StateNotPermitted:
		return assets.TrayNotPermitted
	}
	return assets.TrayError
}

// statusLine is the menu's first line: state, user, pending, last sync.
func statusLine(s agent.Status, now time.Time) string {
	parts := []string{stateText(s.State)}
	if s.User != "" {
		parts = append(parts, s.User)
	}
	if s.Pending > 0 {
		parts = append(parts, fmt.Sprintf("%d pending", s.Pending))
	}
	if !s.LastSuccess.IsZero() {
		parts = append(parts, "synced "+ago(now.Sub(s.LastSuccess)))
	}
	if s.State == agent.StateBackoff && !s.NextRetry.IsZero() {
		parts = append(parts, "retry in "+span(s.NextRetry.Sub(now).Round(time.Minute)))
	}
	return strings.Join(parts, " · ")
}

// stateText is how a state reads in the menu.
func stateText(s agent.State) string {
	switch s {
	case agent.StateStarting:
		return "Starting"
	case agent.StateNeedsSignIn:
		return "Signed out"
	case agent.StateOff:
		return "Connection off"
	case agent.StateConnecting:
		return "Connecting"
	case agent.StateOnline:
		return "Online"
	case agent.StateBackoff:
		return "CRM unreachable"
	case agent.StateNotPermitted:
		return "Not permitted to sync"
	}
	return s.String()
}

// ago says how long ago something happened that took d.
func ago(d time.Duration) string {
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// span words a duration the way the status lines use it: "2 min", "3 h".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// stop turns the menu into the stopped engine's: the error in the status
// line, every action disabled, and "Restart crmsync" above Quit.
func (t *tray) stop() {
	t.status.Label = "Stopped: " + t.u.stopped.Error()
	for _, it := range []*fyne.MenuItem{t.outgoing, t.connected, t.track, t.untrack, t.items, t.sent, t.settings, t.signInOut} {
		it.Disabled = true
	}
	items := t.menu.Items
	if len(items) < 2 || items[len(items)-2] != t.restart {
		t.menu.Items = append(items[:len(items)-1:len(items)-1], t.restart, t.quit)
	}
	t.menu.Refresh()
	t.icon = assets.TrayError
	if t.desk != nil {
		t.desk.SetSystemTrayIcon(assets.TrayIcon(t.icon))
	}
}

// refresh brings the menu and icon in line with the UI's state.
func (t *tray) refresh() {
	if t.u.stopped != nil {
		return // stop has set the menu for good
	}
	s := t.u.status
	t.status.Label = statusLine(s, time.Now())
	t.showOutgoing(s.OutgoingPending)
	t.connected.Checked = s.State != agent.StateOff
	t.connected.Disabled = s.State == agent.StateNeedsSignIn
	last := t.u.lastItem
	t.track.Disabled = last == nil || last.Track == agent.Tracked || last.Track == agent.Pending
	t.untrack.Disabled = last == nil || (last.Track != agent.Tracked && last.Track != agent.Pending)
	if s.State == agent.StateNeedsSignIn {
		t.signInOut.Label = "Sign in…"
	} else {
		t.signInOut.Label = "Sign out"
	}
	t.menu.Refresh()
	if icon := iconFor(s); icon != t.icon {
		t.icon = icon
		if t.desk != nil {
			t.desk.SetSystemTrayIcon(assets.TrayIcon(icon))
		}
	}
}

// showOutgoing puts "2 CRM emails waiting to be sent" below the status
// line while n > 0, and takes it out otherwise.
func (t *tray) showOutgoing(n int) {
	i := slices.Index(t.menu.Items, t.outgoing)
	switch {
	case n > 0 && i < 0:
		t.menu.Items = slices.Insert(t.menu.Items, 1, t.outgoing)
	case n <= 0 && i >= 0:
		t.menu.Items = slices.Delete(t.menu.Items, i, i+1)
	}
	t.outgoing.Label = outgoingLine(n)
}

// outgoingLine counts the CRM's emails waiting for crmsync to send them.
func outgoingLine(n int) string {
	if n == 1 {
		return "1 CRM email waiting to be sent"
	}
	return fmt.Sprintf("%d CRM emails waiting to be sent", n)
}

func (t *tray) toggleConnected() {
	on := t.u.status.State == agent.StateOff
	t.u.call(func(ctx context.Context) error {
		_, err := t.u.be.UpdateSettings(ctx, agent.SettingsPatch{ConnectionEnabled: &on})
		return err
	}, func(err error) {
		if err != nil {
			t.u.notes.notify("Settings not saved", err.Error())
		}
	})
}

func (t *tray) trackLast() {
	if t.u.lastItem == nil {
		return
	}
	k := t.u.lastItem.Key
	t.u.call(func(ctx context.Context) error { return t.u.be.Track(ctx, k, nil) }, func(err error) {
		if err != nil {
			t.u.notes.notify("Could not track", err.Error())
		}
	})
}

func (t *tray) untrackLast() {
	if t.u.lastItem == nil {
		return
	}
	k := t.u.lastItem.Key
	var res agent.UntrackResult
	t.u.call(func(ctx context.Context) (err error) { res, err = t.u.be.Untrack(ctx, k); return err }, func(err error) {
		if err != nil {
			t.u.notes.notify("Could not untrack", err.Error())
			return
		}
		t.u.app.SendNotification(fyne.NewNotification("Untracked", res.Reason))
	})
}

func (t *tray) signInOrOut() {
	if t.u.status.State == agent.StateNeedsSignIn {
		t.u.signIn.open()
		return
	}
	t.u.call(func(ctx context.Context) error { return t.u.be.SignOut(ctx) }, func(err error) {
		if err != nil {
			t.u.notes.notify("Sign-out incomplete", err.Error())
		}
	})
}
