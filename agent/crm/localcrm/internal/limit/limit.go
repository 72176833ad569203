// Package limit is the local CRM's sliding-window request budget, used for
// the Web API's service-protection request limit and for throttling
// sign-in attempts.
package limit

import (
	"sync"
	"time"
)

// Limiter allows at most limit requests per key within any window-long
// interval (a sliding window, as Dataverse evaluates its limit per user).
// It is safe for concurrent use.
type Limiter struct {
	limit  int
	window time.Duration

	mu   sync.Mutex
	hits map[string][]time.Time // per key, oldest first; never longer than limit
}

// New returns a Limiter of limit requests per window.
func New(limit int, window time.Duration) *Limiter {
	return &Limiter{limit: limit, window: window, hits: map[string][]time.Time{}}
}

// Allow records a request at now. When the budget is spent it reports
// false and the whole seconds (at least 1) until a slot frees up.
func (l *Limiter) Allow(key string, now time.Time) (retryAfter int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hits[key]
	cut := 0
	for cut < len(h) && !h[cut].After(now.Add(-l.window)) {
		cut++
	}
	h = h[cut:]
	if len(h) >= l.limit {
		l.hits[key] = h
		wait := h[0].Add(l.window).Sub(now)
		secs := int((wait + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		return secs, false
	}
	if len(h) == 0 {
		// Start a fresh slice so a long-idle key does not pin an old array.
		h = make([]time.Time, 0, 8)
	}
	l.hits[key] = append(h, now)
	return 0, true
}
