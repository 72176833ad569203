package protect

import (
	"fmt"
	"strconv"
	"time"
)

// Dataverse's documented defaults (api-limits.md: "per user, per web
// server", evaluated over a 5-minute sliding window). Microsoft notes they
// can change and differ between environments, hence Limits.
const (
	// DefaultRequests is the number of requests per user per window.
	DefaultRequests = 6000
	// DefaultWindow is the length of the sliding window.
	DefaultWindow = 300 * time.Second
	// DefaultExecTime is the combined execution time per user per window.
	DefaultExecTime = 20 * time.Minute
	// DefaultConcurrent is the number of requests a user may have in
	// flight; Microsoft words it "52 or higher", read here as: the 53rd
	// concurrent request is refused.
	DefaultConcurrent = 52
)

// The error codes of the three limits in their hex form. Microsoft's
// api-limits.md lists each limit with both forms, the SDK's int error code
// (-2147015902, -2147015903, -2147015898) and the hex code; the Web API
// carries the hex string in error.code, as it does for every other error.
const (
	CodeRequests   = "0x80072322" // -2147015902: number of requests
	CodeExecTime   = "0x80072321" // -2147015903: combined execution time
	CodeConcurrent = "0x80072326" // -2147015898: concurrent requests
)

// Limits configures a Guard. A zero (or negative) field means Dataverse's
// default for it.
type Limits struct {
	// Requests is the number of requests a user may make in any Window.
	Requests int
	// Window is the length of the sliding window of the request and
	// execution-time limits.
	Window time.Duration
	// ExecTime is the combined execution time a user's requests may take in
	// any Window.
	ExecTime time.Duration
	// Concurrent is the number of requests a user may have in flight; the
	// next one is refused at once.
	Concurrent int
}

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	if l.Requests <= 0 {
		l.Requests = DefaultRequests
	}
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if l.ExecTime <= 0 {
		l.ExecTime = DefaultExecTime
	}
	if l.Concurrent <= 0 {
		l.Concurrent = DefaultConcurrent
	}
	return l
}

// The messages are Dataverse's, word for word (api-limits.md), with the
// configured numbers in place of the defaults.

func (l Limits) requestsMessage() string {
	return fmt.Sprintf("Number of requests exceeded the limit of %d over time window of %s seconds.",
		l.Requests, seconds(l.Window))
}

func (l Limits) execTimeMessage() string {
	return fmt.Sprintf("Combined execution time of incoming requests exceeded limit of %s milliseconds over time window of %s seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
		grouped(l.ExecTime.Milliseconds()), seconds(l.Window))
}

func (l Limits) concurrentMessage() string {
	return fmt.Sprintf("Number of concurrent requests exceeded the limit of %d.", l.Concurrent)
}

// seconds prints a duration in seconds without a needless fraction.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// grouped prints n with comma thousands separators, as Dataverse writes
// 1,200,000 in its message and 1,200.00 in its header.
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
