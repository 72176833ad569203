package sched

import (
	"context"
	"time"
)

// Kick asks a Periodic loop for a turn now. Its zero value is not
// usable; make one with NewKick.
type Kick chan struct{}

// NewKick returns a Kick that holds at most one request.
func NewKick() Kick { return make(Kick, 1) }

// Now asks for a turn; it never blocks, and requests made while one is
// waiting are one request.
func (k Kick) Now() {
	select {
	case k <- struct{}{}:
	default:
	}
}

// Periodic calls turn at once, then every interval after the previous
// turn ended, and whenever kick asks, until ctx ends. Turns never
// overlap: a kick during a turn gives one more turn after it.
func Periodic(ctx context.Context, interval time.Duration, kick Kick, turn func(context.Context)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		turn(ctx)
		t.Reset(interval)
	}
}
