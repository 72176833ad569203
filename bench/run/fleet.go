package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// The fleet: agents, messages each, and the CRM's cap on requests served
// at once.
const (
	fleetAgents  = 20
	fleetEach    = 100
	fleetWorkers = 8
)

// fleetCreds is the i-th fleet user (from 1), as crmserver -users makes
// them.
func fleetCreds(i int) (user, password string) {
	return fmt.Sprintf("fleet%02d@demo.local", i), fmt.Sprintf("fleet-%02d", i)
}

// fleet runs 20 agents, each its own user with its own cache, Maildir
// and client (engines in this process, as the other steps run them),
// against one CRM with the default per-user request limits and at most 8
// requests served at once. Each agent receives 100 messages from CRM
// contacts in bursts of 20 every 250 ms, the agents' bursts interleaved.
// It reports the fleet's tracking rate (first arrival to last activity
// completed), the p99 from a message's arrival to its activity completed
// in the CRM, and the 429 answers, and checks that exactly 2,000
// completed activities exist, one per Message-ID.
func (h *harness) fleet(ctx context.Context) error {
	c, err := h.newCRM(ctx, "-users", fmt.Sprint(fleetAgents), "-max-concurrent", fmt.Sprint(fleetWorkers),
		"-limit-requests", fmt.Sprint(localcrm.DefaultRateLimit), "-limit-window", localcrm.DefaultRateWindow.String())
	if err != nil {
		return err
	}
	defer c.close()
	rigs := make([]*rig, fleetAgents)
	mdirs := make([]string, fleetAgents)
	defer func() {
		for _, r := range rigs {
			if r != nil {
				r.stop()
			}
		}
	}()
	for i := range rigs {
		user, pw := fleetCreds(i + 1)
		dir := filepath.Join(h.tmp, "fleet", fmt.Sprint(i+1))
		if mdirs[i], err = newMaildir(filepath.Join(dir, "Maildir")); err != nil {
			return err
		}
		if rigs[i], err = h.startEngineAs(ctx, dir, mdirs[i], c.url, agent.TrackFromCRMRecords, user, pw); err != nil {
			return fmt.Errorf("agent %d: %w", i+1, err)
		}
	}
	for _, r := range rigs {
		if err := r.waitOnline(ctx); err != nil {
			return err
		}
	}
	var all []string
	arrived := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, fleetAgents)
	const every = 250 * time.Millisecond
	for i := range rigs {
		user, _ := fleetCreds(i + 1)
		msgs := trackedMail(fleetEach, fmt.Sprintf("fleet%02d", i+1), "Fleet User <"+user+">")
		all = append(all, ids(msgs)...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Staggered, so the agents' bursts interleave rather than coincide.
			time.Sleep(time.Duration(i) * every / fleetAgents)
			at, err := deliver(ctx, mdirs[i], msgs, 20, every)
			errs[i] = err
			mu.Lock()
			for id, t := range at {
				arrived[id] = t
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	done, err := c.waitCompleted(ctx, all, time.Now().Add(3*time.Minute))
	if err != nil {
		return err
	}
	st, err := c.stats(0)
	if err != nil {
		return err
	}
	tracked := countDone(all, done)
	var first, last time.Time
	for _, t := range arrived {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for _, id := range all {
		if t, ok := done[id]; ok && t.After(last) {
			last = t
		}
	}
	if tracked > 0 {
		h.metric("fleet_tracked_per_s", float64(tracked)/last.Sub(first).Seconds(), "msg/s")
		h.metric("fleet_arrival_to_activity_p99_ms", ms99(latencies(arrived, done)), "ms")
	}
	h.metric("fleet_429s", float64(st.Throttled), "answers")
	h.metric("fleet_requests_per_tracked_message", float64(st.API)/float64(max(tracked, 1)), "requests")
	if tracked < len(all) {
		return fmt.Errorf("only %d of %d fleet messages were tracked within 3 minutes of the last arrival", tracked, len(all))
	}
	return c.verifyEmails(ctx, all)
}
