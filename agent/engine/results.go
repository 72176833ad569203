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
// records it in the cache (on the writer goroutine, while the loop goes on
// feeding the deciders and gathering the next batch), and the loop applies
// both to its own state (onResults) once the batch is written. Only
// classify looks at a result's error.

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
	s.rows = make([]cache.Message, 0, len(batch))
	s.rowsOf = make([]result, 0, len(batch))
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

// write records a sorted batch in one transaction: each track together
// with its queued action, and the rows. A row the cache already has (the
// user acted while the message was being decided) is left as it is.
func write(ctx context.Context, store *cache.Store, s sorted) written {
	var w written
	if len(s.tracks) == 0 && len(s.rows) == 0 {
		return w
	}
	ds := make([]cache.NewDecision, 0, len(s.tracks)+len(s.rows))
	for _, r := range s.tracks {
		a := actionTrack(r.key, nil)
		ds = append(ds, cache.NewDecision{Message: r.message(), Action: &a})
	}
	for _, m := range s.rows {
		ds = append(ds, cache.NewDecision{Message: m})
	}
	done, refused, err := store.DecideNewAll(ctx, ds)
	w.shown = make([]result, 0, len(ds))
	if err != nil {
		w.err = err
		for _, d := range ds {
			w.retry = append(w.retry, d.Message.Key)
		}
		return w
	}
	for i, d := range ds {
		switch {
		case refused != nil && refused[i] != nil:
			w.err = refused[i]
			w.retry = append(w.retry, d.Message.Key)
		case !done[i]:
			// The key has a row already: left as it is, and not shown.
		case i < len(s.tracks):
			w.queued++
			w.shown = append(w.shown, s.tracks[i])
		default:
			w.shown = append(w.shown, s.rowsOf[i-len(s.tracks)])
		}
	}
	return w
}

// inFlight is the batch the writer is writing, as the loop keeps it to
// apply once written.
type inFlight struct {
	batch []result
	s     sorted
}

// startWrite hands the results waiting to the writer, unless it is busy:
// those that arrive meanwhile make the next batch. classify runs here, on
// the loop, with the activities relearned as they are now.
func (l *loop) startWrite() {
	if l.writing != nil || len(l.decided) == 0 {
		return
	}
	batch := l.decided
	l.decided = nil
	s := classify(batch, l.e.known.Load(), l.e.log)
	if len(s.rows) == 0 && len(s.tracks) == 0 {
		l.onResults(batch, s, written{}) // nothing to write
		return
	}
	l.writing = &inFlight{batch: batch, s: s}
	// Never blocks: the writer took the previous batch before it answered.
	l.e.writes <- s
}

// onWritten applies a batch once the writer has written it, having handed
// the writer the next batch first so that it does not wait on the loop.
func (l *loop) onWritten(w written) {
	f := l.writing
	l.writing = nil
	l.startWrite()
	l.onResults(f.batch, f.s, w)
	if l.decided == nil && len(l.named) > 0 && cap(f.batch) >= maxBatch {
		// Reuse the batch's array for the next one while a backlog
		// lasts, rather than allocate one per batch; once it is done
		// the array goes.
		clear(f.batch)
		l.decided = f.batch[:0]
	}
}

// writer is the write stage: it writes the batches the loop hands it, one
// at a time, and answers with what it did. It owns nothing of the loop's
// state: a batch is the loop's until written, and only read here.
func (e *Engine) writer(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-e.writes:
			// Never blocks: the loop has one batch out at a time.
			e.wrote <- write(ctx, e.o.Store, s)
		}
	}
}

// onResults applies to the loop's state what the stages found of a batch
// of decisions, and what writing it did: a decision is shown only once it
// is written.
func (l *loop) onResults(batch []result, s sorted, w written) {
	ctx := l.ctx
	for i := range batch {
		delete(l.queued, batch[i].key)
		if d := batch[i].disclosed; d.Purpose != "" {
			l.disclose(d)
		}
	}
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
