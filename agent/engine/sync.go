package engine

import (
	"context"
	"time"

	"crmsync/agent/crm"
	"crmsync/agent/sched"
)

// The reconciliation intervals, as server-side sync adapts them: busy
// mailboxes every 2 minutes, normal every 5, quiet every 12, never longer.
const (
	syncBusy   = 2 * time.Minute
	syncNormal = 5 * time.Minute
	syncQuiet  = 12 * time.Minute
	// busyArrivals is how many arrivals in one interval make a mailbox busy.
	busyArrivals = 10
	// quietAfter is how long without mail makes a mailbox quiet.
	quietAfter = 30 * time.Minute
)

// syncInterval picks the next reconciliation interval from recent mail.
func syncInterval(arrivals int, lastBusy, now time.Time) time.Duration {
	switch {
	case arrivals >= busyArrivals:
		return syncBusy
	case lastBusy.IsZero() || now.Sub(lastBusy) >= quietAfter:
		return syncQuiet
	}
	return syncNormal
}

// syncResult is what one reconciliation learned, IDs only.
type syncResult struct {
	gone []string // activities deleted in the CRM
	err  error
}

func (l *loop) armSync() {
	if l.syncTimer != nil {
		l.syncTimer.Stop()
	}
	d := syncInterval(l.arrivals, l.lastBusy, l.e.clock.Now())
	l.arrivals = 0
	l.syncTimer, l.syncC = l.e.clock.NewTimer(sched.Jitter(d, 0.05))
}

// startSync reconciles the cache with the CRM in the background: it asks
// for the tracked activity IDs and learns which were deleted by others.
func (l *loop) startSync(ctx context.Context) {
	if l.syncing || !l.online {
		l.armSync()
		return
	}
	c := l.e.sess.get()
	if c == nil {
		l.armSync()
		return
	}
	l.syncing = true
	l.e.conn.ProbeNow(ctx) // the privilege is checked on each sync, too
	store, done := l.e.o.Store, l.syncDone
	nctx, cancel := l.e.withNet(ctx)
	go func() {
		defer cancel()
		ctx := nctx
		r := syncResult{}
		ids, err := store.TrackedActivityIDs(ctx)
		if err != nil {
			r.err = err
			done <- r
			return
		}
		want := make([]crm.ActivityID, len(ids))
		for i, id := range ids {
			want[i] = crm.ActivityID(id)
		}
		infos, err := c.Activities(ctx, want, 500)
		if err != nil {
			r.err = err
			done <- r
			return
		}
		have := make(map[string]bool, len(infos))
		for _, in := range infos {
			have[string(in.ID)] = true
		}
		for _, id := range ids {
			if !have[id] {
				r.gone = append(r.gone, id)
			}
		}
		done <- r
	}()
}

func (l *loop) onSync(ctx context.Context, r syncResult) {
	l.syncing = false
	l.armSync()
	if r.err != nil {
		l.e.log.Info("engine: reconciliation failed; will retry", "err", r.err)
		l.e.conn.Report(ctx, r.err)
		return
	}
	for _, id := range r.gone {
		if err := l.e.o.Store.ForgetActivity(ctx, id); err != nil {
			l.e.log.Error("engine: forgetting a deleted activity failed", "err", err)
		}
	}
	if len(r.gone) > 0 {
		l.e.log.Info("engine: activities deleted in the CRM were unlinked", "count", len(r.gone))
	}
	l.e.mu.Lock()
	l.e.status.LastSuccess = l.e.clock.Now()
	l.e.mu.Unlock()
}
