package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWaitEngineIsBounded proves shutdown does not hang on an engine that
// never returns, and says what is left.
func TestWaitEngineIsBounded(t *testing.T) {
	never := make(chan error)
	start := time.Now()
	err := waitEngine(never, 50*time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waitEngine took %v with a 50 ms bound", d)
	}
	if !errors.Is(err, errEngineStuck) || !strings.Contains(err.Error(), "kept and sent on the next start") {
		t.Errorf("waitEngine on a stuck engine: %v", err)
	}
	done := make(chan error, 1)
	done <- context.Canceled
	if err := waitEngine(done, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("waitEngine of a stopped engine: %v", err)
	}
}

// TestWatchEngine proves the tray learns of an engine failure while the
// app runs, and not of a normal shutdown.
func TestWatchEngine(t *testing.T) {
	cases := []struct {
		name      string
		cancelled bool
		runErr    error
		want      string // the reason passed on; "" means none
	}{
		{"failure", false, errors.New("cache: disk I/O error"), "disk I/O error"},
		{"ended without error", false, nil, "ended on its own"},
		{"normal shutdown", true, context.Canceled, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancelled {
				cancel()
			}
			done, result := make(chan error, 1), make(chan error, 1)
			var got error
			watched := make(chan struct{})
			go func() {
				watchEngine(ctx, done, result, func(err error) { got = err })
				close(watched)
			}()
			done <- c.runErr
			<-watched
			if err := <-result; err != c.runErr {
				t.Errorf("shutdown would see %v, want %v", err, c.runErr)
			}
			switch {
			case c.want == "" && got != nil:
				t.Errorf("a normal shutdown was reported as a failure: %v", got)
			case c.want != "" && (got == nil || !strings.Contains(got.Error(), c.want)):
				t.Errorf("reported %v, want a reason containing %q", got, c.want)
			}
		})
	}
}
