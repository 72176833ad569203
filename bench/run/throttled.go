package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"crmsync/agent"
)

// Service protection for the throttled backlog: 20 requests per user in
// any 10 s, an average of 2 a second.
const (
	throttledLimit  = 20
	throttledWindow = 10 * time.Second
)

// throttledCap bounds the throttled drain, so that an agent that needs
// many requests per message still lets make bench finish; what it did by
// then is reported.
var throttledCap = time.Duration(envInt("CRMSYNC_BENCH_THROTTLED_SECONDS", 150)) * time.Second

// throttledBacklog starts the agent on 1,000 recent messages from CRM
// contacts, all to be tracked, against a CRM that allows 20 requests per
// 10 s. It reports the requests sent per second from the first request to
// the last activity completed, as a share of the limit's average rate
// (how much of the allowed rate the agent uses), and the 429 answers
// (how often it asked for more than that), then checks through the Web
// API that exactly 1,000 completed activities exist, one per Message-ID.
func (h *harness) throttledBacklog(ctx context.Context) error {
	c, err := h.newCRM(ctx, "-limit-requests", fmt.Sprint(throttledLimit), "-limit-window", throttledWindow.String())
	if err != nil {
		return err
	}
	defer c.close()
	dir := filepath.Join(h.tmp, "throttled")
	mdir, err := newMaildir(filepath.Join(dir, "Maildir"))
	if err != nil {
		return err
	}
	const n = 1000
	msgs := trackedMail(n, "throttled", "Alice Martin <alice@demo.local>")
	if err := place(mdir, msgs); err != nil {
		return err
	}
	r, err := h.startEngine(ctx, dir, mdir, c.url, agent.TrackFromCRMRecords)
	if err != nil {
		return err
	}
	done, err := c.waitCompleted(ctx, ids(msgs), time.Now().Add(throttledCap))
	r.stop()
	if err != nil {
		return err
	}
	tracked := countDone(ids(msgs), done)
	// The drain ends at the last completion, or at the cap if it was
	// not over by then.
	end := time.Now()
	if tracked == n {
		end = time.Time{}
		for _, t := range done {
			if t.After(end) {
				end = t
			}
		}
	}
	st, err := c.stats(end.UnixNano())
	if err != nil {
		return err
	}
	u := st.Users["alice@demo.local"]
	if u.API == 0 {
		return fmt.Errorf("the agent sent no request")
	}
	drain := end.Sub(time.Unix(0, u.First))
	limitRate := float64(throttledLimit) / throttledWindow.Seconds()
	h.metric("backlog_request_rate_over_limit", float64(u.API)/drain.Seconds()/limitRate, "ratio")
	h.metric("backlog_429s", float64(u.Throttled), "answers")
	h.metric("backlog_tracked_throttled", float64(tracked), "messages")
	h.metric("backlog_throttled_drain_s", drain.Seconds(), "s")
	if tracked < n {
		return fmt.Errorf("only %d of %d messages were tracked within %s at %d requests per %s", tracked, n, throttledCap, throttledLimit, throttledWindow)
	}
	return c.verifyEmails(ctx, ids(msgs))
}
