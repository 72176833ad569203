package engine

import (
	"context"
	"errors"
	"log/slog"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/track"
)

// Recording the deciders' results is a pipeline of stages, each with an
// explicit result: classify sorts a batch without side effects, write
// records it in the cache, and the loop applies both to its own state
// (onResults). Only classify looks at a result's error.

// sorted is what classify makes of a batch.
type sorted struct {
	// rows are written as decided, in one transaction: skips, unreadable
	// messages, and messages the CRM already holds (linked). rowsOf are
	// the results behind them, in the same order.
	rows   []cache.Message
	rowsOf []result
	// tracks are queued for upload, each with its decision.
	tracks []result
	// waiting are decided again once the CRM answers.
	waiting []agent.MessageKey
	// offline were not asked because the connection was down when their
	// decider looked; by the time the loop sees them it may be back.
	offline []agent.MessageKey
	// settling are files perhaps still being written: decided again later.
	settling []agent.MessageKey
	// lookupErr is the first failed CRM lookup that says something about
	// the connection (a revoked sign-in, an outage), for the supervisor.
	lookupErr error
}

// classify sorts a batch of results. known are the activities relearned
// after a cache rebuild (nil if none): relearning may have finished while
// a message was being decided.
func classify(batch []result, known *knownSet, log *slog.Logger) sorted {
	var s sorted
	for i := range batch {
		r := &batch[i]
		if r.err != nil {
			switch {
			case errors.Is(r.err, errOffline):
				s.offline = append(s.offline, r.key)
				continue
			case errors.Is(r.err, errKnown):
				continue
			case errors.Is(r.err, maildir.ErrSettling):
				// Written straight into new/ and read too early: look
				// again once the writer is done, rather than call it
				// unreadable.
				s.settling = append(s.settling, r.key)
				continue
			}
			log.Warn("engine: message could not be decided", "key", string(r.key), "err", r.err)
			if !errors.Is(r.err, errUnreadable) {
				// A lookup failed (the CRM went away mid-decision):
				// decide again when the connection is back.
				s.waiting = append(s.waiting, r.key)
				if s.lookupErr == nil && (errors.Is(r.err, crm.ErrUnauthorized) || crm.IsTemporary(r.err)) {
					s.lookupErr = r.err
				}
				continue
			}
		}
		if known != nil && r.known == nil && r.err == nil && r.hash != nil {
			if info, ok := (*known)[string(r.hash)]; ok {
				r.known, r.owned = &info, true
				r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonAlreadyTracked}
			}
		}
		switch {
		case r.known != nil, r.err != nil, r.decision.Action == track.Skip:
			s.rows = append(s.rows, r.message())
			s.rowsOf = append(s.rowsOf, *r)
		default:
			// Track, and Link when the CRM did not say which activity it
			// holds: the upload finds it by Message-ID and links to it.
			s.tracks = append(s.tracks, *r)
		}
	}
	return s
}

// written is what the write stage did.
type written struct {
	shown  []result           // written now: to show
	retry  []agent.MessageKey // not written: decide again
	err    error              // the last write that failed
	queued int                // tracks queued in the outbox
}

// write records a sorted batch: each track together with its queued
// action, the rows in one transaction. A row the cache already has (the
// user acted while the message was being decided) is left as it is.
func write(ctx context.Context, store *cache.Store, s sorted) written {
	var w written
	for _, r := range s.tracks {
		_, queued, err := store.DecideNew(ctx, r.message(), actionTrack(r.key, nil))
		switch {
		case err != nil:
			w.err = err
			w.retry = append(w.retry, r.key)
		case queued:
			w.queued++
			w.shown = append(w.shown, r)
		}
	}
	if len(s.rows) == 0 {
		return w
	}
	kept, err := store.PutMessages(ctx, s.rows, true)
	if err != nil {
		w.err = err
		for _, m := range s.rows {
			w.retry = append(w.retry, m.Key)
		}
		return w
	}
	skip := map[agent.MessageKey]bool{}
	for _, k := range kept {
		skip[k] = true
	}
	for _, r := range s.rowsOf {
		if !skip[r.key] {
			w.shown = append(w.shown, r)
		}
	}
	return w
}

// onResults records a batch of decisions and applies what the stages
// found to the loop's state.
func (l *loop) onResults(batch []result) {
	ctx := l.ctx
	for i := range batch {
		delete(l.queued, batch[i].key)
		if d := batch[i].disclosed; d.Purpose != "" {
			l.disclose(d)
		}
	}
	s := classify(batch, l.e.known.Load(), l.e.log)
	for _, k := range s.waiting {
		l.waiting[k] = true
	}
	// A decider may have found the connection down just before the loop
	// saw it come back and redecided what was waiting: such a message
	// would wait for the next reconnection, which may never come. Ask
	// again now if the connection is up.
	for _, k := range s.offline {
		if l.online {
			l.requeue(map[agent.MessageKey]bool{k: true})
		} else {
			l.waiting[k] = true
		}
	}
	if len(s.settling) > 0 {
		if l.settling == nil {
			l.settling = map[agent.MessageKey]bool{}
		}
		for _, k := range s.settling {
			l.settling[k] = true
		}
		l.alarms.setIfIdle(alarmSettle, maildir.SettleTime)
	}
	w := write(ctx, l.e.o.Store, s)
	for _, k := range w.retry {
		l.waiting[k] = true
	}
	if w.err != nil {
		l.e.log.Error("engine: recording decisions failed", "err", w.err)
		l.storeFailed(w.err)
	} else if len(s.rows) > 0 || len(s.tracks) > 0 {
		l.storeOK()
	}
	if w.queued > 0 {
		l.e.box.Kick()
		l.refreshPending()
	}
	for _, r := range w.shown {
		text := r.decision.Text()
		l.setText(r.key, text)
		l.e.publishItem(itemOf(r.message(), r.env, text))
	}
	if s.lookupErr != nil {
		// A revoked sign-in or an outage met by a decision moves the
		// connection state at once, as one met by the outbox does.
		l.e.conn.Report(ctx, s.lookupErr)
	}
	l.afterBatch()
}
