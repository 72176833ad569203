package engine

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// mailbox is the engine's current Maildir. Changing the mail folder in the
// settings swaps the source underneath; the deciders, the outbox and the
// item views keep calling the same value.
type mailbox struct {
	mu sync.RWMutex
	m  Mail // nil while no usable mail folder is set; guarded by mu
}

func (b *mailbox) get() Mail {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.m
}

func (b *mailbox) set(m Mail) {
	b.mu.Lock()
	b.m = m
	b.mu.Unlock()
}

var errNoMaildir = fmt.Errorf("%w: no mail folder is set", maildir.ErrGone)

func (b *mailbox) Envelope(k agent.MessageKey) (maildir.Envelope, error) {
	if m := b.get(); m != nil {
		return m.Envelope(k)
	}
	return maildir.Envelope{}, errNoMaildir
}

func (b *mailbox) Body(k agent.MessageKey) (io.ReadCloser, error) {
	if m := b.get(); m != nil {
		return m.Body(k)
	}
	return nil, errNoMaildir
}

func (b *mailbox) Folder(k agent.MessageKey) (string, bool) {
	if m := b.get(); m != nil {
		return m.Folder(k)
	}
	return "", false
}

func (b *mailbox) Progress() (done, total int) {
	if m := b.get(); m != nil {
		return m.Progress()
	}
	return 0, 0
}

func (b *mailbox) Delivered(k agent.MessageKey) (time.Time, error) {
	if m := b.get(); m != nil {
		return m.Delivered(k)
	}
	return time.Time{}, errNoMaildir
}

// mailState is the loop's part about the mail folder.
type mailState struct {
	stop   context.CancelFunc // stops the current Maildir source; nil if none
	err    string             // why no mail is watched; "" when it is
	failed chan error         // the current Maildir source stopped with an error
}

// startMail opens the mail folder of the settings and feeds its changes to
// the loop, on a goroutine of the group. A folder that is missing or not a
// Maildir leaves a warning in the status instead.
func (l *loop) startMail() {
	l.stopMail()
	l.mail.err = ""
	root := l.settings.MaildirPath
	switch {
	case root == "":
		l.mail.err = "Choose your mail folder (a Maildir) in Settings; until then no mail is tracked."
		return
	case maildir.Check(root) != nil:
		// It may be on a disk not mounted yet, or being re-created: look
		// again soon, as well as when the settings change.
		l.mail.err = maildir.Check(root).Error() + ". Choose another folder in Settings."
		l.alarms.set(alarmMailRetry, mailRetry)
		return
	}
	m := l.e.o.NewMail(root, l.settings.Folders)
	l.e.mail.set(m)
	l.alarms.set(alarmScan, scanEvery)
	mctx, cancel := context.WithCancel(l.ctx)
	l.mail.stop = cancel
	failed, changes := l.mail.failed, l.e.changes
	l.g.Go("maildir", func(context.Context) error {
		// A failure is the loop's to handle (a warning, a retry), not
		// the engine's end: it goes to failed, not to the group.
		if err := m.Run(mctx, changes); err != nil && mctx.Err() == nil {
			select {
			case failed <- err:
			case <-mctx.Done():
			}
		}
		return nil
	})
}

// onMailFailed handles a Maildir source that stopped with an error.
func (l *loop) onMailFailed(err error) {
	l.e.log.Error("engine: the mail folder cannot be watched; trying again", "err", err)
	l.stopMail()
	l.mail.err = "The mail folder cannot be watched: " + err.Error()
	l.alarms.set(alarmMailRetry, mailRetry)
	l.publish(true)
}

// mailRetry is how often a missing or failed mail folder is looked for.
const mailRetry = 5 * time.Second

func (l *loop) stopMail() {
	if l.mail.stop != nil {
		l.mail.stop()
		l.mail.stop = nil
	}
	l.e.mail.set(nil)
}
