package imap

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// watcher keeps one mailbox in IDLE on a connection of its own and says
// when the server reports a change there. It never fetches: the command
// connection does, so IDLE is never interrupted for more than a renewal.
type watcher struct {
	name   string
	dirty  atomic.Bool // set on EXISTS, EXPUNGE and every (re)connection
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
}

// stop ends the watcher without waiting for it; watchers.stopAll waits.
func (x *watcher) stop() { x.cancel() }

// notify marks the mailbox changed and wakes Run's loop. It runs on the
// client's reading goroutine, so it must not block.
func (x *watcher) notify(w *watchers) {
	x.dirty.Store(true)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run keeps the watcher's connection up, reconnecting with backoff,
// until ctx ends. A refused login goes to w.errs: Run ends then.
func (x *watcher) run(ctx context.Context, w *watchers) {
	defer close(x.done)
	var bo backoff
	for {
		idled, err := x.idle(ctx, w)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrLogin) || errors.Is(err, ErrTLS) {
			select {
			case w.errs <- err:
			default:
			}
			return
		}
		if idled {
			bo.reset()
		}
		wait := bo.next()
		w.s.log.Debug("imap: IDLE connection lost; reconnecting", "in", wait.Round(time.Millisecond), "err", logErr(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// idle connects, selects the mailbox read-only and stays in IDLE,
// renewing it every IdleRestart, until the connection drops or ctx ends.
// idled reports whether it got as far as IDLE.
func (x *watcher) idle(ctx context.Context, w *watchers) (idled bool, err error) {
	handler := &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				x.notify(w)
			}
		},
		Expunge: func(uint32) { x.notify(w) },
	}
	c, err := w.s.dialer().connect(ctx, handler)
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Select(x.name, &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, err
	}
	// Whatever happened while this connection was away is looked at now.
	x.notify(w)
	for {
		cmd, err := c.Idle()
		if err != nil {
			return idled, err
		}
		idled = true
		w.s.idles.Add(1)
		t := time.NewTimer(w.s.o.IdleRestart)
		select {
		case <-ctx.Done():
			t.Stop()
			cmd.Close()
			w.s.idles.Add(-1)
			return true, nil
		case <-c.Closed():
			t.Stop()
			w.s.idles.Add(-1)
			return true, errors.New("the server closed the IDLE connection")
		case <-t.C:
		}
		w.s.idles.Add(-1)
		if err := cmd.Close(); err != nil {
			return true, err
		}
		if err := cmd.Wait(); err != nil {
			return true, err
		}
	}
}
