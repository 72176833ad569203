package limit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	if secs, ok := New(1, time.Millisecond).Allow("k", time.Now()); !ok || secs != 0 {
		t.Fatal("first request refused")
	}
	l := New(1, 300*time.Millisecond)
	now := time.Now()
	l.Allow("k", now)
	if secs, ok := l.Allow("k", now); ok || secs != 1 {
		t.Fatalf("Retry-After must be at least 1, got %d", secs)
	}
	if _, ok := l.Allow("other", now); !ok {
		t.Fatal("the budget is per key")
	}
	if _, ok := l.Allow("k", now.Add(301*time.Millisecond)); !ok {
		t.Fatal("the window does not slide")
	}
}
