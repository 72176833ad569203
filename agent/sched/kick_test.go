package sched

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestPeriodic: a turn at once, one per kick (kicks while one waits count
// once), none overlapping, and the loop ends with its context.
func TestPeriodic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	kick := NewKick()
	var turns, running, overlap atomic.Int64
	started := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Periodic(ctx, time.Hour, kick, func(context.Context) {
			if running.Add(1) > 1 {
				overlap.Add(1)
			}
			turns.Add(1)
			started <- struct{}{}
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
		})
	}()
	<-started // the first turn, at once
	kick.Now()
	kick.Now() // while one request waits: the same request
	kick.Now()
	<-started
	deadline := time.After(2 * time.Second)
	select {
	case <-started:
		t.Fatal("three kicks during a turn gave more than one more turn")
	case <-time.After(200 * time.Millisecond):
	case <-deadline:
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Periodic did not end with its context")
	}
	if turns.Load() != 2 || overlap.Load() != 0 {
		t.Fatalf("turns = %d, overlaps = %d; want 2 and 0", turns.Load(), overlap.Load())
	}
}
