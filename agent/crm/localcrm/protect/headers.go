package protect

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The informational headers Dataverse sends on every Web API answer.
const (
	HeaderBurstRemaining = "x-ms-ratelimit-burst-remaining-xrm-requests"
	HeaderTimeRemaining  = "x-ms-ratelimit-time-remaining-xrm-requests"
)

// Headers sets the two x-ms-ratelimit-* headers for user on h; call it
// before WriteHeader, on every answer. Microsoft documents both as
// informational, for debugging only, so clients must not depend on them.
//
// The burst header is the number of requests the user has left in the
// window, an integer ("5993"). The time header is the execution time left,
// in seconds with two decimals and comma thousands separators ("1,199.46"):
// that is the shape real Dataverse answers carry, so a client that parses
// it is tested against the real format. Neither counts the time of requests
// still running.
func (g *Guard) Headers(user string, h http.Header) {
	g.mu.Lock()
	now := g.now()
	g.maybeSweep(now)
	requests, spent := 0, time.Duration(0)
	if u := g.users[user]; u != nil {
		u.prune(now, g.lim.Window)
		requests, spent = len(u.starts), u.spent
	}
	g.mu.Unlock()
	h.Set(HeaderBurstRemaining, strconv.Itoa(max(g.lim.Requests-requests, 0)))
	h.Set(HeaderTimeRemaining, secondsHundredths(max(g.lim.ExecTime-spent, 0)))
}

// secondsHundredths prints d as seconds with two decimals, truncated, and
// grouped thousands.
func secondsHundredths(d time.Duration) string {
	c := int64(d / (10 * time.Millisecond))
	return fmt.Sprintf("%s.%02d", grouped(c/100), c%100)
}
