package engine

import (
	"context"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/sched"
	"crmsync/agent/track"
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
	// repaired counts the user's activities found open and completed.
	repaired int
	err      error
}

// syncState is the loop's part about reconciliation.
type syncState struct {
	running   bool            // a reconciliation is under way
	done      chan syncResult // its result; buffered, one at a time
	arrivals  int             // messages that arrived since the interval was last chosen
	lastBusy  time.Time       // when mail last arrived
	last      time.Time       // when a reconciliation last succeeded
	relearned bool            // the IDs of a rebuilt cache were asked of the CRM
}

func (l *loop) armSync() {
	d := syncInterval(l.sync.arrivals, l.sync.lastBusy, l.e.clock.Now())
	l.sync.arrivals = 0
	l.alarms.set(alarmSync, sched.Jitter(d, 0.05))
}

// startSync reconciles the cache with the CRM on a goroutine of the
// group: it asks for the tracked activity IDs and learns which were
// deleted by others.
func (l *loop) startSync() {
	if l.sync.running || !l.online {
		l.armSync()
		return
	}
	c := l.e.sess.get()
	if c == nil {
		l.armSync()
		return
	}
	l.sync.running = true
	l.e.conn.ProbeNow(l.ctx) // the privilege is checked on each sync, too
	l.refreshRules()         // rules made on another computer arrive with the sync
	store, done, e, user := l.e.o.Store, l.sync.done, l.e, l.userID
	l.g.Go("sync", func(ctx context.Context) error {
		nctx, cancel := e.withNet(ctx)
		defer cancel()
		r := reconcile(nctx, store, c, user)
		select {
		case done <- r:
		case <-ctx.Done():
		}
		return nil
	})
}

// reconcile asks the CRM which of the cache's activities still exist, and
// completes those of the user's that were left open: an older version
// created an email and marked it completed in two requests, and a crash
// between them left it open for good.
func reconcile(ctx context.Context, store *cache.Store, c *crm.HTTPClient, user string) syncResult {
	ids, err := store.TrackedActivityIDs(ctx)
	if err != nil {
		return syncResult{err: err}
	}
	want := make([]crm.ActivityID, len(ids))
	for i, id := range ids {
		want[i] = crm.ActivityID(id)
	}
	infos, err := c.Activities(ctx, want, 500)
	if err != nil {
		return syncResult{err: err}
	}
	var r syncResult
	have := make(map[string]bool, len(infos))
	for _, in := range infos {
		have[string(in.ID)] = true
		if in.Open && user != "" && in.OwnerID == user {
			if err := c.CompleteEmail(ctx, in.ID, in.Outgoing); err != nil {
				return syncResult{err: err}
			}
			r.repaired++
		}
		in.MessageID = string(store.HashMessageID(in.MessageID))
		r.found = append(r.found, in)
	}
	for _, id := range ids {
		if !have[id] {
			r.gone = append(r.gone, id)
		}
	}
	return r
}

func (l *loop) onSync(r syncResult) {
	ctx := l.ctx
	l.sync.running = false
	l.armSync()
	if r.err != nil {
		l.e.log.Info("engine: reconciliation failed; will retry", "err", r.err)
		l.e.conn.Report(ctx, r.err)
		return
	}
	// Each sync also collects the email the CRM waits for crmsync to send.
	if w := l.e.sender.Load(); w != nil {
		w.Trigger()
	}
	for _, id := range r.gone {
		// The user sees why the message is no longer tracked.
		keys, err := l.e.o.Store.ForgetActivity(ctx, id, int(track.ReasonDeletedInCRM))
		if err != nil {
			l.e.log.Error("engine: forgetting a deleted activity failed", "err", err)
		}
		for _, k := range keys {
			delete(l.texts, k) // the last outcome's text is no longer the news
			if m, ok, err := l.e.o.Store.Message(ctx, k); err == nil && ok {
				env, _ := l.e.mail.Envelope(k)
				l.e.publishItem(itemOf(m, env, ""))
			}
		}
	}
	if r.repaired > 0 {
		l.e.log.Info("engine: activities left open were completed", "count", r.repaired)
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
	l.sync.last = l.e.clock.Now()
	l.publish(true)
}

// relearn rebuilds the IDs of a cache that had to be recreated, on a
// goroutine of the group: it asks the CRM for the user's own tracked
// activities (IDs and Message-IDs; the Message-IDs are hashed at once and
// dropped) and links the messages that carry them, now and as the scan
// reaches them.
func (l *loop) relearn() {
	c := l.e.sess.get()
	if c == nil || l.userID == "" {
		return
	}
	userID, store, e := l.userID, l.e.o.Store, l.e
	l.g.Go("relearn", func(ctx context.Context) error {
		nctx, cancel := e.withNet(ctx)
		defer cancel()
		infos, err := c.OwnedActivities(nctx, userID, 500)
		if err != nil {
			e.log.Info("engine: relearning tracked messages from the CRM failed; trying again", "err", err)
			// Try again once the connection is back (or still there).
			t, tc := e.clock.NewTimer(relearnRetry)
			defer t.Stop()
			select {
			case <-tc:
			case <-ctx.Done():
				return nil
			}
			e.do(ctx, func(l *loop) {
				if l.online {
					l.relearn()
				} else {
					l.sync.relearned = false
				}
			})
			return nil
		}
		known := make(knownSet, len(infos))
		for _, in := range infos {
			if h := store.HashMessageID(in.MessageID); h != nil {
				in.MessageID = ""
				known[string(h)] = in
			}
		}
		// The store work uses ctx, not nctx: the connection may drop
		// meanwhile, but what was learned is still true.
		e.do(ctx, func(l *loop) { l.learned(known) })
		return nil
	})
}

// learned publishes what relearning found and links the messages the
// cache already has.
func (l *loop) learned(known knownSet) {
	ctx := l.ctx
	l.e.known.Store(&known)
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
}

func sameRef(a, b *agent.RecordRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Entity == b.Entity && a.ID == b.ID
}
