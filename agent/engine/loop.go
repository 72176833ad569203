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
	"crmsync/agent/outgoing"
	"crmsync/agent/records"
	"crmsync/agent/track"
)

// loop is the state owned by Run's goroutine. Nothing else reads or
// writes it; other goroutines ask through Engine.do, and read what
// publish stores in Engine.view.
type loop struct {
	e        *Engine
	ctx      context.Context // Run's context, for work started by the loop
	g        *group          // starts and joins every goroutine the loop starts
	settings agent.Settings
	alarms   alarms

	conn    conn.Status        // the supervisor's last report
	online  bool               // conn.State == Online
	net     context.Context    // live while online; published in the view
	netStop context.CancelFunc // cancels net
	userID  string             // the signed-in user's GUID, once known
	self    string             // the signed-in user's address, lower case
	name    string             // the signed-in user's CRM display name, once fetched
	pending int                // queued outbox actions, as last counted

	backlog  []job                     // messages waiting for a decider
	named    []job                     // messages decided by name alone (byName), waiting for the write stage
	queued   map[agent.MessageKey]bool // in the backlog or named, with a decider, or being written
	waiting  map[agent.MessageKey]bool // undecided until the CRM answers
	settling map[agent.MessageKey]bool // files that may still be being written

	// The write stage: at most one batch of results is being written, by
	// the writer goroutine (see writer); the results that arrive meanwhile
	// wait in decided and go in the next batch, so a backlog is written in
	// few large transactions while the deciders go on. Until its batch is
	// written a key stays queued.
	decided []result  // results waiting to be written
	writing *inFlight // the batch being written; nil when none

	sync  syncState
	mail  mailState
	rules rulesState
	recs  recordsState
	out   outgoingState
	scan  [2]int // the scan progress last published
	// storeErr says why decisions cannot be saved; "" when they can.
	storeErr string
	mem      reclaimer

	texts map[agent.MessageKey]string // last outcome text per message; display only
	sent  disclosures                 // what recent exchanges carried; memory only
}

// scanEvery is how often scan progress is published while a scan runs.
const scanEvery = 250 * time.Millisecond

func newLoop(e *Engine, ctx context.Context, g *group, settings agent.Settings) *loop {
	l := &loop{e: e, ctx: ctx, g: g, settings: settings, alarms: alarms{clock: e.clock},
		net: e.online(), netStop: func() {},
		queued: map[agent.MessageKey]bool{}, waiting: map[agent.MessageKey]bool{},
		texts: map[agent.MessageKey]string{},
		mail:  mailState{failed: make(chan error, 1)},
		sync:  syncState{done: make(chan syncResult, 1)},
		recs:  recordsState{passes: make(chan records.Report, 1)},
		out:   outgoingState{passes: make(chan outgoing.Report, 1)},
	}
	l.publish(false)
	return l
}

func (l *loop) run() error {
	ctx := l.ctx
	defer l.alarms.stop()
	defer func() { l.netStop() }()
	l.refreshPending()
	l.publish(true)
	l.armSync()
	l.alarms.set(alarmScan, scanEvery)
	for {
		// Ready results first, then what the names decide, as far as the
		// write stage has room; then the write, if the writer is free.
		l.drainResults()
		l.takeNamed()
		l.startWrite()
		var work chan job
		var next job
		if len(l.backlog) > 0 {
			work, next = l.e.work, l.backlog[0]
		}
		var results chan result
		if len(l.decided) < maxBatch {
			results = l.e.results // else the deciders wait for the write
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-l.g.fatal:
			return err
		case fn := <-l.e.cmds:
			fn(l)
		case c := <-l.e.changes:
			l.onChange(c)
		case work <- next:
			l.backlog = l.backlog[1:]
			if len(l.backlog) == 0 {
				l.backlog = nil // let the backing array go after a big scan
			}
		case r := <-results:
			l.decided = append(l.decided, r)
		case w := <-l.e.wrote:
			l.onWritten(w)
		case s := <-l.e.connC:
			l.onConn(s)
		case o := <-l.e.outC:
			l.onOutcome(o)
		case r := <-l.sync.done:
			l.onSync(r)
		case err := <-l.mail.failed:
			l.onMailFailed(err)
		case rep := <-l.recs.passes:
			l.onRecordsPass(rep)
		case rep := <-l.out.passes:
			l.onOutgoingPass(rep)
		case <-l.alarms.c:
			l.onAlarms(l.alarms.fired())
		}
	}
}

// onAlarms runs the timed jobs that are due.
func (l *loop) onAlarms(due [numAlarms]bool) {
	if due[alarmSync] {
		l.startSync()
	}
	if due[alarmScan] {
		l.publishScan()
	}
	if due[alarmMailRetry] {
		l.startMail()
		l.publish(true)
	}
	if due[alarmStoreRetry] {
		l.redecide()
	}
	if due[alarmSettle] {
		l.requeue(l.settling)
		l.settling = nil
	}
	if due[alarmRuleRetry] {
		l.rules.work = append(l.rules.work, l.rules.retry...)
		l.rules.retry = nil
		l.startRuleWork()
	}
	if due[alarmRelease] && l.mem.quiet(l.e.clock.Now(), len(l.queued) == 0 && len(l.backlog) == 0) {
		l.releaseMemory()
	}
}

// onChange queues new messages for a decision.
func (l *loop) onChange(c maildir.Change) {
	switch c.Kind {
	case maildir.Unavailable:
		l.mail.err = "The mail folder " + l.settings.MaildirPath + " is gone: moved, deleted, or its disk unmounted. " +
			"Mail that arrives there is tracked once it is back."
		l.publish(true)
		return
	case maildir.Available:
		l.mail.err = ""
		l.publish(true)
		return
	}
	if c.Kind == maildir.Added || c.Kind == maildir.Moved {
		// Mail in a mapped folder is tracked regarding the rule's
		// record, whatever the automatic choice would say.
		if r, ok := l.ruleFor(l.e.o.Store.HashFolder(c.Folder)); ok {
			l.queueRule(c.Key, r)
			return
		}
	}
	if c.Kind != maildir.Added {
		return // a move or flag change is the same message; removal keeps its IDs
	}
	if l.queued[c.Key] {
		return
	}
	now := l.e.clock.Now()
	l.queue(l.e.newJob(c.Key, c.Folder), now)
	l.mem.arrived(now)
	l.sync.arrivals++
	l.sync.lastBusy = now
}

// maxBatch bounds how many decisions are written in one transaction, and
// how many results wait for the write in progress.
const maxBatch = 1024

// queue queues j for a decision: for the deciders, or, when its name
// alone decides it (byName), straight for the write stage, so that the
// bulk of a first scan neither waits behind the messages whose decision
// needs the CRM nor costs the deciders anything.
func (l *loop) queue(j job, now time.Time) {
	l.queued[j.key] = true
	if _, ok := l.e.byName(j, now); ok {
		l.named = append(l.named, j)
		return
	}
	l.backlog = append(l.backlog, j)
}

// takeNamed moves messages decided by name into the write stage, as many
// as it has room for.
func (l *loop) takeNamed() {
	n := min(len(l.named), maxBatch-len(l.decided))
	if n <= 0 {
		return
	}
	if l.decided == nil {
		l.decided = make([]result, 0, maxBatch)
	}
	now := l.e.clock.Now()
	for _, j := range l.named[:n] {
		if r, ok := l.e.byName(j, now); ok {
			l.decided = append(l.decided, r)
		} else {
			l.backlog = append(l.backlog, j) // the clock went back: decide it in full
		}
	}
	clear(l.named[:n]) // the keys are not held twice
	l.named = l.named[n:]
	if len(l.named) == 0 {
		l.named = nil // let the backing array go after a big scan
	}
}

// drainResults collects the results already waiting, so that a backlog is
// written in few transactions rather than one sync per message.
func (l *loop) drainResults() {
	for len(l.decided) < maxBatch {
		select {
		case r := <-l.e.results:
			l.decided = append(l.decided, r)
		default:
			return
		}
	}
}

// onConn applies a connection report: the outbox and the decisions that
// need the CRM run only while online.
func (l *loop) onConn(s conn.Status) {
	ctx := l.ctx
	l.conn = s
	wasOnline := l.online
	l.online = s.State == agent.StateOnline
	if l.online != wasOnline {
		if l.online {
			l.net, l.netStop = context.WithCancel(ctx)
		} else {
			l.netStop()
		}
	}
	if s.UserID != "" && s.UserID != l.userID {
		l.userID = s.UserID
		l.fetchName(s.UserID)
		l.startRecords()
		l.startOutgoing()
	}
	if l.online {
		l.e.box.Resume(l.userID)
		if !wasOnline {
			l.startRecords()
			if sy := l.e.syncer.Load(); sy != nil {
				sy.Trigger()
			}
			l.startOutgoing()
			if w := l.e.sender.Load(); w != nil {
				w.Trigger()
			}
			l.refreshRules()
			l.redecide()
			if l.e.o.Store.Rebuilt() && !l.sync.relearned {
				l.sync.relearned = true
				l.relearn()
			}
		}
	} else {
		l.e.box.Pause()
	}
	l.publish(true)
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
func (l *loop) storeFailed(err error) {
	why := "the data folder cannot be written"
	switch {
	case errors.Is(err, cache.ErrDiskFull):
		why = "the disk is full"
	case errors.Is(err, cache.ErrNoAccess):
		why = "the data folder or its cache file is not writable"
	}
	text := fmt.Sprintf("Decisions cannot be saved: %s. Free some disk space or fix the folder's permissions; "+
		"waiting messages are decided again every %d seconds.", why, int(storeRetry/time.Second))
	l.alarms.setIfIdle(alarmStoreRetry, storeRetry)
	if text != l.storeErr {
		l.storeErr = text
		l.publish(true)
	}
}

// storeOK clears the warning of storeFailed once a decision is saved.
func (l *loop) storeOK() {
	if l.storeErr != "" {
		l.storeErr = ""
		l.publish(true)
	}
}

// redecide puts the messages that waited for the CRM back in the backlog.
func (l *loop) redecide() { l.requeue(l.waiting) }

// requeue moves keys into the backlog, skipping those gone from the
// Maildir or already queued.
func (l *loop) requeue(keys map[agent.MessageKey]bool) {
	now := l.e.clock.Now()
	for k := range keys {
		folder, ok := l.e.mail.Folder(k)
		delete(keys, k)
		if !ok || l.queued[k] {
			continue
		}
		l.queue(l.e.newJob(k, folder), now)
	}
}

// onOutcome shows what became of an action.
func (l *loop) onOutcome(o outbox.Outcome) {
	if o.Final && o.Sent != nil {
		l.mem.uploaded()
	}
	l.refreshPending()
	if o.Final && o.Err == nil && o.Sent != nil {
		d := agent.Disclosure{Key: o.Action.Key, Purpose: "tracked message", Fields: o.Sent}
		for _, f := range o.Sent {
			d.BodySent = d.BodySent || f.Name == "Body"
			if f.Name == outbox.FieldMeetingRequest {
				// The meeting is in the CRM now: bring it into the
				// calendar at once rather than at the next pass.
				if sy := l.e.syncer.Load(); sy != nil {
					sy.Trigger()
				}
			}
		}
		if !d.BodySent {
			d.Purpose = "linked to the copy in the CRM"
		}
		l.disclose(d)
	}
	if !o.Final {
		return
	}
	text := o.Text
	if text == "" && o.Err == nil {
		text = track.Reason(o.Message.Reason).String()
	}
	l.setText(o.Action.Key, text)
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

// refreshPending counts the queued actions and publishes the count when
// it changed.
func (l *loop) refreshPending() {
	n, err := l.e.o.Store.Pending(l.ctx)
	if err != nil {
		return
	}
	if n == 0 && l.mem.outboxEmpty() {
		l.alarms.setIfIdle(alarmRelease, releaseAfter)
	}
	if n != l.pending {
		l.pending = n
		l.publish(true)
	}
}

// publish derives the view, the status included, from the loop's facts:
// the one place either is built. With announce, subscribers get the
// status too.
func (l *loop) publish(announce bool) {
	st := agent.Status{
		State:       l.conn.State,
		Since:       l.conn.Since,
		LastSuccess: l.conn.LastSuccess,
		NextRetry:   l.conn.NextRetry,
		User:        l.name,
		Pending:     l.pending,
	}
	if l.sync.last.After(st.LastSuccess) {
		st.LastSuccess = l.sync.last
	}
	if st.User == "" {
		st.User = l.self
	}
	if l.conn.Err != nil {
		st.Warnings = append(st.Warnings, warningFor(l.conn))
	}
	if l.mail.err != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "maildir", Title: "Mail account", Text: l.mail.err, Severity: agent.SeverityError})
	}
	st.Mail, st.LastSync = l.mail.name, l.sync.last
	st.Records = l.recs.status
	st.Outgoing, st.OutgoingPending = l.out.status, l.out.pending
	if l.out.err != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "outgoing", Title: "Email from the CRM", Text: l.out.err, Severity: agent.SeverityWarning})
	}
	if l.recs.err != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "records", Title: "Address book and calendar", Text: l.recs.err, Severity: agent.SeverityWarning})
	}
	if l.storeErr != "" {
		st.Warnings = append(st.Warnings, agent.Warning{Code: "storage", Title: "Data folder", Text: l.storeErr, Severity: agent.SeverityError})
	}
	l.scan[0], l.scan[1] = l.e.mail.Progress()
	st.ScanDone, st.ScanTotal = l.scan[0], l.scan[1]
	l.e.view.Store(&view{status: st, connErr: l.conn.Err, self: l.self, userID: l.userID, settings: l.settings, net: l.net})
	if announce {
		l.e.hub.broadcast(agent.Event{Status: &st})
	}
}

// publishScan publishes scan progress when it moved, and keeps looking
// while the scan runs: an idle agent does not wake up for it.
func (l *loop) publishScan() {
	done, total := l.e.mail.Progress()
	if total == 0 || done < total {
		l.alarms.set(alarmScan, scanEvery)
	}
	if [2]int{done, total} != l.scan {
		l.publish(true)
	}
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

// nameTimeout bounds the display name lookup.
const nameTimeout = 30 * time.Second

// fetchName learns the user's display name for the status line; display
// only, never stored.
func (l *loop) fetchName(userID string) {
	c := l.e.sess.get()
	if c == nil {
		return
	}
	e := l.e
	l.g.Go("display name", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, nameTimeout)
		defer cancel()
		name, err := c.UserName(ctx, userID)
		if err != nil || name == "" {
			return nil // display only: the address stands in
		}
		e.do(ctx, func(l *loop) {
			if l.userID == userID {
				l.name = name
				l.publish(true)
			}
		})
		return nil
	})
}

// releaseMemory hands back what a burst left behind, on a goroutine of
// the group: the cache's page caches, then the Go heap's free pages.
func (l *loop) releaseMemory() {
	store := l.e.o.Store
	l.g.Go("release memory", func(context.Context) error {
		store.Release()
		debug.FreeOSMemory()
		return nil
	})
}

// afterBatch runs once a batch of decisions is written: when that emptied
// a large backlog, the memory it used goes back.
func (l *loop) afterBatch() {
	if len(l.queued) > 0 || len(l.backlog) > 0 {
		return
	}
	if l.mem.drained() {
		l.queued = map[agent.MessageKey]bool{} // drop the grown buckets
		l.releaseMemory()
	}
}
