package protect

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake time source the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// run admits one request that takes d and ends it.
func run(t *testing.T, g *Guard, c *clock, user string, d time.Duration) {
	t.Helper()
	tk, refused := g.Admit(user)
	if refused != nil {
		t.Fatalf("refused: %+v", refused)
	}
	c.Advance(d)
	tk.Done()
}

func TestRequestLimitTripsAtItsNumber(t *testing.T) {
	c := newClock()
	g := New(Limits{Requests: 5, Window: 60 * time.Second}, c.Now)
	for range 5 {
		run(t, g, c, "alice", 0)
		c.Advance(10 * time.Second)
	}
	// Five requests at 0, 10, ..., 40 s; now is 50 s.
	_, r := g.Admit("alice")
	if r == nil {
		t.Fatal("the 6th request in the window was admitted")
	}
	if r.Code != CodeRequests || r.Message != "Number of requests exceeded the limit of 5 over time window of 60 seconds." {
		t.Fatalf("refusal %+v", r)
	}
	// The oldest request (0 s) leaves the window at 60 s.
	if r.RetryAfter != 10 {
		t.Fatalf("Retry-After %d, want 10", r.RetryAfter)
	}
	// Refused requests are not counted, and the budget is per user.
	run(t, g, c, "bob", 0)
	c.Advance(9500 * time.Millisecond)
	if _, r := g.Admit("alice"); r == nil || r.RetryAfter != 1 {
		t.Fatalf("0.5 s before the slot frees: %+v", r)
	}
	c.Advance(500 * time.Millisecond)
	run(t, g, c, "alice", 0)
	if _, r := g.Admit("alice"); r == nil {
		t.Fatal("only one slot freed, two were used")
	}
}

func TestDefaultsAndMessages(t *testing.T) {
	g := New(Limits{}, nil)
	l := g.Limits()
	if l.Requests != 6000 || l.Window != 300*time.Second || l.ExecTime != 1200*time.Second || l.Concurrent != 52 {
		t.Fatalf("defaults %+v", l)
	}
	for _, tc := range []struct{ got, want string }{
		{l.requestsMessage(), "Number of requests exceeded the limit of 6000 over time window of 300 seconds."},
		{l.execTimeMessage(), "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."},
		{l.concurrentMessage(), "Number of concurrent requests exceeded the limit of 52."},
	} {
		if tc.got != tc.want {
			t.Errorf("message\n got %q\nwant %q", tc.got, tc.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1200000: "1,200,000", -1234: "-1,234"} {
		if got := grouped(n); got != want {
			t.Errorf("grouped(%d) = %q", n, got)
		}
	}
}

func TestDefaultRequestLimit(t *testing.T) {
	c := newClock()
	g := New(Limits{}, c.Now)
	for i := range 6000 {
		tk, r := g.Admit("alice")
		if r != nil {
			t.Fatalf("request %d refused: %+v", i+1, r)
		}
		tk.Done()
		c.Advance(time.Millisecond)
	}
	_, r := g.Admit("alice")
	if r == nil || r.Code != CodeRequests || r.RetryAfter != 294 {
		t.Fatalf("request 6001: %+v", r)
	}
}

func TestExecTimeLimit(t *testing.T) {
	c := newClock()
	g := New(Limits{ExecTime: 10 * time.Second, Window: 60 * time.Second}, c.Now)
	run(t, g, c, "alice", 6*time.Second) // ends at 6 s
	run(t, g, c, "alice", 3999*time.Millisecond)
	c.Advance(time.Second)
	// 9.999 s spent: still below the limit.
	run(t, g, c, "alice", time.Millisecond) // now exactly 10 s spent; ends at 11 s
	_, r := g.Admit("alice")
	if r == nil || r.Code != CodeExecTime {
		t.Fatalf("10 s of 10 s spent: %+v", r)
	}
	want := "Combined execution time of incoming requests exceeded limit of 10,000 milliseconds over time window of 60 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
	if r.Message != want {
		t.Fatalf("message %q", r.Message)
	}
	// Dropping the first request (6 s, ended at 6 s) is enough; it leaves
	// the window at 66 s, and now is 11 s.
	if r.RetryAfter != 55 {
		t.Fatalf("Retry-After %d, want 55", r.RetryAfter)
	}
	c.Advance(55 * time.Second)
	run(t, g, c, "alice", 0)
}

func TestExecTimeRetryAfterNeedsSeveralSpans(t *testing.T) {
	c := newClock()
	g := New(Limits{ExecTime: 10 * time.Second, Window: 100 * time.Second}, c.Now)
	for range 3 {
		run(t, g, c, "u", 3*time.Second) // spans end at 3, 6, 9 s
	}
	run(t, g, c, "u", 6*time.Second) // admitted at 9 s spent; ends at 15 s, 15 s spent
	_, r := g.Admit("u")
	// Below 10 s needs 15-3-3 = 9: the second span must go, at 106 s.
	if r == nil || r.RetryAfter != 91 {
		t.Fatalf("refusal %+v, want Retry-After 91", r)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	c := newClock()
	g := New(Limits{}, c.Now)
	var tickets []*Ticket
	for i := range 52 {
		tk, r := g.Admit("alice")
		if r != nil {
			t.Fatalf("concurrent request %d refused: %+v", i+1, r)
		}
		tickets = append(tickets, tk)
	}
	_, r := g.Admit("alice")
	if r == nil || r.Code != CodeConcurrent || r.Message != "Number of concurrent requests exceeded the limit of 52." || r.RetryAfter != 1 {
		t.Fatalf("53rd concurrent request: %+v", r)
	}
	if _, r := g.Admit("bob"); r != nil {
		t.Fatalf("another user is not limited: %+v", r)
	}
	tickets[0].Done()
	tickets[0].Done() // idempotent: must not free a second slot
	tk, r := g.Admit("alice")
	if r != nil {
		t.Fatalf("after one ended: %+v", r)
	}
	if _, r := g.Admit("alice"); r == nil {
		t.Fatal("a second Done freed a second slot")
	}
	tk.Done()
	for _, tk := range tickets[1:] {
		tk.Done()
	}
	if n := g.users["alice"].active; n != 0 {
		t.Fatalf("%d still active", n)
	}
}

// TestConcurrencyRealGoroutines holds Concurrent requests open from real
// goroutines, checks the next is refused, then hammers the guard and checks
// that the number in flight never exceeds the limit (run with -race).
func TestConcurrencyRealGoroutines(t *testing.T) {
	g := New(Limits{Concurrent: 8, Requests: 1 << 30}, nil)
	release := make(chan struct{})
	var admitted, finished sync.WaitGroup
	for range 8 {
		admitted.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			tk, r := g.Admit("alice")
			admitted.Done()
			if r != nil {
				t.Errorf("refused: %+v", r)
				return
			}
			<-release
			tk.Done()
		}()
	}
	admitted.Wait()
	if _, r := g.Admit("alice"); r == nil || r.Code != CodeConcurrent {
		t.Fatalf("9th concurrent request: %+v", r)
	}
	close(release)
	finished.Wait()

	var inFlight, peak, ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				tk, r := g.Admit("alice")
				if r != nil {
					if r.Code != CodeConcurrent {
						t.Errorf("unexpected refusal %+v", r)
					}
					refused.Add(1)
					continue
				}
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				ok.Add(1)
				inFlight.Add(-1)
				tk.Done()
			}
		}()
	}
	wg.Wait()
	if peak.Load() > 8 {
		t.Fatalf("%d requests in flight, limit 8", peak.Load())
	}
	if ok.Load()+refused.Load() != 32*200 || ok.Load() == 0 {
		t.Fatalf("ok %d refused %d", ok.Load(), refused.Load())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if u := g.users["alice"]; u != nil && u.active != 0 {
		t.Fatalf("%d slots leaked", u.active)
	}
}

func TestHeadersCountDownAndRecover(t *testing.T) {
	c := newClock()
	g := New(Limits{Requests: 3, Window: 60 * time.Second, ExecTime: 2000 * time.Second}, c.Now)
	h := http.Header{}
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "3" || h.Get(HeaderTimeRemaining) != "2,000.00" {
		t.Fatalf("fresh user: %v", h)
	}
	run(t, g, c, "alice", 1540*time.Millisecond) // at 0 s
	c.Advance(20 * time.Second)
	tk, _ := g.Admit("alice") // at 21.54 s, still running
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "1" || h.Get(HeaderTimeRemaining) != "1,998.46" {
		t.Fatalf("after two: %v", h)
	}
	c.Advance(500 * time.Millisecond)
	tk.Done()
	g.Headers("alice", h)
	if h.Get(HeaderTimeRemaining) != "1,997.96" {
		t.Fatalf("after the second ended: %v", h)
	}
	c.Advance(39 * time.Second) // 61.04 s: the first request's start has left the window
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "2" || h.Get(HeaderTimeRemaining) != "1,997.96" {
		t.Fatalf("after the first start left the window: %v", h)
	}
	c.Advance(500 * time.Millisecond) // 61.54 s: its time, charged when it ended at 1.54 s, leaves too
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "2" || h.Get(HeaderTimeRemaining) != "1,999.50" {
		t.Fatalf("after its time left the window: %v", h)
	}
	c.Advance(time.Minute)
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "3" || h.Get(HeaderTimeRemaining) != "2,000.00" {
		t.Fatalf("idle for a window: %v", h)
	}
	// The default shape, as Dataverse sends it.
	d := New(Limits{}, c.Now)
	d.Headers("x", h)
	if h.Get(HeaderBurstRemaining) != "6000" || h.Get(HeaderTimeRemaining) != "1,200.00" {
		t.Fatalf("defaults: %v", h)
	}
}

// TestBatchIsOneRequest: a $batch is admitted once and runs as long as all
// its operations; it costs one request and its whole duration.
func TestBatchIsOneRequest(t *testing.T) {
	c := newClock()
	g := New(Limits{Requests: 2, ExecTime: 60 * time.Second}, c.Now)
	tk, r := g.Admit("alice")
	if r != nil {
		t.Fatal(r)
	}
	c.Advance(45 * time.Second) // 1000 operations, replayed without Admit
	tk.Done()
	h := http.Header{}
	g.Headers("alice", h)
	if h.Get(HeaderBurstRemaining) != "1" || h.Get(HeaderTimeRemaining) != "15.00" {
		t.Fatalf("after one batch: %v", h)
	}
	run(t, g, c, "alice", 15*time.Second)
	_, r = g.Admit("alice")
	if r == nil || (r.Code != CodeRequests && r.Code != CodeExecTime) {
		t.Fatalf("third request: %+v", r)
	}
}

func TestIdleUsersAreForgotten(t *testing.T) {
	c := newClock()
	g := New(Limits{Window: time.Minute}, c.Now)
	for i := range 1000 {
		run(t, g, c, "user"+strconv.Itoa(i), time.Millisecond)
	}
	tk, _ := g.Admit("busy") // a running request keeps its user
	c.Advance(2 * time.Minute)
	g.Headers("someone", http.Header{})
	g.mu.Lock()
	n := len(g.users)
	g.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d users kept, want only the one with a running request", n)
	}
	tk.Done() // charges its two minutes now, so the user stays a window more
	c.Advance(time.Minute)
	g.Headers("someone", http.Header{})
	g.mu.Lock()
	n = len(g.users)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d users kept a window after the last request ended", n)
	}
}

func TestRefusalWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set(HeaderBurstRemaining, "0")
	(&Refusal{Code: CodeRequests, Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds.", RetryAfter: 12}).Write(rec)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "12" || rec.Header().Get(HeaderBurstRemaining) != "0" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	e := body["error"]
	if len(body) != 1 || len(e) != 2 || e["code"] != "0x80072322" || e["message"] != "Number of requests exceeded the limit of 6000 over time window of 300 seconds." {
		t.Fatalf("body %s", rec.Body)
	}
}
