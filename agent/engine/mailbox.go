package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
)

// mailbox is the engine's current mail source. Changing the mail account
// in the settings swaps the source underneath; the deciders, the outbox and the
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

// setLive sets m unless ctx, the life of m's source, has already ended:
// a source stopped while it was being opened must not replace the next.
// stopMail cancels first and clears after, so under the lock either this
// sees the cancellation or the clear comes after it.
func (b *mailbox) setLive(ctx context.Context, m Mail) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	b.m = m
	return true
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

// mailState is the loop's part about the mail account.
type mailState struct {
	stop   context.CancelFunc // stops the current source; nil if none
	err    string             // why no mail is watched; "" when it is
	failed chan error         // the current source stopped with an error
	// name is the account being watched, for the status line: an IMAP
	// URL or the Maildir's path. Memory only.
	name string
}

// startMail opens the mail account of the settings (an IMAP account, or
// else the Maildir) and feeds its changes to the loop, on a goroutine of
// the group. A Maildir that is missing or an account that cannot be
// opened leaves a warning in the status instead.
func (l *loop) startMail() {
	l.stopMail()
	l.mail.err, l.mail.name = "", ""
	if a := l.settings.IMAP; !a.IsZero() {
		l.startIMAP(a)
		return
	}
	root := l.settings.MaildirPath
	switch {
	case root == "":
		l.mail.err = "Choose your mail account (a Maildir folder or an IMAP account) in Settings; until then no mail is tracked."
		return
	case maildir.Check(root) != nil:
		// It may be on a disk not mounted yet, or being re-created: look
		// again soon, as well as when the settings change.
		l.mail.err = maildir.Check(root).Error() + ". Choose another folder in Settings."
		l.alarms.set(alarmMailRetry, mailRetry)
		return
	}
	l.mail.name = root
	folders := slices.Clone(l.settings.Folders)
	for _, f := range l.mappedFolders() {
		// A mapped Maildir++ folder is watched like the inbox; one that
		// does not exist here (a rule made on another computer, for an
		// IMAP folder) is left alone.
		if strings.HasPrefix(f, ".") && !slices.Contains(folders, f) && maildir.Check(filepath.Join(root, f)) == nil {
			folders = append(folders, f)
		}
	}
	m := l.e.o.NewMail(root, folders)
	l.e.mail.set(m) // at once: the status reads the scan's progress from it
	l.runMail("maildir", func(context.Context) (Mail, error) { return m, nil })
}

// startIMAP opens the IMAP account a. The password is read from the
// keychain and the source built on the goroutine, not on the loop: the
// keychain may take seconds to answer.
func (l *loop) startIMAP(a agent.IMAPAccount) {
	l.mail.name = a.URL()
	spec := imap.Options{Account: a, Salt: l.e.o.Store.KeySalt(), Folders: l.mappedFolders(),
		Since: l.e.clock.Now().Add(-l.e.o.Lookback), Logger: l.e.log}
	e := l.e
	l.runMail("imap", func(ctx context.Context) (Mail, error) {
		pw, err := e.mailPassword(ctx, a)
		if err != nil {
			return nil, err
		}
		spec.Password = pw
		return e.o.NewIMAP(spec)
	})
}

// runMail runs the source open returns until the next startMail or
// stopMail, on a goroutine of the group. The source becomes the engine's
// only if it is still wanted once opened. A failure, to open or later, is
// the loop's to handle (a warning, a retry), not the engine's end: it goes
// to the failed channel, not to the group.
func (l *loop) runMail(name string, open func(ctx context.Context) (Mail, error)) {
	l.alarms.set(alarmScan, scanEvery)
	mctx, cancel := context.WithCancel(l.ctx)
	l.mail.stop = cancel
	failed, changes, box := l.mail.failed, l.e.changes, l.e.mail
	l.g.Go(name, func(context.Context) error {
		err := func() error {
			m, err := open(mctx)
			if err != nil || !box.setLive(mctx, m) {
				return err
			}
			return m.Run(mctx, changes)
		}()
		if err != nil && mctx.Err() == nil {
			select {
			case failed <- err:
			case <-mctx.Done():
			}
		}
		return nil
	})
}

// errNoMailPassword says the keychain holds no password for the account.
var errNoMailPassword = errors.New("no password is saved for this mail account")

// mailPassword returns a's password: the one given for this session, or
// the keychain's.
func (e *Engine) mailPassword(ctx context.Context, a agent.IMAPAccount) (string, error) {
	return e.accountPassword(ctx, a.URL(), errNoMailPassword)
}

// accountPassword returns the password the keychain (or this session)
// holds for an account of the user's, by its key; none saved is missing.
func (e *Engine) accountPassword(ctx context.Context, key string, missing error) (string, error) {
	if e.o.Passwords == nil {
		return "", missing
	}
	pw, err := e.o.Passwords.MailPassword(ctx, key)
	if errors.Is(err, agent.ErrNoCredentials) || (err == nil && pw == "") {
		return "", missing
	}
	return pw, err
}

// onMailFailed handles a mail source that stopped with an error: a
// network failure is retried soon; a refused password or a missing one
// waits for the user (retrying a refused login every few seconds can
// lock the account).
func (l *loop) onMailFailed(err error) {
	l.e.log.Error("engine: the mail account cannot be watched", "err", err)
	l.stopMail() // the account's name stays, for the status line
	switch {
	case errors.Is(err, errNoMailPassword):
		l.mail.err = "Enter the password of " + l.settings.IMAP.URL() + " in Settings, Mail account; until then no mail is tracked."
	case errors.Is(err, imap.ErrTLS):
		l.mail.err = "The secure connection to " + l.settings.IMAP.Addr() + " failed: " + err.Error() +
			". Check the server, port and security in Settings, Mail account (and the CA file for a private certificate authority); crmsync tries again in 5 minutes."
		l.alarms.set(alarmMailRetry, loginRetry)
	case errors.Is(err, imap.ErrLogin):
		l.mail.err = "The mail server refused the user name or password of " + l.settings.IMAP.URL() +
			". Correct them in Settings, Mail account; crmsync tries again in 5 minutes."
		l.alarms.set(alarmMailRetry, loginRetry)
	default:
		l.mail.err = "The mail account cannot be watched: " + err.Error() + ". crmsync tries again shortly."
		l.alarms.set(alarmMailRetry, mailRetry)
	}
	l.publish(true)
}

// loginRetry is how long a refused mail login waits before the next try.
const loginRetry = 5 * time.Minute

// mailRetry is how often a missing or failed mail folder is looked for.
const mailRetry = 5 * time.Second

func (l *loop) stopMail() {
	if l.mail.stop != nil {
		l.mail.stop()
		l.mail.stop = nil
	}
	l.e.mail.set(nil)
}
