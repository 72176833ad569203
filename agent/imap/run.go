package imap

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// maxIdle bounds the IDLE connections, one per mailbox: servers limit a
// user's connections per address (Dovecot to 10, Gmail to 15), and the
// user's own mail programs need some too. Further mailboxes are polled.
const maxIdle = 5

// Reconnection backoff: doubled after each failure, jittered.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// stableSession is how long a connection must last for the backoff to
// start again from its shortest wait.
const stableSession = time.Minute

// backoff yields jittered, exponentially growing waits.
type backoff struct{ n int }

// next returns the next wait: 1 s, 2 s, 4 s... up to a minute, each
// within ±25 % so that many agents do not reconnect in step.
func (b *backoff) next() time.Duration {
	d := maxBackoff
	if b.n < 6 {
		d = min(minBackoff<<b.n, maxBackoff)
	}
	b.n++
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

func (b *backoff) reset() { b.n = 0 }

// mbox is Run's state of one watched mailbox, kept across reconnections
// so that a new connection resumes where the last one stopped.
type mbox struct {
	name     string
	listed   bool   // the first listing under validity was done
	validity uint32 // UIDVALIDITY of the listing
	lastUID  goimap.UID
	uidNext  goimap.UID // UIDNEXT when last looked at
	modSeq   uint64     // HIGHESTMODSEQ when last looked at (CONDSTORE)
	uids     map[goimap.UID]agent.MessageKey
	dirty    bool // look at it again: something changed or may have
}

// runner is the state Run's goroutine owns.
type runner struct {
	s     *Source
	out   chan<- maildir.Change
	boxes map[string]*mbox
	// removed holds keys reported Removed, so that a message seen again
	// (a folder watched again) is reported Moved, not Added twice.
	removed map[agent.MessageKey]struct{}
	w       *watchers // the current session's IDLE watchers
	polls   int       // poll ticks in the current session
}

// idleCheckEvery is how many polls apart mailboxes in IDLE are checked
// with STATUS too. IDLE cannot report everything: a mailbox deleted and
// created again under the same name leaves its IDLE connection watching
// the old one, silently.
const idleCheckEvery = 10

// Run lists and watches the mailboxes and sends every change to out until
// ctx ends, reconnecting after drops with backoff and resuming from what
// it saw last, so that nothing is missed or reported twice. It returns
// nil when ctx ends, and an error wrapping ErrLogin or ErrTLS when the
// server refuses the credentials or the connection cannot be secured:
// trying again would not help until the settings change.
func (s *Source) Run(ctx context.Context, out chan<- maildir.Change) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("imap: Run was already called")
	}
	r := &runner{s: s, out: out, boxes: make(map[string]*mbox), removed: make(map[agent.MessageKey]struct{})}
	var bo backoff
	for {
		began := time.Now()
		connected, err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrLogin) || errors.Is(err, ErrTLS) {
			s.log.Error("imap: cannot sign in; not retrying", "err", logErr(err))
			return err
		}
		// Only a connection that held for a while starts the backoff
		// afresh: a server that drops every session at once is not
		// reconnected to every second.
		if connected && time.Since(began) > stableSession {
			bo.reset()
		}
		wait := bo.next()
		s.log.Warn("imap: connection lost; reconnecting", "in", wait.Round(time.Millisecond), "err", logErr(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one command connection until it drops or ctx ends: it
// lists the mailboxes, starts their IDLE watchers, and syncs each mailbox
// whenever a watcher or a poll says it changed. connected reports whether
// it got as far as signing in.
func (r *runner) session(ctx context.Context) (connected bool, err error) {
	s := r.s
	c, err := s.dialer().connect(ctx, nil)
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	ss := &session{c: c, caps: c.Caps()}
	boxes, err := list(c)
	if err != nil {
		return true, err
	}
	s.mu.Lock()
	s.sent = sentOf(boxes)
	s.mu.Unlock()
	s.setSession(ss)
	defer s.setSession(nil)

	idle := ss.caps.Has(goimap.CapIdle) || ss.caps.Has(goimap.CapIMAP4rev2)
	w := newWatchers(s, idle)
	defer w.stopAll()
	r.w, r.polls = w, 0
	watched := r.assign(ctx, w)
	s.log.Info("imap: connected", "mailboxes", len(watched), "idle", idle, "condstore", ss.condStore())
	for _, b := range r.boxes {
		b.dirty = true // anything may have happened while away
	}
	poll := time.NewTicker(s.o.Poll)
	defer poll.Stop()
	for {
		for _, name := range watched {
			b := r.boxes[name]
			if !b.dirty {
				continue
			}
			b.dirty = false
			if err := r.sync(ctx, ss, b); err != nil {
				return true, err
			}
		}
		if r.anyDirty(watched) {
			continue
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-c.Closed():
			return true, errors.New("the server closed the connection")
		case err := <-w.errs:
			return true, err
		case <-w.wake:
			for _, name := range w.takeDirty() {
				if b, ok := r.boxes[name]; ok {
					b.dirty = true
				}
			}
		case <-s.wake:
			watched = r.assign(ctx, w)
		case <-poll.C:
			r.polls++
			if err := r.poll(ss, w, r.polls%idleCheckEvery == 0); err != nil {
				return true, err
			}
		}
	}
}

// anyDirty reports whether a watched mailbox waits for a sync.
func (r *runner) anyDirty(watched []string) bool {
	for _, name := range watched {
		if r.boxes[name].dirty {
			return true
		}
	}
	return false
}

// watchList is the mailboxes to watch, in order of importance: INBOX,
// the \Sent one, then the folders of the rules.
func (r *runner) watchList() []string {
	s := r.s
	s.mu.RLock()
	sent := s.sent
	s.mu.RUnlock()
	out := []string{"INBOX"}
	seen := map[string]bool{"INBOX": true}
	add := func(name string) {
		if name == "" || seen[name] || strings.EqualFold(name, "INBOX") {
			return
		}
		seen[name] = true
		out = append(out, name)
	}
	add(sent)
	for _, f := range s.extras() {
		add(f)
	}
	return out
}

// assign brings the watched mailboxes in line with watchList: new ones
// get a state (and a sync), the first maxIdle an IDLE watcher, and those
// no longer watched are dropped, their messages reported Removed.
func (r *runner) assign(ctx context.Context, w *watchers) []string {
	watched := r.watchList()
	keep := make(map[string]bool, len(watched))
	for _, name := range watched {
		keep[name] = true
		if _, ok := r.boxes[name]; !ok {
			r.boxes[name] = &mbox{name: name, uids: make(map[goimap.UID]agent.MessageKey), dirty: true}
		}
	}
	for name, b := range r.boxes {
		if !keep[name] {
			r.emit(ctx, r.forget(b), false)
			delete(r.boxes, name)
		}
	}
	w.set(ctx, watched)
	return watched
}

// poll checks the mailboxes without an IDLE watcher (all of them when
// all is set) with STATUS, every command sent before the first answer is
// awaited, and marks those that changed. The mailbox selected on the
// command connection is marked without asking: a server may answer STATUS
// on it from the selected view, which only a new SELECT refreshes.
func (r *runner) poll(ss *session, w *watchers, all bool) error {
	ss.mu.Lock()
	selected := ss.selected
	ss.mu.Unlock()
	opts := &goimap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: ss.condStore()}
	type pending struct {
		b   *mbox
		cmd interface {
			Wait() (*goimap.StatusData, error)
		}
	}
	var cmds []pending
	for name, b := range r.boxes {
		switch {
		case w.watching(name) && !all:
			continue
		case name == selected:
			b.dirty = true
			continue
		}
		cmds = append(cmds, pending{b, ss.c.Status(name, opts)})
	}
	for _, p := range cmds {
		d, err := p.cmd.Wait()
		if err != nil {
			if !isRefusal(err) {
				return err
			}
			p.b.dirty = p.b.listed // gone, or not there yet: a sync tells
			continue
		}
		b := p.b
		if !b.listed || d.UIDValidity != b.validity || d.UIDNext != b.uidNext ||
			(d.NumMessages != nil && int(*d.NumMessages) != len(b.uids)) ||
			(d.HighestModSeq != 0 && d.HighestModSeq != b.modSeq) {
			b.dirty = true
		}
	}
	return nil
}

// emit sends changes to out in order; listing says they are a first
// listing's, counted by Progress. It gives up when ctx ends.
func (r *runner) emit(ctx context.Context, changes []maildir.Change, listing bool) {
	for _, c := range changes {
		select {
		case r.out <- c:
		case <-ctx.Done():
			return
		}
		if listing {
			r.s.done.Add(1)
		}
	}
}

// watchers are the IDLE connections of one session, by mailbox.
type watchers struct {
	s    *Source
	idle bool // the server offers IDLE
	wg   sync.WaitGroup
	m    map[string]*watcher
	wake chan struct{} // a watcher saw a change
	errs chan error    // a watcher cannot sign in
}

func newWatchers(s *Source, idle bool) *watchers {
	return &watchers{s: s, idle: idle, m: make(map[string]*watcher),
		wake: make(chan struct{}, 1), errs: make(chan error, maxIdle)}
}

// set runs watchers for the first maxIdle of watched and stops the rest.
func (w *watchers) set(ctx context.Context, watched []string) {
	want := map[string]bool{}
	if w.idle {
		for _, name := range watched[:min(len(watched), maxIdle)] {
			want[name] = true
		}
	}
	for name, x := range w.m {
		if !want[name] {
			x.stop()
			delete(w.m, name)
		}
	}
	for name := range want {
		if _, ok := w.m[name]; !ok {
			w.start(ctx, name)
		}
	}
}

// start runs a watcher for name.
func (w *watchers) start(ctx context.Context, name string) {
	x := &watcher{name: name, done: make(chan struct{})}
	var wctx context.Context
	wctx, x.cancel = context.WithCancel(ctx)
	w.m[name] = x
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		x.run(wctx, w)
	}()
}

// restart replaces name's watcher, if it has one, by a new connection:
// the mailbox was deleted or renumbered under the old one.
func (w *watchers) restart(ctx context.Context, name string) {
	x, ok := w.m[name]
	if !ok {
		return
	}
	x.stop()
	delete(w.m, name)
	w.start(ctx, name)
}

// watching reports whether name has an IDLE watcher.
func (w *watchers) watching(name string) bool {
	_, ok := w.m[name]
	return ok
}

// takeDirty returns the mailboxes whose watchers saw a change since the
// last call.
func (w *watchers) takeDirty() []string {
	var out []string
	for name, x := range w.m {
		if x.dirty.Swap(false) {
			out = append(out, name)
		}
	}
	return out
}

// stopAll stops every watcher and waits for them.
func (w *watchers) stopAll() {
	for _, x := range w.m {
		x.cancel()
	}
	w.wg.Wait()
}
