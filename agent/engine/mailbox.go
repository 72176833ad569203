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

// startMail opens the mail folder of the settings and feeds its changes to
// the loop. A folder that is missing or not a Maildir leaves a warning in
// the status instead.
func (l *loop) startMail(ctx context.Context) {
	l.stopMail()
	l.mailErr = ""
	root := l.settings.MaildirPath
	switch {
	case root == "":
		l.mailErr = "Choose your mail folder (a Maildir) in Settings; until then no mail is tracked."
		return
	case maildir.Check(root) != nil:
		// It may be on a disk not mounted yet, or being re-created: look
		// again soon, as well as when the settings change.
		l.mailErr = maildir.Check(root).Error() + ". Choose another folder in Settings."
		l.armMailRetry()
		return
	}
	m := l.e.o.NewMail(root, l.settings.Folders)
	l.e.mail.set(m)
	if l.scanTicker != nil {
		l.scanTicker.Reset(250 * time.Millisecond)
		l.scanTick = l.scanTicker.C
	}
	mctx, cancel := context.WithCancel(ctx)
	l.mailStop = cancel
	failed := l.mailFailed
	go func() {
		if err := m.Run(mctx, l.e.changes); err != nil && mctx.Err() == nil {
			select {
			case failed <- err:
			case <-mctx.Done():
			}
		}
	}()
}

// mailRetry is how often a missing or failed mail folder is looked for.
const mailRetry = 5 * time.Second

func (l *loop) armMailRetry() {
	_, l.mailRetryC = l.e.clock.NewTimer(mailRetry)
}

func (l *loop) stopMail() {
	if l.mailStop != nil {
		l.mailStop()
		l.mailStop = nil
	}
	l.e.mail.set(nil)
}
