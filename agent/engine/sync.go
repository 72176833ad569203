package engine

import (
	"context"

	"crmsync/agent"
	"crmsync/agent/track"
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

// relearnRetry is the wait before asking the CRM again after relearning
// failed.
const relearnRetry = 2 * time.Second

// syncResult is what one reconciliation learned, IDs only.
type syncResult struct {
	gone  []string           // activities deleted in the CRM
	found []crm.ActivityInfo // activities still there, MessageID replaced by its hash
	err   error
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
			in.MessageID = string(store.HashMessageID(in.MessageID))
			r.found = append(r.found, in)
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
	relinked := 0
	for _, in := range r.found {
		m, ok, err := l.e.o.Store.MessageByHash(ctx, []byte(in.MessageID))
		if err != nil || !ok || m.ActivityID != string(in.ID) || sameRef(m.Regarding, in.Regarding) {
			continue
		}
		m.Regarding = in.Regarding
		if l.e.o.Store.PutMessage(ctx, m) == nil {
			relinked++
		}
	}
	if relinked > 0 {
		l.e.log.Info("engine: regarding links changed in the CRM were applied", "count", relinked)
	}
	l.e.mu.Lock()
	l.e.status.LastSuccess = l.e.clock.Now()
	l.e.mu.Unlock()
}

// relearn rebuilds the IDs of a cache that had to be recreated: it asks
// the CRM for the user's own tracked activities (IDs and Message-IDs; the
// Message-IDs are hashed at once and dropped) and links the messages that
// carry them, now and as the scan reaches them.
func (l *loop) relearn(ctx context.Context) {
	c := l.e.sess.get()
	if c == nil || l.userID == "" {
		return
	}
	userID := l.userID
	nctx, cancel := l.e.withNet(ctx)
	go func() {
		defer cancel()
		infos, err := c.OwnedActivities(nctx, userID, 500)
		if err != nil {
			l.e.log.Info("engine: relearning tracked messages from the CRM failed; trying again", "err", err)
			// Try again once the connection is back (or still there).
			t, c := l.e.clock.NewTimer(relearnRetry)
			defer t.Stop()
			select {
			case <-c:
			case <-ctx.Done():
				return
			}
			l.e.do(ctx, func(l *loop) {
				if l.online {
					l.relearn(ctx)
				} else {
					l.relearned = false
				}
			})
			return
		}
		known := make(map[string]crm.ActivityInfo, len(infos))
		for _, in := range infos {
			if h := l.e.o.Store.HashMessageID(in.MessageID); h != nil {
				in.MessageID = ""
				known[string(h)] = in
			}
		}
		// The store work uses ctx, not nctx: the connection may drop
		// meanwhile, but what was learned is still true.
		l.e.do(ctx, func(l *loop) {
			l.e.mu.Lock()
			l.e.known = known
			l.e.mu.Unlock()
			linked := 0
			for h, in := range known {
				m, ok, err := l.e.o.Store.MessageByHash(ctx, []byte(h))
				if err != nil || !ok || m.ActivityID != "" || m.State == agent.Pending {
					continue
				}
				m.State, m.ActivityID, m.OwnedByMe, m.Regarding = agent.Tracked, string(in.ID), true, in.Regarding
				m.Reason = int(track.ReasonAlreadyTracked)
				if l.e.o.Store.PutMessage(ctx, m) == nil {
					linked++
				}
			}
			l.e.log.Info("engine: relearned tracked messages from the CRM after a cache rebuild", "activities", len(known), "linked now", linked)
		})
	}()
}

func sameRef(a, b *agent.RecordRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Entity == b.Entity && a.ID == b.ID
}
