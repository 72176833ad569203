package engine

import (
	"time"
)

// releaseAfter is how quiet the mail must have been before the cache's
// memory is handed back after a burst of tracking.
const releaseAfter = 5 * time.Second

// bigBurst and bigSend are the backlog and upload counts after which the
// engine hands memory back to the system.
const (
	bigBurst = 5000
	bigSend  = 50
)

// reclaimer decides when to hand memory back to the system: after a large
// backlog (an initial scan) has been decided, the garbage of reading it
// would otherwise stay resident, and the runtime would spend minutes of
// background CPU returning it piecemeal; after a burst of uploads, which
// read whole messages, only once mail has been quiet a while, since a
// forced collection would pause the decisions in flight and reopening a
// cache connection would cost each decision a read's latency. It only
// counts and answers; the loop owns it and does the releasing.
type reclaimer struct {
	burst    int       // messages queued since the backlog was last empty
	sent     int       // messages uploaded since the outbox was last empty
	lastBusy time.Time // when mail last arrived
}

// arrived counts a message queued for a decision at now.
func (r *reclaimer) arrived(now time.Time) {
	r.burst++
	r.lastBusy = now
}

// drained is told that the backlog is empty; it reports whether the burst
// that just ended was big enough to release memory now.
func (r *reclaimer) drained() bool {
	big := r.burst >= bigBurst
	r.burst = 0
	return big
}

// uploaded counts a message whose body was read for an upload.
func (r *reclaimer) uploaded() { r.sent++ }

// outboxEmpty is told that nothing is queued; it reports whether to
// release memory once mail has been quiet for releaseAfter.
func (r *reclaimer) outboxEmpty() bool {
	if r.sent < bigSend {
		return false
	}
	r.sent = 0
	return true
}

// quiet reports, when the wait armed after outboxEmpty ends at now,
// whether to release: nothing is being decided (idle) and no mail came
// during the wait.
func (r *reclaimer) quiet(now time.Time, idle bool) bool {
	return idle && now.Sub(r.lastBusy) >= releaseAfter
}
