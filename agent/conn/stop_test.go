package conn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/sched"
)

// hangSession is a Session whose sign-in waits until its ctx ends, so a
// probe is always in flight; it counts the probes still running.
type hangSession struct{ inFlight atomic.Int32 }

func (h *hangSession) SignIn(ctx context.Context, c agent.Credentials) error {
	h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}
func (h *hangSession) WhoAmI(ctx context.Context) (crm.Identity, error)         { return crm.Identity{}, nil }
func (h *hangSession) CanSync(ctx context.Context, userID string) (bool, error) { return true, nil }
func (h *hangSession) SignOut()                                                 {}
func (h *hangSession) CloseIdle()                                               {}

// returnsWithin runs fn and fails the test if it has not returned within d.
func returnsWithin(t *testing.T, what string, d time.Duration, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		return nil
	}
}

// TestCallsAfterRunReturnAtOnce proves every call made after Run has
// returned ends at once with ErrStopped, even with a context that never
// ends, and that Run does not leave its probe running.
func TestCallsAfterRunReturnAtOnce(t *testing.T) {
	sess := &hangSession{}
	s := New(Options{Session: sess, Clock: sched.NewFake(time.Unix(0, 0))})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	if err := s.SetCredentials(ctx, &agent.Credentials{CRMURL: "x", Username: "a@b", Secret: "pw"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sess.inFlight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no probe started within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-runDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if n := sess.inFlight.Load(); n != 0 {
		t.Errorf("Run returned with %d probes still running", n)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done is not closed after Run returned")
	}

	bg := context.Background()
	calls := map[string]func() error{
		"SetEnabled":     func() error { return s.SetEnabled(bg, false) },
		"SetCredentials": func() error { return s.SetCredentials(bg, nil) },
		"RetryNow":       func() error { return s.RetryNow(bg) },
		"ProbeNow":       func() error { return s.ProbeNow(bg) },
		"Report":         func() error { return s.Report(bg, errors.New("boom")) },
	}
	for name, call := range calls {
		if err := returnsWithin(t, name+" after Run", time.Second, call); !errors.Is(err, ErrStopped) {
			t.Errorf("%s after Run: %v, want ErrStopped", name, err)
		}
	}
	if err := s.Run(bg); err == nil {
		t.Error("a second Run was accepted")
	}
}

// TestCallBeforeRunIsBoundedByCtx proves a call made before Run starts
// waits no longer than its context, and one that is waiting when Run
// starts is served.
func TestCallBeforeRunIsBoundedByCtx(t *testing.T) {
	s := New(Options{Session: &hangSession{}, Clock: sched.NewFake(time.Unix(0, 0))})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := returnsWithin(t, "Report before Run", 5*time.Second, func() error { return s.Report(ctx, nil) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Report before Run: %v, want the context's deadline", err)
	}

	waiting := make(chan error, 1)
	go func() { waiting <- s.RetryNow(context.Background()) }()
	runCtx, stop := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(runCtx) }()
	if err := returnsWithin(t, "RetryNow waiting for Run", 5*time.Second, func() error { return <-waiting }); err != nil {
		t.Errorf("RetryNow made before Run: %v, want it served once Run started", err)
	}
	stop()
	<-runDone
}

// TestReportRacesShutdown has the outbox's reports race Run's end: every
// Report must return (served or ErrStopped), none may block. Run it with
// -race and -count=N.
func TestReportRacesShutdown(t *testing.T) {
	for i := range 50 {
		sess := &hangSession{}
		s := New(Options{Session: sess, Clock: sched.NewFake(time.Unix(0, 0))})
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		go func() { runDone <- s.Run(ctx) }()
		if err := s.SetCredentials(ctx, &agent.Credentials{CRMURL: "x", Username: "a@b", Secret: "pw"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var stopped atomic.Int32
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; ; j++ {
					var rep error
					if (g+j)%2 == 1 {
						rep = crm.ErrNetwork
					}
					err := s.Report(context.Background(), rep)
					if errors.Is(err, ErrStopped) {
						stopped.Add(1)
						return
					}
					if err != nil {
						t.Errorf("Report: %v", err)
						return
					}
				}
			}()
		}
		cancel()
		allDone := make(chan struct{})
		go func() { wg.Wait(); close(allDone) }()
		select {
		case <-allDone:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a Report blocked after shutdown", i)
		}
		<-runDone
		if stopped.Load() != 4 {
			t.Fatalf("round %d: %d reporters saw ErrStopped, want 4", i, stopped.Load())
		}
	}
}
