package protect

import (
	"sync"
	"time"
)

// Guard tracks every user's budget. It is safe for concurrent use.
type Guard struct {
	lim Limits
	now func() time.Time

	mu        sync.Mutex
	users     map[string]*usage
	lastSweep time.Time
}

// usage is one user's state. Both slices are oldest first and hold only
// entries inside the window, so a user costs at most about Requests +
// Concurrent entries, and an idle user costs nothing once swept.
type usage struct {
	starts []time.Time // admission times of the requests counted in the window
	spans  []span      // finished requests whose end lies in the window
	spent  time.Duration
	active int
}

// span is the execution time of one finished request. The whole duration
// is charged at the moment the request ends, which is when the server can
// first know it; it leaves the window Window after that moment.
type span struct {
	end time.Time
	d   time.Duration
}

// Ticket is an admitted request; the caller must call Done when it ends.
type Ticket struct {
	g     *Guard
	user  string
	start time.Time
	once  sync.Once
}

// New returns a Guard with the limits l (zero fields mean Dataverse's
// defaults) reading time from now (time.Now when nil; tests inject a fake
// clock).
func New(l Limits, now func() time.Time) *Guard {
	if now == nil {
		now = time.Now
	}
	return &Guard{lim: l.withDefaults(), now: now, users: map[string]*usage{}}
}

// Limits returns the limits in force, defaults filled in.
func (g *Guard) Limits() Limits { return g.lim }

// Admit checks user's budget before a request runs. On success the request
// is counted at once (requests and concurrency) and the caller must call
// t.Done when the request ends. On refusal nothing is counted, so that a
// client which honours Retry-After recovers; refused is then the 429 to send.
//
// The checks run in the order concurrency, requests, execution time: the
// concurrency limit "trips at once", the other two once the window is full.
func (g *Guard) Admit(user string) (t *Ticket, refused *Refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.maybeSweep(now)
	u := g.users[user]
	if u == nil {
		u = &usage{}
		g.users[user] = u
	}
	u.prune(now, g.lim.Window)
	switch {
	case u.active >= g.lim.Concurrent:
		// A slot frees when any of the user's running requests ends, which
		// nobody can predict; 1 s is the smallest whole value Retry-After
		// can carry, so a well-behaved client tries again soonest.
		return nil, &Refusal{Code: CodeConcurrent, Message: g.lim.concurrentMessage(), RetryAfter: 1}
	case len(u.starts) >= g.lim.Requests:
		// Room appears when the oldest counted request leaves the window.
		wait := u.starts[0].Add(g.lim.Window).Sub(now)
		return nil, &Refusal{Code: CodeRequests, Message: g.lim.requestsMessage(), RetryAfter: wholeSeconds(wait)}
	case u.spent >= g.lim.ExecTime:
		return nil, &Refusal{Code: CodeExecTime, Message: g.lim.execTimeMessage(), RetryAfter: wholeSeconds(u.execWait(now, g.lim))}
	}
	u.starts = append(u.starts, now)
	u.active++
	return &Ticket{g: g, user: user, start: now}, nil
}

// Done ends an admitted request: it frees the concurrency slot and charges
// the request's duration to the execution-time budget. Calling it again
// does nothing.
func (t *Ticket) Done() {
	if t == nil {
		return
	}
	t.once.Do(t.g.done(t))
}

func (g *Guard) done(t *Ticket) func() {
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		now := g.now()
		u := g.users[t.user]
		if u == nil {
			// Cannot happen: a user with a running request is never
			// swept. Guard against it anyway rather than panic.
			return
		}
		u.active--
		if d := now.Sub(t.start); d > 0 {
			u.spans = append(u.spans, span{end: now, d: d})
			u.spent += d
		}
		u.prune(now, g.lim.Window)
		if u.idle() {
			delete(g.users, t.user)
		}
	}
}

// execWait is how long until enough execution time leaves the window for
// the combined time to drop below the limit.
func (u *usage) execWait(now time.Time, l Limits) time.Duration {
	left := u.spent
	for _, s := range u.spans {
		left -= s.d
		if left < l.ExecTime {
			return s.end.Add(l.Window).Sub(now)
		}
	}
	return l.Window // not reached: spent is the sum of the spans
}

// prune drops what has left the window: an entry made at t counts while
// now < t+window.
func (u *usage) prune(now time.Time, window time.Duration) {
	cut := now.Add(-window)
	i := 0
	for i < len(u.starts) && !u.starts[i].After(cut) {
		i++
	}
	u.starts = shrink(u.starts[i:])
	j := 0
	for j < len(u.spans) && !u.spans[j].end.After(cut) {
		u.spent -= u.spans[j].d
		j++
	}
	u.spans = shrink(u.spans[j:])
	if len(u.spans) == 0 {
		u.spent = 0 // no drift from rounding: nothing is left to charge
	}
}

// shrink lets an emptied slice release its array, so that a user who was
// busy once does not pin a large backing array forever.
func shrink[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func (u *usage) idle() bool {
	return u.active == 0 && len(u.starts) == 0 && len(u.spans) == 0
}

// maybeSweep prunes every user once per window and forgets idle ones, so
// that users who never come back cost nothing. Amortized over a window of
// traffic its cost is constant per request.
func (g *Guard) maybeSweep(now time.Time) {
	if now.Sub(g.lastSweep) < g.lim.Window && !now.Before(g.lastSweep) {
		return
	}
	g.lastSweep = now
	for name, u := range g.users {
		u.prune(now, g.lim.Window)
		if u.idle() {
			delete(g.users, name)
		}
	}
}

// wholeSeconds rounds a wait up to whole seconds, at least 1, as
// Retry-After carries it.
func wholeSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}
