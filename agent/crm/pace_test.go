package crm

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestParseRemaining(t *testing.T) {
	for in, want := range map[string]float64{"5999": 5999, "5,999": 5999, " 12.5 ": 12.5, "1,199,997.25": 1199997.25, "0": 0} {
		if got, ok := parseRemaining(in); !ok || got != want {
			t.Errorf("parseRemaining(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "abc", "NaN", "Inf", "1e400", "12 apples", "--3"} {
		if got, ok := parseRemaining(in); ok {
			t.Errorf("parseRemaining(%q) = %v, want ignored", in, got)
		}
	}
}

// simServer is Dataverse's request limit as the docs describe it: at most
// limit requests per user in any window-long interval; refused requests
// do not count; Retry-After in whole seconds until the oldest leaves.
type simServer struct {
	limit  int
	window time.Duration
	hits   []time.Time
	noHdr  bool // send no rate-limit headers
}

func (s *simServer) serve(now time.Time) (status int, h http.Header, ra time.Duration) {
	for len(s.hits) > 0 && !s.hits[0].After(now.Add(-s.window)) {
		s.hits = s.hits[1:]
	}
	h = http.Header{}
	if len(s.hits) >= s.limit {
		wait := s.hits[0].Add(s.window).Sub(now)
		secs := max(1, int((wait+time.Second-1)/time.Second))
		if !s.noHdr {
			h.Set(hdrBurstRemaining, "0")
		}
		return 429, h, time.Duration(secs) * time.Second
	}
	s.hits = append(s.hits, now)
	if !s.noHdr {
		h.Set(hdrBurstRemaining, strconv.Itoa(s.limit-len(s.hits)))
		h.Set(hdrTimeRemaining, "1,199,000.5")
	}
	return 200, h, 0
}

// drain runs n requests one after another through a pacer against srv
// on a simulated clock, each taking latency, honouring Retry-After as the
// client's gate does. It returns the simulated time taken, the 429s, and
// the longest single hold the pacer asked for.
func drain(p *pacer, srv *simServer, n int, latency time.Duration) (took time.Duration, throttled int, longest time.Duration) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var gate time.Time
	for done := 0; done < n; {
		if now.Before(gate) {
			now = gate
		}
		seq, wait := p.reserve(now)
		if wait > 0 {
			longest = max(longest, wait)
			now = now.Add(wait)
			continue
		}
		arrive := now.Add(latency / 2)
		status, h, ra := srv.serve(arrive)
		now = now.Add(latency)
		p.observe(seq, h)
		if status == 429 {
			throttled++
			p.throttled(seq, now, ra)
			gate = now.Add(ra)
			continue
		}
		done++
	}
	return now.Sub(start), throttled, longest
}

// TestPacerDrainsAtTheServersPace: against 20 requests per 10 s, a long
// drain learns L and W from the answers and keeps going at ≥ 1.6
// requests a second with at most two 429s, sleeping on a fake clock.
func TestPacerDrainsAtTheServersPace(t *testing.T) {
	for _, latency := range []time.Duration{time.Millisecond, 40 * time.Millisecond, 300 * time.Millisecond} {
		p := newPacer()
		srv := &simServer{limit: 20, window: 10 * time.Second}
		const n = 400
		took, throttled, _ := drain(p, srv, n, latency)
		rate := float64(n) / took.Seconds()
		t.Logf("latency %v: %.2f requests/s, %d 429s, learned W %v", latency, rate, throttled, p.window)
		if throttled > 2 || rate < 1.6 {
			t.Errorf("latency %v: %d requests took %v (%.2f/s) with %d 429s; want ≥ 1.6/s and ≤ 2", latency, n, took, rate, throttled)
		}
		if p.limit != 20 || p.window < 10*time.Second || p.window > 11*time.Second {
			t.Errorf("latency %v: learned L=%d W=%v, want 20 and about 10 s", latency, p.limit, p.window)
		}
	}
}

// TestPacerNeverSlowsNormalUse: with Dataverse's defaults (6000 per
// 300 s), a busy spell of a thousand requests is never held.
func TestPacerNeverSlowsNormalUse(t *testing.T) {
	p := newPacer()
	srv := &simServer{limit: 6000, window: 300 * time.Second}
	took, throttled, longest := drain(p, srv, 1000, 20*time.Millisecond)
	if throttled != 0 || longest != 0 || took != 1000*20*time.Millisecond {
		t.Errorf("1000 requests: took %v, %d 429s, longest hold %v; want no hold at all", took, throttled, longest)
	}
}

// TestPacerWithoutHeaders: a server that sends no rate-limit headers is
// never paced; its Retry-After still holds every request.
func TestPacerWithoutHeaders(t *testing.T) {
	p := newPacer()
	srv := &simServer{limit: 5, window: 2 * time.Second, noHdr: true}
	_, _, longest := drain(p, srv, 30, time.Millisecond)
	if longest != 0 || p.limit != 0 {
		t.Errorf("no headers: the pacer held %v (L=%d); it must only follow Retry-After", longest, p.limit)
	}
}

// TestPacerProbesOneAtATime: with the budget spent and the window not
// yet known, only one request at a time goes out to learn it.
func TestPacerProbesOneAtATime(t *testing.T) {
	p := newPacer()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq, _ := p.reserve(now)
	h := http.Header{}
	h.Set(hdrBurstRemaining, "0")
	p.observe(seq, h) // L = 1, budget spent
	first, w1 := p.reserve(now)
	_, w2 := p.reserve(now)
	if w1 != 0 || w2 == 0 {
		t.Fatalf("after the budget is spent: first waits %v, second %v; want one probe, the rest held", w1, w2)
	}
	p.throttled(first, now, 3*time.Second)
	if !p.learnedW || p.window != 3*time.Second {
		t.Errorf("after the probe's 429: W=%v learned=%v, want 3 s", p.window, p.learnedW)
	}
	if _, w := p.reserve(now.Add(time.Second)); w <= 0 {
		t.Error("a slot was given before the logged request left the window")
	}
	if _, w := p.reserve(now.Add(3*time.Second + p.margin())); w != 0 {
		t.Errorf("the slot did not free after the window: wait %v", w)
	}
}

// TestPacerLogBounded: the send log never outgrows its bound.
func TestPacerLogBounded(t *testing.T) {
	p := newPacer()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxSendLog + 100 {
		p.reserve(now.Add(time.Duration(i) * time.Millisecond))
	}
	if len(p.log) > maxSendLog {
		t.Errorf("log holds %d entries, bound %d", len(p.log), maxSendLog)
	}
	p.reserve(now.Add(2 * maxWindow))
	if len(p.log) != 1 {
		t.Errorf("after two hours the log holds %d entries, want 1", len(p.log))
	}
}
