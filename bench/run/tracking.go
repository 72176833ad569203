package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"crmsync/agent"
)

// tracking measures sustained tracking: 300 messages from CRM contacts,
// each created as an activity with its parties, through the outbox.
func (h *harness) tracking(ctx context.Context) error {
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	dir := filepath.Join(h.tmp, "tracking")
	mdir, err := newMaildir(filepath.Join(dir, "Maildir"))
	if err != nil {
		return err
	}
	const n = 300
	now := time.Now()
	for i := range n {
		key := fmt.Sprintf("%d.M%dP1.track", now.Unix(), i)
		msg := message("Maria Campbell <maria.campbell@contoso.example>", fmt.Sprintf("Order %d", i), fmt.Sprintf("track-%05d@bench.example", i), now, 4096)
		if err := os.WriteFile(filepath.Join(mdir, "new", key), msg, 0o600); err != nil {
			return err
		}
	}
	start := time.Now()
	r, err := h.startEngine(ctx, dir, mdir, c.url, agent.TrackAll)
	if err != nil {
		return err
	}
	defer r.stop()
	for {
		counts, err := r.store.CountByState(ctx)
		if err != nil {
			return err
		}
		if counts[agent.Tracked] >= n {
			break
		}
		if time.Since(start) > 3*time.Minute {
			return fmt.Errorf("only %d of %d tracked after 3 minutes", counts[agent.Tracked], n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.metric("tracked_per_s", n/time.Since(start).Seconds(), "msg/s")
	return nil
}
