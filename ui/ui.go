// Package ui is the tray app: the Fyne tray menu and windows. It talks to
// the engine only through the contract in package agent, never to the
// engine, cache, CRM client, SQLite, fsnotify or the keychain directly.
// Background updates reach widgets through fyne.Do; button handlers call
// the backend on their own goroutine and apply results with fyne.Do.
package ui

import (
	"context"
	"time"

	"fyne.io/fyne/v2"

	"crmsync/agent"
	"crmsync/assets"
)

// Autostart turns "start at login" on and off.
type Autostart interface {
	Enabled() bool
	SetEnabled(on bool) error
}

// Options configure the UI.
type Options struct {
	// Tray says a tray host may exist. Without one the app keeps a small
	// main window instead.
	Tray bool
	// Autostart manages start at login; nil hides the option.
	Autostart Autostart
	// DefaultCRM prefills the sign-in form's CRM address.
	DefaultCRM string
	// Timeout bounds each backend call made for a button; 0 means 30 s.
	Timeout time.Duration
}

// UI is the tray app. All its fields are used on the Fyne goroutine only.
type UI struct {
	app fyne.App
	be  agent.Backend
	o   Options

	status   agent.Status
	lastItem *agent.Item // the newest message seen, for "Track last message"

	tray     *tray
	main     fyne.Window // window-only mode: the status window; nil with a tray
	signIn   *signInWindow
	settings *settingsWindow
	items    *itemsWindow
	sent     *sentWindow
	notes    *notifier

	// stopped is why the engine stopped; nil while it runs. Once set it
	// stays: only a restart of the process brings the engine back.
	stopped     error
	restartFn   func() // what "Restart crmsync" runs; nil until stopped
	stoppedView *stoppedView

	// inline runs backend calls and their results on the caller's
	// goroutine, and queues work that arrives from other goroutines (the
	// event pump, a sign-in's prompt and result) on queued for the test to
	// run. Fyne's test driver does not serialise fyne.Do, so widget tests
	// set it to keep widget updates on the test's goroutine.
	inline bool
	queued chan func()

	// life ends when the app's run ends (the ctx given to Start); window
	// clocks such as the items window's "last sync" line stop with it.
	life context.Context
}

// New builds the UI; call Start before running the app.
func New(a fyne.App, be agent.Backend, o Options) *UI {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	a.SetIcon(assets.AppIcon())
	u := &UI{app: a, be: be, o: o, status: be.Status(), queued: make(chan func(), 256), life: context.Background()}
	u.notes = newNotifier(a, time.Now)
	u.signIn = &signInWindow{u: u}
	u.settings = &settingsWindow{u: u}
	u.items = &itemsWindow{u: u}
	u.sent = &sentWindow{u: u}
	u.stoppedView = &stoppedView{u: u}
	u.tray = newTray(u)
	if !o.Tray {
		u.main = u.newMainWindow()
	}
	u.applyStatus(u.status)
	return u
}

// Start follows the backend's events until ctx ends. The sign-in window
// follows the state: it shows whenever nobody is signed in, from the
// first status on.
func (u *UI) Start(ctx context.Context) {
	u.life = ctx
	events := u.be.Subscribe(ctx)
	go func() {
		for {
			ev, ok := <-events
			if !ok {
				if ctx.Err() != nil {
					return
				}
				// Dropped for lagging: subscribe again and catch up.
				events = u.be.Subscribe(ctx)
				continue
			}
			u.post(func() { u.apply(ev) })
		}
	}()
	if u.main != nil {
		u.main.Show()
	}
}

// apply is the one place events change the UI.
func (u *UI) apply(ev agent.Event) {
	if ev.Status != nil {
		u.applyStatus(*ev.Status)
	}
	if ev.Item != nil {
		it := *ev.Item
		if u.lastItem == nil || !it.Received.Before(u.lastItem.Received) || it.Key == u.lastItem.Key {
			u.lastItem = &it
		}
		u.items.update(it)
		u.tray.refresh()
	}
	if ev.Notice != nil {
		u.notes.notify(ev.Notice.Title, ev.Notice.Text)
	}
}

func (u *UI) applyStatus(s agent.Status) {
	if u.stopped != nil {
		return // a stopped engine's last status is stale; the stop notice stays
	}
	u.status = s
	u.tray.refresh()
	u.items.setStatus(s)
	if u.main != nil {
		u.refreshMain()
	}
	u.signIn.follow(s)
}

// post applies fn on the Fyne goroutine; in inline mode it queues fn for
// the test's goroutine instead.
func (u *UI) post(fn func()) {
	if u.inline {
		u.queued <- fn
		return
	}
	fyne.Do(fn)
}

// call runs fn against the backend off the Fyne goroutine, then done on it.
// Once the engine has stopped, done gets ErrEngineStopped at once.
func (u *UI) call(fn func(ctx context.Context) error, done func(err error)) {
	if u.stopped != nil {
		done(ErrEngineStopped)
		return
	}
	if u.inline {
		ctx, cancel := context.WithTimeout(context.Background(), u.o.Timeout)
		err := fn(ctx)
		cancel()
		done(err)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), u.o.Timeout)
		err := fn(ctx)
		cancel()
		fyne.Do(func() { done(err) })
	}()
}

// async runs fn against the backend on its own goroutine under parent,
// always, then done on the Fyne goroutine. Unlike call it never runs
// inline, so a lookup that a newer one overtakes can be cancelled through
// parent while it waits, even in widget tests.
func (u *UI) async(parent context.Context, fn func(ctx context.Context) error, done func(err error)) {
	if u.stopped != nil {
		done(ErrEngineStopped)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(parent, u.o.Timeout)
		err := fn(ctx)
		cancel()
		u.post(func() { done(err) })
	}()
}

// window returns a window that hides instead of closing: the app lives in
// the tray.
func (u *UI) window(title string, size fyne.Size) fyne.Window {
	w := u.app.NewWindow(title)
	w.Resize(size)
	w.SetCloseIntercept(w.Hide)
	return w
}

// ShowItems opens the tracked-items window.
func (u *UI) ShowItems() { u.items.show() }
