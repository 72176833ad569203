// Package outbox carries out the user's and the pipeline's actions (track,
// untrack, set regarding) against the CRM. Every action is queued durably
// in the cache first; the worker replays the queue, retries with backoff
// and jitter while the CRM is unreachable, slow or throttling (honouring
// Retry-After), and records each result in the same transaction that
// removes the action, so a crash at any instant loses nothing and does
// nothing twice.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/sched"
	"crmsync/agent/track"
)

// Store is the durable queue and the message map; *cache.Store implements it.
type Store interface {
	Due(ctx context.Context, now time.Time, limit int) ([]cache.Action, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Message(ctx context.Context, key agent.MessageKey) (cache.Message, bool, error)
	Complete(ctx context.Context, id int64, m cache.Message) error
	Fail(ctx context.Context, id int64, m cache.Message) error
	Reschedule(ctx context.Context, id int64, next time.Time, errKind int) error
}

// Mail re-reads messages from the Maildir; *maildir.Source implements it.
type Mail interface {
	Envelope(k agent.MessageKey) (maildir.Envelope, error)
	Body(k agent.MessageKey) (io.ReadCloser, error)
	// Folder names the folder k is in now: the cache keeps only its hash.
	Folder(k agent.MessageKey) (string, bool)
}

// CRM is what replaying actions needs of the CRM; *crm.HTTPClient implements it.
type CRM interface {
	TrackEmails(ctx context.Context, es []crm.Email) ([]crm.Tracked, error)
	Activity(ctx context.Context, id crm.ActivityID) (crm.ActivityInfo, error)
	SetRegarding(ctx context.Context, id crm.ActivityID, r *agent.RecordRef) error
	ClearRegarding(ctx context.Context, id crm.ActivityID, current string) error
	DeleteActivityIf(ctx context.Context, id crm.ActivityID, etag string) error
	UserName(ctx context.Context, userID string) (string, error)
	TrackAppointment(ctx context.Context, a crm.Appointment) (string, error)
}

// Outcome is what became of one attempt at an action.
type Outcome struct {
	Action  cache.Action
	Message cache.Message // the row as written; zero when rescheduled
	Final   bool          // the action is finished (done or given up)
	Err     error         // why it was rescheduled or given up; nil when done
	// Text tells the user what happened, e.g. whose copy was kept. It is
	// display-only and never persisted.
	Text string
	// Sent lists the fields a track uploaded and their sizes, for the
	// "what was sent" view; nil for other actions.
	Sent []agent.FieldSize
	// Envelope holds the headers the action read, for display only; nil
	// when it read none.
	Envelope *maildir.Envelope
}

// Options configure a Worker.
type Options struct {
	Store   Store
	Mail    Mail
	CRM     CRM
	Clock   sched.Clock
	Logger  *slog.Logger
	Backoff sched.Backoff // zero means 2 s doubling to 10 min
	// Outgoing reports whether a Maildir folder holds the user's sent mail.
	Outgoing func(folder string) bool
	// Report tells the connection supervisor how each CRM request went. It
	// is given Run's context, so a report that finds the supervisor gone
	// returns once the worker is told to stop rather than block for good.
	Report func(ctx context.Context, err error)
	// Outcomes receives every outcome; the worker blocks on it, so the
	// reader must keep up (the engine's loop does).
	Outcomes chan<- Outcome
	// Timeout bounds one action; 0 means 2 min.
	Timeout time.Duration
}

// Worker replays the outbox. It starts paused; Resume starts traffic and
// Pause stops it at once, cancelling the action in flight.
type Worker struct {
	o    Options
	kick chan struct{}

	mu     sync.Mutex
	paused bool               // guarded by mu
	userID string             // the signed-in user's GUID; guarded by mu
	cancel context.CancelFunc // cancels the action in flight; guarded by mu
}

// New returns a paused worker.
func New(o Options) *Worker {
	if o.Backoff.Base <= 0 {
		o.Backoff = sched.Backoff{Base: 2 * time.Second, Max: 10 * time.Minute}
	}
	if o.Clock == nil {
		o.Clock = sched.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Outgoing == nil {
		o.Outgoing = func(string) bool { return false }
	}
	if o.Report == nil {
		o.Report = func(context.Context, error) {}
	}
	return &Worker{o: o, kick: make(chan struct{}, 1), paused: true}
}

// Resume lets the worker send, as userID.
func (w *Worker) Resume(userID string) {
	w.mu.Lock()
	w.paused, w.userID = false, userID
	w.mu.Unlock()
	w.Kick()
}

// Pause stops all traffic at once; queued work waits.
func (w *Worker) Pause() {
	w.mu.Lock()
	w.paused = true
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
}

// Kick tells the worker new work may be due.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// KickWaiting reports whether a kick has not been taken by the worker yet.
// The worker takes a kick only between two reads of the queue, so after
// Kick, once KickWaiting is false, every action queued before that Kick
// has been seen by a read of the queue (or the worker was paused).
func (w *Worker) KickWaiting() bool { return len(w.kick) > 0 }

// Run replays due actions until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for {
		next, err := w.drain(ctx)
		if err != nil {
			w.o.Logger.Error("outbox: reading the queue failed", "err", err)
			next = w.o.Clock.Now().Add(5 * time.Second)
		}
		var (
			timer  sched.Timer
			timerC <-chan time.Time
		)
		if !next.IsZero() {
			timer, timerC = w.o.Clock.NewTimer(max(next.Sub(w.o.Clock.Now()), 0))
		}
		select {
		case <-ctx.Done():
		case <-w.kick:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// dueBatch is how many due actions one read of the queue takes. Tracks
// among them go to the CRM together (trackBatch at a time), so a backlog
// costs a request per batch rather than per message.
const dueBatch = 64

// drain runs every due action while not paused and returns when the next
// one is due (zero: nothing queued, or paused).
func (w *Worker) drain(ctx context.Context) (time.Time, error) {
	for {
		w.mu.Lock()
		paused, user := w.paused, w.userID
		w.mu.Unlock()
		if paused {
			return time.Time{}, nil
		}
		due, err := w.o.Store.Due(ctx, w.o.Clock.Now(), dueBatch)
		if err != nil {
			return time.Time{}, err
		}
		if len(due) == 0 {
			next, ok, err := w.o.Store.NextDue(ctx)
			if err != nil || !ok {
				return time.Time{}, err
			}
			return next, nil
		}
		for _, run := range runs(due) {
			if err := w.run(ctx, run, user); err != nil {
				return time.Time{}, err
			}
			if ctx.Err() != nil {
				return time.Time{}, ctx.Err()
			}
		}
	}
}

// runs splits due actions, in queue order, into the groups sent to the
// CRM together: consecutive tracks of distinct messages, bounded in count
// and in body bytes by trackEmails; every other action alone.
func runs(due []cache.Action) [][]cache.Action {
	var out [][]cache.Action
	for i := 0; i < len(due); {
		j := i + 1
		if due[i].Kind == cache.ActionTrack {
			seen := map[agent.MessageKey]bool{due[i].Key: true}
			for j < len(due) && due[j].Kind == cache.ActionTrack && !seen[due[j].Key] {
				seen[due[j].Key] = true
				j++
			}
		}
		out = append(out, due[i:j])
		i = j
	}
	return out
}

// run attempts a group of actions as one unit of work and records the
// outcome of each.
func (w *Worker) run(ctx context.Context, acts []cache.Action, user string) error {
	actx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	w.mu.Lock()
	if w.paused {
		w.mu.Unlock()
		cancel()
		return nil
	}
	w.cancel = cancel
	w.mu.Unlock()
	var res []attempted
	if acts[0].Kind == cache.ActionTrack {
		res = w.tracks(actx, acts, user)
	} else {
		m, rep, err := w.attempt(actx, acts[0], user)
		res = []attempted{{m, rep, err}}
	}
	aerr := actx.Err()
	cancel()
	w.mu.Lock()
	w.cancel = nil
	paused := w.paused
	w.mu.Unlock()
	for i, a := range acts {
		if err := w.record(ctx, a, res[i], paused && aerr != nil); err != nil {
			return err
		}
	}
	return nil
}

// attempted is what one attempt at an action produced.
type attempted struct {
	m   cache.Message
	rep report
	err error
}

// record stores the outcome of one attempt: done, rescheduled or given up.
// switchedOff says the user paused the worker while it was under way.
func (w *Worker) record(ctx context.Context, a cache.Action, at attempted, switchedOff bool) error {
	m, err := at.m, at.err
	out := Outcome{Action: a, Message: m, Text: at.rep.text, Err: err, Sent: at.rep.sent, Envelope: at.rep.env}
	switch {
	case ctx.Err() != nil:
		return nil // shutting down: the row stays queued as it was
	case errors.Is(err, errLater):
		return nil // did not fit in the batch: still due, untouched
	case err == nil:
		out.Final = true
		if err := w.o.Store.Complete(ctx, a.ID, m); err != nil {
			return fmt.Errorf("outbox: record result: %w", err)
		}
		w.o.Report(ctx, nil)
	case switchedOff:
		return nil // switched off mid-request: not a failure, not an attempt
	case retryable(err):
		wait := w.o.Backoff.Delay(a.Attempts)
		if ra, ok := crm.RetryAfter(err); ok && ra > wait {
			wait = ra
		}
		if err := w.o.Store.Reschedule(ctx, a.ID, w.o.Clock.Now().Add(wait), int(crm.KindOf(err))); err != nil {
			return fmt.Errorf("outbox: reschedule: %w", err)
		}
		out.Message = cache.Message{}
		w.o.Report(ctx, err)
	default:
		out.Final = true
		if m.Key == "" {
			m.Key = a.Key
		}
		m.State, m.Reason = agent.Failed, int(track.ReasonFailed)
		out.Message = m
		if err := w.o.Store.Fail(ctx, a.ID, m); err != nil {
			return fmt.Errorf("outbox: record failure: %w", err)
		}
		if out.Text == "" {
			out.Text = crm.UserMessage(err)
		}
		w.o.Report(ctx, err)
	}
	w.o.Logger.Debug("outbox", "action", a.Kind.String(), "id", a.ID, "final", out.Final, "err", err)
	if w.o.Outcomes != nil {
		select {
		case w.o.Outcomes <- out:
		case <-ctx.Done():
		}
	}
	return nil
}

// retryable reports whether an action should wait and try again rather
// than give up: network trouble, throttling, outages, and an expired
// sign-in (the queue waits for the user to sign in again).
func retryable(err error) bool {
	if errors.Is(err, errGone) || errors.Is(err, errNotTracked) {
		return false
	}
	switch crm.KindOf(err) {
	case crm.KindUnauthorized, crm.KindBadResponse, crm.KindTLS:
		return true
	case crm.KindUnknown:
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	}
	return crm.IsTemporary(err)
}

var (
	errGone       = errors.New("the message is no longer in the mail folder")
	errNotTracked = errors.New("the message is not tracked")
)
