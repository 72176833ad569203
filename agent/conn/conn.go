// Package conn keeps the agent's connection to the CRM: it signs in, probes
// with WhoAmI, checks the sync privilege, and after any failure reconnects
// with capped, jittered backoff. It owns the connection state; the engine
// observes it and gates all other traffic on it.
package conn

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/sched"
)

// Session is the part of the CRM client the supervisor drives; the
// engine's session implements it.
type Session interface {
	// SignIn makes sure the session holds tokens for c: a live sign-in for
	// the same account is kept, else c's refresh token or password is
	// redeemed. It never opens a browser.
	SignIn(ctx context.Context, c agent.Credentials) error
	WhoAmI(ctx context.Context) (crm.Identity, error)
	CanSync(ctx context.Context, userID string) (bool, error)
	SignOut()
	CloseIdle()
}

// Status is the supervisor's report.
type Status struct {
	State       agent.State // one of NeedsSignIn, Off, Connecting, Online, Backoff, NotPermitted
	Since       time.Time   // when State was entered
	LastSuccess time.Time   // the last answer from the CRM
	NextRetry   time.Time   // set in Backoff
	UserID      string      // the CRM user's GUID once known
	Err         error       // the failure behind NeedsSignIn, Backoff or NotPermitted
}

// Observer receives every status change, in order, from the supervisor's
// goroutine. It must not block.
type Observer interface{ ConnStatus(s Status) }

// ErrNotPermitted means the user's role lacks prvSyncToOutlook.
var ErrNotPermitted = agent.ErrNotPermitted

// ErrStopped is returned by a call made after Run has returned: nobody
// supervises the connection any more, so the call did nothing.
var ErrStopped = errors.New("conn: the connection supervisor has stopped")

// Options configure a Supervisor.
type Options struct {
	Session    Session
	Clock      sched.Clock
	Observer   Observer
	Logger     *slog.Logger
	ProbeEvery time.Duration // WhoAmI and privilege probe while online; 0 means 5 min
	Backoff    sched.Backoff // zero means 1 s doubling to 5 min
	Timeout    time.Duration // bound of one probe; 0 means 30 s
}

// Supervisor owns the connection state. All state lives in Run's goroutine;
// other goroutines talk to it through cmds.
//
// Calls from other goroutines (SetEnabled, SetCredentials, RetryNow,
// ProbeNow, Report) hand their work to Run. Made before Run starts, they
// wait for it, bounded by their ctx; made after Run has returned, they
// return ErrStopped at once, so an outbox attempt that finishes during
// shutdown never blocks on a loop that is gone.
type Supervisor struct {
	o       Options
	cmds    chan func(*loop) // unbuffered: received only by Run's loop
	done    chan struct{}    // closed when Run returns; never reopened
	running atomic.Bool      // set by the first Run; a second Run is refused
}

// New returns a supervisor; call Run to start it. It starts switched on
// with no credentials (NeedsSignIn).
func New(o Options) *Supervisor {
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = 5 * time.Minute
	}
	if o.Backoff.Base <= 0 {
		o.Backoff = sched.Backoff{Base: time.Second, Max: 5 * time.Minute}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = sched.Real{}
	}
	return &Supervisor{o: o, cmds: make(chan func(*loop)), done: make(chan struct{})}
}

// Done returns a channel that is closed when Run has returned.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// probeResult is what a probe goroutine reports.
type probeResult struct {
	gen    uint64 // which probe; stale results are ignored
	userID string
	err    error
}

// loop is Run's private state.
type loop struct {
	s         *Supervisor
	ctx       context.Context // Run's context, for probes started by commands
	enabled   bool
	creds     *agent.Credentials
	signedIn  bool // the session holds a token for creds
	status    Status
	attempt   int                // consecutive failures
	gen       uint64             // probe generation
	cancel    context.CancelFunc // cancels the probe in flight; nil if none
	timer     sched.Timer
	timerC    <-chan time.Time
	results   chan probeResult
	probes    sync.WaitGroup // probe goroutines; Run waits for them before it returns
	published bool
}

// Run supervises the connection until ctx ends; it may be called once.
// When it returns, no probe is left running and every later call on the
// Supervisor returns ErrStopped.
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("conn: Run called twice")
	}
	defer close(s.done)
	// Nothing is published until the owner says whether there are
	// credentials: a start with a saved sign-in must not flash NeedsSignIn
	// (the sign-in window would open over a session about to go online).
	l := &loop{s: s, ctx: ctx, enabled: true, results: make(chan probeResult, 1)}
	l.status.State = agent.StateStarting
	defer l.probes.Wait() // runs after stopProbe: the probe's requests are cancelled
	defer l.stopProbe()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case fn := <-s.cmds:
			fn(l)
		case r := <-l.results:
			l.onResult(ctx, r)
		case <-l.timerC:
			l.timerC = nil
			l.probe(ctx)
		}
		if l.cancel == nil && l.timerC == nil && l.wantsProbe() {
			l.probe(ctx)
		}
	}
}

// do hands fn to Run's loop, which runs it before its next input. It
// returns ErrStopped once Run has returned, and ctx's error if ctx ends
// first (a call before Run starts waits for it that long); fn has then
// not run and never will.
func (s *Supervisor) do(ctx context.Context, fn func(*loop)) error {
	// Checked first so a call after shutdown never races a live ctx.
	select {
	case <-s.done:
		return ErrStopped
	default:
	}
	select {
	case s.cmds <- fn:
		return nil
	case <-s.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetEnabled switches the connection on or off. Off cancels the request in
// flight at once and sends nothing more until switched on. It returns
// ErrStopped after Run has returned, or ctx's error.
func (s *Supervisor) SetEnabled(ctx context.Context, on bool) error {
	return s.do(ctx, func(l *loop) {
		if l.enabled == on {
			return
		}
		l.enabled = on
		l.stopProbe()
		l.stopTimer()
		l.attempt = 0
		if !on {
			l.s.o.Session.CloseIdle()
			l.enter(agent.StateOff, nil)
			return
		}
		l.settle()
	})
}

// SetCredentials starts a session for c; nil signs out. It returns
// ErrStopped after Run has returned, or ctx's error.
func (s *Supervisor) SetCredentials(ctx context.Context, c *agent.Credentials) error {
	return s.do(ctx, func(l *loop) {
		l.stopProbe()
		l.stopTimer()
		l.attempt = 0
		l.creds = c
		l.signedIn = false
		l.status.UserID = ""
		if c == nil {
			l.s.o.Session.SignOut()
		}
		l.settle()
	})
}

// RetryNow skips the rest of a backoff wait. It returns ErrStopped after
// Run has returned, or ctx's error.
func (s *Supervisor) RetryNow(ctx context.Context) error {
	return s.do(ctx, func(l *loop) {
		if l.status.State == agent.StateBackoff || l.status.State == agent.StateNotPermitted {
			l.stopTimer()
			l.attempt = 0
		}
	})
}

// ProbeNow checks the connection and the privilege at once when online,
// instead of waiting for the next probe. It returns ErrStopped after Run
// has returned, or ctx's error.
func (s *Supervisor) ProbeNow(ctx context.Context) error {
	return s.do(ctx, func(l *loop) {
		if l.status.State == agent.StateOnline && l.cancel == nil {
			l.stopTimer()
			l.probe(l.ctx)
		}
	})
}

// Report tells the supervisor how another request to the CRM went, so an
// outage or an expired sign-in seen by the outbox moves the state at once.
// After Run has returned it returns ErrStopped at once: a request that
// finishes during shutdown has nobody left to tell, and must not wait.
func (s *Supervisor) Report(ctx context.Context, err error) error {
	return s.do(ctx, func(l *loop) {
		if !l.enabled || l.creds == nil {
			return
		}
		if err == nil {
			l.status.LastSuccess = l.s.o.Clock.Now()
			return
		}
		if l.cancel != nil {
			return // a probe is deciding already
		}
		l.stopTimer()
		l.fail(err)
	})
}

// wantsProbe reports whether the state calls for a request now.
func (l *loop) wantsProbe() bool {
	return l.enabled && l.creds != nil && l.status.State == agent.StateConnecting
}

// settle moves to the state the facts imply when nothing is in flight.
func (l *loop) settle() {
	switch {
	case l.creds == nil:
		l.enter(agent.StateNeedsSignIn, nil)
	case !l.enabled:
		l.enter(agent.StateOff, nil)
	default:
		l.enter(agent.StateConnecting, nil)
	}
}

// probe signs in if needed, then asks WhoAmI and the privilege, in a
// goroutine so commands (switch off!) are handled while it runs.
func (l *loop) probe(ctx context.Context) {
	if !l.enabled || l.creds == nil {
		return
	}
	if l.status.State == agent.StateBackoff {
		l.enter(agent.StateConnecting, nil)
	}
	l.gen++
	pctx, cancel := context.WithTimeout(ctx, l.s.o.Timeout)
	l.cancel = cancel
	gen, creds, signedIn, sess, results := l.gen, *l.creds, l.signedIn, l.s.o.Session, l.results
	l.probes.Add(1)
	go func() {
		defer l.probes.Done()
		defer cancel()
		r := probeResult{gen: gen}
		if !signedIn {
			r.err = sess.SignIn(pctx, creds)
		}
		if r.err == nil {
			var id crm.Identity
			id, r.err = sess.WhoAmI(pctx)
			r.userID = id.UserID
		}
		if r.err == nil {
			var ok bool
			ok, r.err = sess.CanSync(pctx, r.userID)
			if r.err == nil && !ok {
				r.err = ErrNotPermitted
			}
		}
		// A probe stopped for a newer one may find the buffer full of the
		// newer one's result, and Run gone: ctx (Run's) ending frees it.
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}()
}

func (l *loop) onResult(ctx context.Context, r probeResult) {
	if r.gen != l.gen {
		return
	}
	l.cancel = nil
	if !l.enabled || l.creds == nil {
		return
	}
	now := l.s.o.Clock.Now()
	if r.err == nil {
		l.signedIn = true
		l.attempt = 0
		l.status.UserID = r.userID
		l.status.LastSuccess = now
		l.enter(agent.StateOnline, nil)
		l.arm(l.s.o.ProbeEvery)
		return
	}
	if ctx.Err() != nil {
		return
	}
	if r.userID != "" {
		l.signedIn = true
		l.status.UserID = r.userID
		l.status.LastSuccess = now
	}
	l.fail(r.err)
}

// fail moves to the state a failure implies and arms the next try.
func (l *loop) fail(err error) {
	switch {
	case errors.Is(err, ErrNotPermitted):
		l.attempt = 0
		l.enter(agent.StateNotPermitted, err)
		l.arm(l.s.o.ProbeEvery) // an administrator may grant it
	case errors.Is(err, crm.ErrUnauthorized) && l.signedIn:
		// The token was refused although refresh was tried: sign in
		// afresh with the saved password before asking the user.
		l.signedIn = false
		l.enter(agent.StateConnecting, nil)
	case errors.Is(err, crm.ErrUnauthorized):
		l.creds = nil
		l.s.o.Session.SignOut()
		l.enter(agent.StateNeedsSignIn, err)
	default:
		wait := l.s.o.Backoff.Delay(l.attempt)
		if ra, ok := crm.RetryAfter(err); ok && ra > wait {
			wait = ra
		}
		l.attempt++
		l.status.NextRetry = l.s.o.Clock.Now().Add(wait)
		l.enter(agent.StateBackoff, err)
		l.arm(wait)
	}
}

func (l *loop) arm(d time.Duration) {
	l.stopTimer()
	l.timer, l.timerC = l.s.o.Clock.NewTimer(d)
}

func (l *loop) stopTimer() {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer, l.timerC = nil, nil
}

func (l *loop) stopProbe() {
	if l.cancel != nil {
		l.cancel()
		l.cancel = nil
		l.gen++ // whatever it reports is stale now
	}
}

// enter records a state and tells the observer when anything changed.
func (l *loop) enter(s agent.State, err error) {
	if l.published && l.status.State == s && l.status.Err == err {
		return
	}
	if !l.published || l.status.State != s {
		l.status.Since = l.s.o.Clock.Now()
	}
	if s != agent.StateBackoff {
		l.status.NextRetry = time.Time{}
	}
	l.status.State = s
	l.status.Err = err
	l.published = true
	if err != nil {
		l.s.o.Logger.Info("connection", "state", s.String(), "err", err)
	} else {
		l.s.o.Logger.Info("connection", "state", s.String())
	}
	if l.s.o.Observer != nil {
		l.s.o.Observer.ConnStatus(l.status)
	}
}
