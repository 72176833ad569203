package ui

import (
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// ErrEngineStopped is what every backend action returns once the engine
// has stopped: the UI answers at once instead of waiting for a backend
// that will never reply.
var ErrEngineStopped = errors.New("crmsync has stopped working, so this cannot be done now; choose \"Restart crmsync\" in its menu")

// stoppedView is the notice shown when the engine has stopped: what
// happened, what to do, and the restart button.
type stoppedView struct {
	u       *UI
	w       fyne.Window // built on the first stop; nil before
	text    *widget.Label
	restart *widget.Button
}

// EngineStopped tells the UI that the engine stopped because of err while
// the app runs. The tray's status line says so, every action is disabled
// and fails at once with ErrEngineStopped, a window explains what
// happened, and a "Restart crmsync" item and button call restart. Call it
// on the Fyne goroutine (with fyne.Do).
func (u *UI) EngineStopped(err error, restart func()) {
	if err == nil {
		err = errors.New("it stopped without saying why")
	}
	u.stopped, u.restartFn = err, restart
	if u.signIn.run != nil {
		u.signIn.cancel() // the engine will not answer it
	}
	u.tray.stop()
	if u.main != nil {
		u.refreshMain()
	}
	u.notes.notify("crmsync stopped", stoppedText(err))
	u.stoppedView.show(err)
}

// stoppedText is the user's sentence for an engine that stopped.
func stoppedText(err error) string {
	return "crmsync stopped tracking your mail because of an error: " + err.Error() + ". " +
		"Nothing more is tracked until it runs again. Restart crmsync; what was already queued is kept. " +
		"If it stops again, run \"crmsync agent\" in a terminal to see why."
}

// doRestart runs the restart the app gave, if any.
func (u *UI) doRestart() {
	if u.restartFn != nil {
		u.restartFn()
	}
}

func (v *stoppedView) show(err error) {
	if v.w == nil {
		v.w = v.u.window("crmsync stopped", fyne.NewSize(460, 220))
		v.text = widget.NewLabel("")
		v.text.Wrapping = fyne.TextWrapWord
		v.restart = widget.NewButton("Restart crmsync", v.u.doRestart)
		v.restart.Importance = widget.HighImportance
		quit := widget.NewButton("Quit", func() { v.u.app.Quit() })
		v.w.SetContent(container.NewBorder(nil, container.NewHBox(v.restart, quit), nil, nil, v.text))
	}
	v.text.SetText(stoppedText(err))
	v.w.Show()
	v.w.RequestFocus()
}
