package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

// buttons returns the buttons under o, in order.
func buttons(o fyne.CanvasObject) []*widget.Button {
	var out []*widget.Button
	switch v := o.(type) {
	case *widget.Button:
		out = append(out, v)
	case *fyne.Container:
		for _, c := range v.Objects {
			out = append(out, buttons(c)...)
		}
	case *container.Scroll:
		out = append(out, buttons(v.Content)...)
	}
	return out
}

func TestEngineStopped(t *testing.T) {
	u, be := newUI(t, agent.StateOnline)
	tr := u.tray
	u.apply(agent.Event{Item: &agent.Item{Key: "k1", Track: agent.Untracked, Received: time.Now()}})
	restarts := 0
	u.EngineStopped(errors.New("cache: disk I/O error"), func() { restarts++ })

	// The tray says what happened and offers the restart above Quit.
	if !strings.Contains(tr.status.Label, "Stopped") || !strings.Contains(tr.status.Label, "disk I/O error") {
		t.Errorf("status line %q does not show the error", tr.status.Label)
	}
	n := len(tr.menu.Items)
	if tr.menu.Items[n-2].Label != "Restart crmsync" || !tr.menu.Items[n-1].IsQuit {
		t.Errorf("the menu does not end with Restart crmsync, Quit: %q, %q", tr.menu.Items[n-2].Label, tr.menu.Items[n-1].Label)
	}
	tr.menu.Items[n-2].Action()
	if restarts != 1 {
		t.Errorf("Restart crmsync ran the restart %d times, want 1", restarts)
	}
	for _, it := range []*fyne.MenuItem{tr.connected, tr.track, tr.untrack, tr.items, tr.sent, tr.settings, tr.signInOut} {
		if !it.Disabled {
			t.Errorf("%q is still enabled after the engine stopped", it.Label)
		}
	}
	if tr.menu.Items[n-2].Disabled || tr.quit.Disabled {
		t.Error("Restart and Quit must stay enabled")
	}

	// The window explains it and restarts too.
	v := u.stoppedView
	if v.w == nil || !v.w.Content().Visible() || !strings.Contains(v.text.Text, "disk I/O error") ||
		!strings.Contains(v.text.Text, "Restart crmsync") {
		t.Fatalf("no stop notice window, or it does not say what to do: %+v", v.text)
	}
	test.Tap(v.restart)
	if restarts != 2 {
		t.Errorf("the window's Restart button ran the restart %d times in all, want 2", restarts)
	}
	if !hasNote(u, "crmsync stopped") {
		t.Errorf("no notification; sent %v", u.notes.sent)
	}

	// An action that still reaches the UI fails at once, without the backend.
	before := len(be.Calls())
	start := time.Now()
	tr.trackLast()
	u.signIn.show()
	u.signIn.start(agent.SignInPassword, false)
	if d := time.Since(start); d > time.Second {
		t.Errorf("actions after the stop took %v", d)
	}
	if calls := be.Calls(); len(calls) != before {
		t.Errorf("the stopped backend was called: %v", calls[before:])
	}
	if !hasNote(u, "Could not track") {
		t.Errorf("track after the stop gave no error; sent %v", u.notes.sent)
	}
	if !strings.Contains(u.signIn.errText.Text, "Restart crmsync") {
		t.Errorf("sign-in after the stop says %q", u.signIn.errText.Text)
	}
	// A late status does not bring the menu back.
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline}})
	if !strings.HasPrefix(tr.status.Label, "Stopped") || !tr.track.Disabled {
		t.Errorf("a late status revived the menu: %q", tr.status.Label)
	}
}

func TestEngineStoppedWindowOnly(t *testing.T) {
	a := test.NewTempApp(t)
	u := New(a, agenttest.New(agent.StateOnline), Options{Tray: false})
	u.inline = true
	restarts := 0
	u.EngineStopped(errors.New("outbox: database is locked"), func() { restarts++ })
	var restart *widget.Button
	for _, b := range buttons(u.main.Content()) {
		switch {
		case b.Text == "Restart crmsync":
			restart = b
		case b.Text != "Quit" && !b.Disabled():
			t.Errorf("button %q is enabled after the engine stopped", b.Text)
		}
	}
	if restart == nil {
		t.Fatal("the main window has no Restart crmsync button")
	}
	test.Tap(restart)
	if restarts != 1 {
		t.Errorf("restart ran %d times, want 1", restarts)
	}
}

func hasNote(u *UI, title string) bool {
	for _, s := range u.notes.sent {
		if s == title {
			return true
		}
	}
	return false
}
