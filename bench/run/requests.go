package main

import (
	"context"
	"fmt"
	"time"
)

// requestsPerMessage counts, at the CRM, every Web API request the agent
// sends (sign-in checks, decisions, address lookups, duplicate checks,
// creates, completions, anything else) while 1,000 messages from CRM
// contacts arrive in bursts of 20 every 250 ms and are all tracked, and
// divides by the messages tracked.
func (h *harness) requestsPerMessage(ctx context.Context) error {
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	r, mdir, err := h.onlineAgent(ctx, "requests", c.url)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			r.stop()
		}
	}()
	const n = 1000
	msgs := trackedMail(n, "req", "Alice Martin <alice@demo.local>")
	arrived, err := deliver(ctx, mdir, msgs, 20, 250*time.Millisecond)
	if err != nil {
		return err
	}
	done, err := c.waitCompleted(ctx, ids(msgs), time.Now().Add(2*time.Minute))
	if err != nil {
		return err
	}
	// Stopped first, so that whatever the agent sends is in the count.
	r.stop()
	stopped = true
	st, err := c.stats(0)
	if err != nil {
		return err
	}
	tracked := countDone(ids(msgs), done)
	u := st.Users["alice@demo.local"]
	if tracked > 0 {
		h.metric("requests_per_tracked_message", float64(u.API)/float64(tracked), "requests")
		h.metric("burst_arrival_to_activity_p99_ms", ms99(latencies(arrived, done)), "ms")
	}
	h.metric("burst_batch_requests", float64(u.Batches), "requests")
	h.metric("burst_429s", float64(u.Throttled), "answers")
	if tracked < n {
		return fmt.Errorf("only %d of %d messages were tracked within 2 minutes of the last arrival", tracked, n)
	}
	return c.verifyEmails(ctx, ids(msgs))
}

// ms99 is the 99th percentile of ds in milliseconds.
func ms99(ds []time.Duration) float64 { return ms(percentile(ds, 99)) }
