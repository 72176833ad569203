package sched

import (
	"testing"
	"time"
)

func TestFakeTimersFireInOrder(t *testing.T) {
	f := NewFake(time.Unix(1000, 0))
	_, a := f.NewTimer(2 * time.Second)
	tb, b := f.NewTimer(time.Second)
	_, c := f.NewTimer(5 * time.Second)
	if f.Waiting() != 3 {
		t.Fatalf("Waiting = %d, want 3", f.Waiting())
	}
	f.Advance(1500 * time.Millisecond)
	select {
	case at := <-b:
		if !at.Equal(time.Unix(1001, 0)) {
			t.Errorf("b fired at %v", at)
		}
	default:
		t.Fatal("b did not fire at 1.5 s")
	}
	select {
	case <-a:
		t.Fatal("a fired early")
	default:
	}
	if tb.Stop() {
		t.Error("Stop of a fired timer reported true")
	}
	f.Advance(time.Second)
	<-a
	select {
	case <-c:
		t.Fatal("c fired early")
	default:
	}
	if f.Waiting() != 1 {
		t.Errorf("Waiting = %d, want 1", f.Waiting())
	}
	_, z := f.NewTimer(0)
	<-z
}

func TestStoppedTimerNeverFires(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm, ch := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	f.Advance(time.Hour)
	select {
	case <-ch:
		t.Fatal("stopped timer fired")
	default:
	}
}

func TestBackoffBounds(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute}
	for attempt := range 12 {
		want := time.Second << attempt
		if want > time.Minute {
			want = time.Minute
		}
		for range 200 {
			d := b.Delay(attempt)
			if d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	for range 200 {
		if d := Jitter(10*time.Second, 0.1); d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("Jitter = %v, want within 10 s ± 1 s", d)
		}
	}
}
