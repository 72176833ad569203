package ui

import (
	"time"

	"fyne.io/fyne/v2"
)

// notifyEvery is how often one kind of notification may repeat; the rest
// are dropped, so an outage never becomes a notification storm.
const notifyEvery = 10 * time.Minute

// notifier sends desktop notifications only for what needs the user, at
// most one per title per notifyEvery.
type notifier struct {
	app  fyne.App
	now  func() time.Time
	last map[string]time.Time // title -> when last shown
	sent []string             // titles shown, for tests
}

func newNotifier(a fyne.App, now func() time.Time) *notifier {
	return &notifier{app: a, now: now, last: map[string]time.Time{}}
}

func (n *notifier) notify(title, text string) {
	t := n.now()
	if last, ok := n.last[title]; ok && t.Sub(last) < notifyEvery {
		return
	}
	n.last[title] = t
	n.sent = append(n.sent, title)
	n.app.SendNotification(fyne.NewNotification(title, text))
}
