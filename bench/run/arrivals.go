package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
)

// arrivals delivers 2,000 messages at 50 per second into a watched
// Maildir and measures each from its rename into new/ to its decision
// being durably recorded (the engine publishes it after the commit). The
// local CRM runs in its own process, as a CRM does, so the agent neither
// collects its garbage nor shares its scheduler. The floor is measured in
// the same run: fsnotify's event latency, one loopback WhoAmI round trip
// to that same CRM process, and one SQLite WAL commit.
func (h *harness) arrivals(ctx context.Context) error {
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	dir := filepath.Join(h.tmp, "arrivals")
	mdir, err := newMaildir(filepath.Join(dir, "Maildir"))
	if err != nil {
		return err
	}
	r, err := h.startEngine(ctx, dir, mdir, c.url, agent.TrackFromCRMRecords)
	if err != nil {
		return err
	}
	defer r.stop()
	if err := r.waitOnline(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := r.e.Subscribe(sctx)

	const n, rate = 2000, 50
	sent := make(map[agent.MessageKey]time.Time, n)
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
	contacts := []string{"Maria Campbell <maria.campbell@contoso.example>", "Thomas Andersen <thomas.andersen@contoso.example>",
		"Sam Stranger <sam@unknown.example>", "Pat Prospect <pat@prospect.example>"}
	now := time.Now()
	for i := range n {
		<-tick.C
		key := agent.MessageKey(fmt.Sprintf("%d.M%dP%d.bench", now.Unix(), i, os.Getpid()))
		msg := message(contacts[i%len(contacts)], fmt.Sprintf("Arrival %d", i), fmt.Sprintf("arrival-%06d@bench.example", i), now, 2048)
		tmp := filepath.Join(mdir, "tmp", string(key))
		if err := os.WriteFile(tmp, msg, 0o600); err != nil {
			return err
		}
		t0 := time.Now()
		if err := os.Rename(tmp, filepath.Join(mdir, "new", string(key))); err != nil {
			return err
		}
		sent[key] = t0
		arrived <- struct {
			k  agent.MessageKey
			at time.Time
		}{key, t0}
	}
	<-decided
	if len(lat) < n {
		return fmt.Errorf("only %d of %d arrivals were decided within 30 s of the last", len(lat), n)
	}
	p99 := percentile(lat, 99)

	// The floor, measured now on the same machine.
	fs, err := fsnotifyLatency(filepath.Join(h.tmp, "fsnotify"), 500)
	if err != nil {
		return err
	}
	rtt, err := whoAmIRTT(ctx, c.url, 500)
	if err != nil {
		return err
	}
	commit, err := walCommit(ctx, filepath.Join(h.tmp, "commit.db"), 500)
	if err != nil {
		return err
	}
	floor := percentile(fs, 50) + percentile(rtt, 50) + percentile(commit, 50)
	h.metric("arrival_to_decision_p99_ms", ms(p99), "ms")
	h.metric("arrival_to_decision_p50_ms", ms(percentile(lat, 50)), "ms")
	h.metric("arrival_to_decision_p99_over_floor", float64(p99)/float64(floor), "ratio")
	h.metric("floor_fsnotify_p50_ms", ms(percentile(fs, 50)), "ms")
	h.metric("floor_loopback_whoami_p50_ms", ms(percentile(rtt, 50)), "ms")
	h.metric("floor_wal_commit_p50_ms", ms(percentile(commit, 50)), "ms")
	checks, size, err := c.checks()
	if err != nil {
		return fmt.Errorf("reading the CRM's request count: %w", err)
	}
	if checks > 0 {
		h.metric("wire_bytes_per_decision", float64(size)/float64(checks), "bytes")
	}
	return nil
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
