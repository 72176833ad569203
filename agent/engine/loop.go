package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/conn"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
	"crmsync/agent/track"
)

// loop is the state owned by Run's goroutine.
type loop struct {
	e        *Engine
	ctx      context.Context // Run's context, for work started by commands
	settings agent.Settings
	fatal    <-chan error

	conn    conn.Status // the supervisor's last report
	online  bool        // conn.State == Online
	userID  string      // the signed-in user's GUID, once known
	self    string      // the signed-in user's address, lower case
	name    string      // the signed-in user's CRM display name, once fetched
	backlog []job       // messages waiting for a decider
	queued  map[agent.MessageKey]bool
	waiting map[agent.MessageKey]bool // undecided until the CRM answers

	arrivals   int       // messages that arrived since the last sync
	lastBusy   time.Time // when mail last arrived
	syncTimer  interface{ Stop() bool }
	syncC      <-chan time.Time
	syncing    bool
	syncDone   chan syncResult
	scanTick   <-chan time.Time // nil once the scan is done: an idle agent does not wake up for it
	scanTicker *time.Ticker
	lastScan   [2]int
	relearned  bool // the IDs of a rebuilt cache were asked of the CRM
	burst      int  // messages queued since the backlog was last empty
	sent       int  // messages uploaded since the outbox was last empty

	mailStop    context.CancelFunc        // stops the current Maildir source; nil if none
	mailErr     string                    // why no mail is watched; "" when it is
	mailFailed  chan error                // the Maildir source stopped with an error
	mailRetryC  <-chan time.Time          // fires to look for a missing mail folder again
	storeErr    string                    // why decisions cannot be saved; "" when they can
	storeRetryC <-chan time.Time          // fires to decide the waiting messages again after a save failed
	settling    map[agent.MessageKey]bool // files that may still be being written
	settleC     <-chan time.Time          // fires to decide the settling messages again
	releaseC    <-chan time.Time          // fires to hand back memory if mail has been quiet since a tracking burst
}

func (l *loop) run(ctx context.Context) error {
	l.ctx = ctx
	l.syncDone = make(chan syncResult, 1)
	l.publishStatus(ctx)
	l.armSync()
	l.scanTicker = time.NewTicker(250 * time.Millisecond) // scan progress, coalesced
	defer l.scanTicker.Stop()
	l.scanTick = l.scanTicker.C
	for {
		var work chan job
		var next job
		if len(l.backlog) > 0 {
			work, next = l.e.work, l.backlog[0]
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-l.fatal:
			return err
		case fn := <-l.e.cmds:
			fn(l)
		case c := <-l.e.changes:
			l.onChange(ctx, c)
		case work <- next:
			l.backlog = l.backlog[1:]
			if len(l.backlog) == 0 {
				l.backlog = nil // let the backing array go after a big scan
			}
		case r := <-l.e.results:
			l.onResults(ctx, l.drainResults(r))
		case s := <-l.e.connC:
			l.onConn(ctx, s)
		case o := <-l.e.outC:
			l.onOutcome(ctx, o)
		case <-l.syncC:
			l.syncC = nil
			l.startSync(ctx)
		case r := <-l.syncDone:
			l.onSync(ctx, r)
		case <-l.scanTick:
			l.publishScan()
		case err := <-l.mailFailed:
			l.e.log.Error("engine: the mail folder cannot be watched; trying again", "err", err)
			l.stopMail()
			l.mailErr = "The mail folder cannot be watched: " + err.Error()
			l.armMailRetry()
			l.publishStatus(ctx)
		case <-l.mailRetryC:
			l.mailRetryC = nil
			l.startMail(ctx)
			l.publishStatus(ctx)
		case <-l.storeRetryC:
			l.storeRetryC = nil
			l.redecide()
		case <-l.settleC:
			l.settleC = nil
			l.requeue(l.settling)
			l.settling = nil
		case <-l.releaseC:
			l.releaseC = nil
			if len(l.queued) == 0 && len(l.backlog) == 0 && l.e.clock.Now().Sub(l.lastBusy) >= releaseAfter {
				go l.e.releaseMemory()
			}
		}
	}
}

// onChange queues new messages for a decision.
func (l *loop) onChange(ctx context.Context, c maildir.Change) {
	switch c.Kind {
	case maildir.Unavailable:
		l.mailErr = "The mail folder " + l.settings.MaildirPath + " is gone: moved, deleted, or its disk unmounted. " +
			"Mail that arrives there is tracked once it is back."
		l.publishStatus(ctx)
		return
	case maildir.Available:
		l.mailErr = ""
		l.publishStatus(ctx)
		return
	}
	if c.Kind != maildir.Added {
		return // a move or flag change is the same message; removal keeps its IDs
	}
	if l.queued[c.Key] {
		return
	}
	l.queued[c.Key] = true
	l.backlog = append(l.backlog, job{key: c.Key, folder: c.Folder})
	l.burst++
	l.arrivals++
	l.lastBusy = l.e.clock.Now()
}

// maxBatch bounds how many decisions are written in one transaction.
const maxBatch = 512

// drainResults collects the results already waiting, so that a backlog is
// written in few transactions rather than one sync per message.
func (l *loop) drainResults(first result) []result {
	batch := []result{first}
	for len(batch) < maxBatch {
		select {
		case r := <-l.e.results:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// onResults records decisions: skips in one transaction, each track
// together with its queued action.
func (l *loop) onResults(ctx context.Context, batch []result) {
	var skips []cache.Message
	var shown []result
	var lookupErr error // the first failed CRM lookup, for the connection supervisor
	defer func() {
		if lookupErr != nil {
			// A revoked sign-in or an outage met by a decision moves the
			// connection state at once, as one met by the outbox does.
			l.e.conn.Report(ctx, lookupErr)
		}
	}()
	for _, r := range batch {
		delete(l.queued, r.key)
		if r.err != nil {
			if errors.Is(r.err, errOffline) {
				l.waiting[r.key] = true
				continue
			}
			if errors.Is(r.err, errKnown) {
				continue
			}
			if errors.Is(r.err, maildir.ErrSettling) {
				// Written straight into new/ and read too early: look again
				// once the writer is done, rather than call it unreadable.
				if l.settling == nil {
					l.settling = map[agent.MessageKey]bool{}
				}
				l.settling[r.key] = true
				if l.settleC == nil {
					_, l.settleC = l.e.clock.NewTimer(maildir.SettleTime)
				}
				continue
			}
			l.e.log.Warn("engine: message could not be decided", "key", string(r.key), "err", r.err)
			if !errors.Is(r.err, errUnreadable) {
				// A lookup failed (the CRM went away mid-decision): decide
				// again when the connection is back.
				l.waiting[r.key] = true
				if lookupErr == nil && (errors.Is(r.err, crm.ErrUnauthorized) || crm.IsTemporary(r.err)) {
					lookupErr = r.err
				}
				continue
			}
		}
		// Relearning after a cache rebuild may have finished while this
		// message was being decided.
		if info, ok := l.e.knownActivity(r.hash); ok && r.known == nil && r.err == nil {
			r.known = &info
			r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonAlreadyTracked}
		}
		if r.decision.Action == track.Skip || r.err != nil {
			skips = append(skips, r.message())
			shown = append(shown, r)
			continue
		}
		// The user may have acted on the message while it was being
		// decided; their choice stands.
		_, queued, err := l.e.o.Store.DecideNew(ctx, r.message(), actionTrack(r.key, nil))
		if err != nil {
			l.e.log.Error("engine: queueing a track failed", "err", err)
			l.waiting[r.key] = true
			l.storeFailed(ctx, err)
			continue
		}
		l.storeOK(ctx)
		if !queued {
			continue
		}
		l.e.box.Kick()
		shown = append(shown, r)
	}
	defer l.afterBurst()
	kept := map[agent.MessageKey]bool{}
	if len(skips) > 0 {
		k, err := l.e.o.Store.PutMessages(ctx, skips, true)
		if err != nil {
			l.e.log.Error("engine: recording decisions failed", "err", err)
			for _, m := range skips {
				l.waiting[m.Key] = true
			}
			l.storeFailed(ctx, err)
			return
		}
		l.storeOK(ctx)
		for _, key := range k {
			kept[key] = true
		}
	}
	if len(skips) < len(batch) {
		l.refreshPending(ctx)
	}
	for _, r := range shown {
		if kept[r.key] {
			continue
		}
		text := r.decision.Text()
		l.e.setText(r.key, text)
		l.e.publishItem(itemOf(r.message(), r.env, text))
	}
}

// onConn applies a connection report: the outbox and the decisions that
// need the CRM run only while online.
func (l *loop) onConn(ctx context.Context, s conn.Status) {
	l.conn = s
	wasOnline := l.online
	l.online = s.State == agent.StateOnline
	l.e.mu.Lock()
	l.e.connErr = s.Err
	l.e.mu.Unlock()
	if l.online != wasOnline {
		l.e.mu.Lock()
		if l.online {
			l.e.netCtx, l.e.netStop = context.WithCancel(ctx)
		} else {
			l.e.netStop()
		}
		l.e.mu.Unlock()
	}
	if s.UserID != "" && s.UserID != l.userID {
		l.userID = s.UserID
		l.fetchName(ctx, s.UserID)
	}
	if l.online {
		l.e.box.Resume(l.userID)
		if !wasOnline {
			l.redecide()
			if l.e.o.Store.Rebuilt() && !l.relearned {
				l.relearned = true
				l.relearn(ctx)
			}
		}
	} else {
		l.e.box.Pause()
	}
	l.publishStatus(ctx)
	switch s.State {
	case agent.StateNeedsSignIn:
		if s.Err != nil {
			l.e.publishNotice("Sign in again", "The CRM no longer accepts your sign-in. Queued work waits until you sign in.")
		}
	case agent.StateNotPermitted:
		l.e.publishNotice("Not permitted to sync", conn.ErrNotPermitted.Error()+".")
	}
}

// storeRetry is how often messages whose decision could not be saved
// (a full disk, a data folder made read-only) are decided again.
const storeRetry = 10 * time.Second

// storeFailed tells the user that decisions cannot be saved, and why, and
// arranges for the waiting messages to be decided again: nothing is lost,
// since the mail stays in the Maildir until its decision is saved.
func (l *loop) storeFailed(ctx context.Context, err error) {
	why := "the data folder cannot be written"
	switch {
	case errors.Is(err, cache.ErrDiskFull):
		why = "the disk is full"
	case errors.Is(err, cache.ErrNoAccess):
		why = "the data folder or its cache file is not writable"
	}
	text := fmt.Sprintf("Decisions cannot be saved: %s. Free some disk space or fix the folder's permissions; "+
		"waiting messages are decided again every %d seconds.", why, int(storeRetry/time.Second))
	if l.storeRetryC == nil {
		_, l.storeRetryC = l.e.clock.NewTimer(storeRetry)
	}
	if text != l.storeErr {
		l.storeErr = text
		l.publishStatus(ctx)
	}
}

// storeOK clears the warning of storeFailed once a decision is saved.
func (l *loop) storeOK(ctx context.Context) {
	if l.storeErr != "" {
		l.storeErr = ""
		l.publishStatus(ctx)
	}
}

// redecide puts the messages that waited for the CRM back in the backlog.
func (l *loop) redecide() { l.requeue(l.waiting) }

// requeue moves keys into the backlog, skipping those gone from the
// Maildir or already queued.
func (l *loop) requeue(keys map[agent.MessageKey]bool) {
	for k := range keys {
		folder, ok := l.e.mail.Folder(k)
		delete(keys, k)
		if !ok || l.queued[k] {
			continue
		}
		l.queued[k] = true
		l.backlog = append(l.backlog, job{key: k, folder: folder})
	}
}

// onOutcome shows what became of an action.
func (l *loop) onOutcome(ctx context.Context, o outbox.Outcome) {
	l.refreshPending(ctx)
	if o.Final && o.Sent != nil {
		l.sent++
	}
	if o.Final && o.Err == nil && o.Sent != nil {
		l.e.disclose(agent.Disclosure{Key: o.Action.Key, Purpose: "tracked message", Fields: o.Sent, BodySent: true})
	}
	if !o.Final {
		return
	}
	text := o.Text
	if text == "" && o.Err == nil {
		text = track.Reason(o.Message.Reason).String()
	}
	l.e.setText(o.Action.Key, text)
	m := o.Message
	var env maildir.Envelope
	if o.Envelope != nil {
		env = *o.Envelope
	} else {
		env, _ = l.e.mail.Envelope(o.Action.Key)
	}
	l.e.publishItem(itemOf(m, env, text))
	if o.Err != nil && o.Action.Kind == cache.ActionTrack {
		l.e.publishNotice("Tracking failed", text)
	}
}

func (l *loop) refreshPending(ctx context.Context) {
	n, err := l.e.o.Store.Pending(ctx)
	if err != nil {
		return
	}
	if n == 0 && l.sent >= bigSend {
		// A burst of tracking read whole messages; hand that memory back
		// now rather than keep it resident while idle.
		l.sent = 0
		// Only once mail has been quiet a while: while it flows, a forced
		// collection would pause the decisions in flight, and reopening
		// a cache connection would cost each decision a read's latency.
		if l.releaseC == nil {
			_, l.releaseC = l.e.clock.NewTimer(releaseAfter)
		}
	}
	l.e.mu.Lock()
	changed := l.e.status.Pending != n
	l.e.status.Pending = n
	l.e.mu.Unlock()
	if changed {
		l.e.publishStatusSnapshot()
	}
}

// publishStatus derives the agent status from the facts.
func (l *loop) publishStatus(ctx context.Context) {
	st := agent.Status{
		State:       l.conn.State,
		Since:       l.conn.Since,
		LastSuccess: l.conn.LastSuccess,
		NextRetry:   l.conn.NextRetry,
		User:        l.name,
	}
	if st.User == "" {
		st.User = l.self
	}
	if l.conn.Err != nil {
		st.Warnings = append(st.Warnings, warningFor(l.conn))
	}
	if l.mailErr != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "maildir", Title: "Mail folder", Text: l.mailErr, Severity: agent.SeverityError})
	}
	if l.storeErr != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "storage", Title: "Data folder", Text: l.storeErr, Severity: agent.SeverityError})
	}
	st.ScanDone, st.ScanTotal = l.e.mail.Progress()
	if n, err := l.e.o.Store.Pending(ctx); err == nil {
		st.Pending = n
	}
	l.e.mu.Lock()
	l.e.status = st
	l.e.mu.Unlock()
	l.e.publishStatusSnapshot()
}

// publishScan publishes scan progress when it moved, and stops the
// progress ticker when the scan is complete.
func (l *loop) publishScan() {
	done, total := l.e.mail.Progress()
	if total > 0 && done >= total {
		l.scanTick = nil
		l.scanTicker.Stop()
	}
	if [2]int{done, total} == l.lastScan {
		return
	}
	l.lastScan = [2]int{done, total}
	l.e.mu.Lock()
	l.e.status.ScanDone, l.e.status.ScanTotal = done, total
	l.e.mu.Unlock()
	l.e.publishStatusSnapshot()
}

// warningFor turns a connection failure into the warning the tray shows.
func warningFor(s conn.Status) agent.Warning {
	w := agent.Warning{Code: "conn", Title: "Connection problem", Text: crm.UserMessage(s.Err), Severity: agent.SeverityWarning}
	switch s.State {
	case agent.StateNeedsSignIn:
		w.Code, w.Title, w.Severity = "signin", "Sign-in needed", agent.SeverityError
	case agent.StateNotPermitted:
		w.Code, w.Title, w.Severity = "permission", "Not permitted", agent.SeverityError
	}
	return w
}

// fetchName learns the user's display name for the status line; display
// only, never stored.
func (l *loop) fetchName(ctx context.Context, userID string) {
	c := l.e.sess.get()
	if c == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		name, err := c.UserName(ctx, userID)
		if err != nil || name == "" {
			return
		}
		l.e.do(ctx, func(l *loop) {
			if l.userID == userID {
				l.name = name
				l.publishStatus(ctx)
			}
		})
	}()
}

// releaseAfter is how quiet the mail must have been before the cache's
// memory is handed back after a burst of tracking.
const releaseAfter = 5 * time.Second

// bigBurst and bigSend are the backlog and upload counts after which the
// engine hands memory back to the system.
const (
	bigBurst = 5000
	bigSend  = 50
)

// releaseMemory hands back what a burst left behind: the cache's page
// caches, then the Go heap's free pages.
func (e *Engine) releaseMemory() {
	e.o.Store.Release()
	debug.FreeOSMemory()
}

// afterBurst runs when a large backlog (an initial scan) has been decided:
// the garbage of reading it would otherwise stay resident, and the runtime
// would spend minutes of background CPU returning it piecemeal.
func (l *loop) afterBurst() {
	if len(l.queued) > 0 || len(l.backlog) > 0 {
		return
	}
	if l.burst >= bigBurst {
		l.queued = map[agent.MessageKey]bool{} // drop the grown buckets
		go l.e.releaseMemory()
	}
	l.burst = 0
}
