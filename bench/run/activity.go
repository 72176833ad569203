package main

import (
	"context"
	"fmt"
	"time"
)

// arrivalToActivity measures, on an otherwise idle CRM, the time from a
// message's rename into new/ to its activity existing completed in the
// CRM: crmserver notes when it answered the request that completed the
// email with that Message-ID (a create as completed, an update to
// statecode 1, plain or in a $batch change set), after the answer was
// flushed, on the same machine's clock. 300 messages from CRM contacts
// arrive one at a time, 50 ms apart.
func (h *harness) arrivalToActivity(ctx context.Context) error {
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	r, mdir, err := h.onlineAgent(ctx, "activity", c.url)
	if err != nil {
		return err
	}
	defer r.stop()
	const n = 300
	msgs := trackedMail(n, "activity", "Alice Martin <alice@demo.local>")
	arrived, err := deliver(ctx, mdir, msgs, 1, 50*time.Millisecond)
	if err != nil {
		return err
	}
	done, err := c.waitCompleted(ctx, ids(msgs), time.Now().Add(time.Minute))
	if err != nil {
		return err
	}
	lat := latencies(arrived, done)
	if len(lat) > 0 {
		h.metric("arrival_to_activity_p99_ms", ms99(lat), "ms")
		h.metric("arrival_to_activity_p50_ms", ms(percentile(lat, 50)), "ms")
	}
	if len(lat) < n {
		return fmt.Errorf("only %d of %d messages were tracked within a minute of the last arrival", len(lat), n)
	}
	return c.verifyEmails(ctx, ids(msgs))
}
