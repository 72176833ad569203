// Package sched provides the engine's sense of time: a Clock that tests can
// replace with a fake one, and the backoff and jitter every retry uses.
package sched

import (
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Timer is a stoppable one-shot timer.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did so.
	Stop() bool
}

// Clock tells the time and makes timers. The engine never calls time.Now
// or time.NewTimer directly, so tests can drive it step by step.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (Timer, <-chan time.Time)
}

// Real is the wall clock.
type Real struct{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// NewTimer starts a real timer.
func (Real) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	t := time.NewTimer(d)
	return t, t.C
}

// Fake is a manual clock for tests: time moves only on Advance.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer // pending, unordered; guarded by mu
}

type fakeTimer struct {
	f    *Fake
	when time.Time
	ch   chan time.Time
	done bool // fired or stopped; guarded by f.mu
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when Advance passes now+d.
func (f *Fake) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, when: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.done = true
		t.ch <- f.now
		return t, t.ch
	}
	f.timers = append(f.timers, t)
	return t, t.ch
}

// Stop cancels the timer.
func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock forward by d, firing due timers in time order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].when.Before(f.timers[j].when) })
	keep := f.timers[:0]
	for _, t := range f.timers {
		switch {
		case t.done:
		case !t.when.After(f.now):
			t.done = true
			t.ch <- t.when
		default:
			keep = append(keep, t)
		}
	}
	f.timers = keep
}

// Waiting returns how many timers are pending, so a test can wait until
// the code under test has armed its next timer before advancing.
func (f *Fake) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// Backoff computes capped exponential delays with jitter, so many agents
// recovering from the same outage do not reconnect in lockstep.
type Backoff struct {
	Base time.Duration // delay after the first failure
	Max  time.Duration // the cap
}

// Delay returns the wait before retry number attempt (0 for the first
// retry): a random duration in [d/2, d], where d = min(Max, Base*2^attempt).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Jitter returns d shifted by a random amount of up to ±frac of itself.
func Jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	span := time.Duration(float64(d) * frac)
	if span <= 0 {
		return d
	}
	return d - span + rand.N(2*span+1)
}
