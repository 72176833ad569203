package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
)

// arrivalRuns is how many times the arrival measurement runs; each
// figure reported is the median of the runs, so that one hiccup of the
// machine does not decide a bound.
const arrivalRuns = 3

// arrivalRun is one run's measurements: the latencies and, measured right
// after them, the floor's parts and what the CRM was sent.
type arrivalRun struct {
	lat                []time.Duration
	fsnotify, rtt, wal []time.Duration
	st                 crmStats
}

// floorAt is the floor at percentile p: the sum of its parts' p-th
// percentiles.
func (r arrivalRun) floorAt(p float64) time.Duration {
	return percentile(r.fsnotify, p) + percentile(r.rtt, p) + percentile(r.wal, p)
}

// arrivals runs the arrival measurement arrivalRuns times and reports
// the median of each figure. The bounds compare like with like: the p99
// of arrivals with the sum of the floor's p99s, the p50 with the sum of
// p50s, each floor measured in the same run; the older ratio (p99 over
// the p50 floor) is still reported.
func (h *harness) arrivals(ctx context.Context) error {
	var runs []arrivalRun
	for i := range arrivalRuns {
		r, err := h.arrivalRun(ctx, i)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	med := func(f func(r arrivalRun) float64) float64 {
		vs := make([]float64, len(runs))
		for i, r := range runs {
			vs[i] = f(r)
		}
		sort.Float64s(vs)
		return vs[len(vs)/2]
	}
	ratio := func(a, b time.Duration) float64 { return float64(a) / float64(b) }
	h.metric("arrival_to_decision_p99_ms", med(func(r arrivalRun) float64 { return ms(percentile(r.lat, 99)) }), "ms")
	h.metric("arrival_to_decision_p50_ms", med(func(r arrivalRun) float64 { return ms(percentile(r.lat, 50)) }), "ms")
	h.metric("arrival_to_decision_p99_over_floor", med(func(r arrivalRun) float64 { return ratio(percentile(r.lat, 99), r.floorAt(50)) }), "ratio")
	h.metric("arrival_to_decision_p99_over_floor_p99", med(func(r arrivalRun) float64 { return ratio(percentile(r.lat, 99), r.floorAt(99)) }), "ratio")
	h.metric("arrival_to_decision_p50_over_floor_p50", med(func(r arrivalRun) float64 { return ratio(percentile(r.lat, 50), r.floorAt(50)) }), "ratio")
	for _, p := range []float64{50, 99} {
		h.metric(fmt.Sprintf("floor_fsnotify_p%.0f_ms", p), med(func(r arrivalRun) float64 { return ms(percentile(r.fsnotify, p)) }), "ms")
		h.metric(fmt.Sprintf("floor_loopback_whoami_p%.0f_ms", p), med(func(r arrivalRun) float64 { return ms(percentile(r.rtt, p)) }), "ms")
		h.metric(fmt.Sprintf("floor_wal_commit_p%.0f_ms", p), med(func(r arrivalRun) float64 { return ms(percentile(r.wal, p)) }), "ms")
	}
	var checks, size, early int64
	for _, r := range runs {
		checks += r.st.Checks
		size += r.st.Bytes
		early += r.st.Early
	}
	if checks > 0 {
		// A decision request is a plain CheckIncomingEmail GET or a $batch
		// of GETs holding CheckIncomingEmail parts (with the address and
		// duplicate lookups that go with them): its bytes are shared by
		// the decisions it carries.
		h.metric("wire_bytes_per_decision", float64(size)/float64(checks), "bytes")
	}
	h.metric("decision_requests_with_body", float64(early), "requests")
	return nil
}

// arrivalRun delivers 2,000 messages at 50 per second into a watched
// Maildir and measures each from its rename into new/ to its decision
// being durably recorded (the engine publishes it after the commit). The
// local CRM runs in its own process, as a CRM does, so the agent neither
// collects its garbage nor shares its scheduler. The floor is measured in
// the same run: fsnotify's event latency, one loopback WhoAmI round trip
// to that same CRM process, and one SQLite WAL commit.
func (h *harness) arrivalRun(ctx context.Context, run int) (arrivalRun, error) {
	var out arrivalRun
	c, err := h.newCRM(ctx)
	if err != nil {
		return out, err
	}
	defer c.close()
	name := fmt.Sprintf("arrivals-%d", run)
	dir := filepath.Join(h.tmp, name)
	r, mdir, err := h.onlineAgent(ctx, name, c.url)
	if err != nil {
		return out, err
	}
	defer r.stop()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := r.e.Subscribe(sctx)

	const n, rate = 2000, 50
	var lat []time.Duration
	decided := make(chan struct{})
	arrived := make(chan struct {
		k  agent.MessageKey
		at time.Time
	}, n)
	go func() {
		defer close(decided)
		pending := map[agent.MessageKey]time.Time{}
		seen := map[agent.MessageKey]time.Time{}
		for len(lat) < n {
			select {
			case a := <-arrived:
				if at, ok := seen[a.k]; ok {
					lat = append(lat, at.Sub(a.at))
					delete(seen, a.k)
				} else {
					pending[a.k] = a.at
				}
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Item == nil || ev.Item.Track == agent.Tracked {
					continue
				}
				now := time.Now()
				if t0, ok := pending[ev.Item.Key]; ok {
					lat = append(lat, now.Sub(t0))
					delete(pending, ev.Item.Key)
				} else if _, dup := seen[ev.Item.Key]; !dup {
					seen[ev.Item.Key] = now
				}
			case <-time.After(30 * time.Second):
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	senders := []string{"Maria Campbell <maria.campbell@contoso.example>", "Thomas Andersen <thomas.andersen@contoso.example>",
		"Sam Stranger <sam@unknown.example>", "Pat Prospect <pat@prospect.example>"}
	now := time.Now()
	for i := range n {
		<-tick.C
		key := agent.MessageKey(fmt.Sprintf("%d.M%dP%d.bench", now.Unix(), i, os.Getpid()))
		msg := message(senders[i%len(senders)], fmt.Sprintf("Arrival %d", i), fmt.Sprintf("arrival-%06d@bench.example", i), now, 2048)
		tmp := filepath.Join(mdir, "tmp", string(key))
		if err := os.WriteFile(tmp, msg, 0o600); err != nil {
			return out, err
		}
		t0 := time.Now()
		if err := os.Rename(tmp, filepath.Join(mdir, "new", string(key))); err != nil {
			return out, err
		}
		arrived <- struct {
			k  agent.MessageKey
			at time.Time
		}{key, t0}
	}
	<-decided
	if len(lat) < n {
		return out, fmt.Errorf("only %d of %d arrivals were decided within 30 s of the last", len(lat), n)
	}
	out.lat = lat

	// The floor, measured now on the same machine.
	if out.fsnotify, err = fsnotifyLatency(filepath.Join(dir, "fsnotify"), 500); err != nil {
		return out, err
	}
	if out.rtt, err = whoAmIRTT(ctx, c.url, 500); err != nil {
		return out, err
	}
	if out.wal, err = walCommit(ctx, filepath.Join(dir, "commit.db"), 500); err != nil {
		return out, err
	}
	if out.st, err = c.stats(0); err != nil {
		return out, fmt.Errorf("reading the CRM's request count: %w", err)
	}
	return out, nil
}

// fsnotifyLatency renames n files into a watched directory and returns
// the delay of each CREATE event.
func fsnotifyLatency(dir string, n int) ([]time.Duration, error) {
	for _, sub := range []string{"tmp", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := w.Add(filepath.Join(dir, "new")); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range n {
		tmp := filepath.Join(dir, "tmp", fmt.Sprint(i))
		if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := os.Rename(tmp, filepath.Join(dir, "new", fmt.Sprint(i))); err != nil {
			return nil, err
		}
		select {
		case <-w.Events:
			out = append(out, time.Since(t0))
		case err := <-w.Errors:
			return nil, err
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("no fsnotify event within 5 s")
		}
	}
	return out, nil
}

// whoAmIRTT times n WhoAmI calls on one signed-in client.
func whoAmIRTT(ctx context.Context, url string, n int) ([]time.Duration, error) {
	c, err := crm.New(crm.Config{URL: url})
	if err != nil {
		return nil, err
	}
	if err := c.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.WhoAmI(ctx); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// walCommit times n single-row commits to the cache, as synced as the
// agent's own.
func walCommit(ctx context.Context, path string, n int) ([]time.Duration, error) {
	s, err := cache.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := s.PutMessage(ctx, cache.Message{Key: agent.MessageKey(fmt.Sprintf("%d.M%dP1.floor", 1_700_000_000+i, i))}); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}
