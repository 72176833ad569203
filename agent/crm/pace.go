package crm

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Dataverse evaluates its request limit per user over a sliding window,
// 6000 requests per 300 s by default ([PAD] api-limits.md). The pacer
// learns the limit L and the window W from the CRM's own answers and,
// when the budget runs low, holds each request until the client's log of
// send times says a slot has left the window, so a long drain runs at the
// server's pace instead of into 429s. Far from the limit it never holds.
const (
	defaultWindow = 300 * time.Second // Dataverse's documented default window
	minWindow     = time.Second
	maxWindow     = time.Hour
	maxSendLog    = 8192 // bounds memory; beyond it the log under-counts, the server's 429 still corrects
	// probeWait is how often a request held for a lack of knowledge looks
	// again; an answer in flight will tell.
	probeWait = 50 * time.Millisecond
)

// Headers Dataverse sends on every answer, documented as informational
// ([PAD] api-limits.md); the client reads them, it does not trust them alone.
const (
	hdrBurstRemaining = "x-ms-ratelimit-burst-remaining-xrm-requests"
	hdrTimeRemaining  = "x-ms-ratelimit-time-remaining-xrm-requests"
)

// sendRec is one request the pacer let leave.
type sendRec struct {
	seq uint64
	at  time.Time
}

// pacer owns everything the client knows about the request limit; mu
// guards all of it, and no other code touches it.
type pacer struct {
	mu       sync.Mutex
	window   time.Duration // W; defaultWindow until learned
	learnedW bool          // W comes from the server's answers, not the default
	limit    int           // L; 0 while unknown
	est      int           // estimated requests left in the budget; valid when known
	known    bool          // est is based on a burst-remaining header
	foreign  int           // requests the server counts that the log does not show
	timeLeft float64       // last time-remaining header, milliseconds; -1 when none
	seq      uint64        // last ticket issued
	probing  uint64        // ticket of the one request let out to learn W; 0 when none
	log      []sendRec     // requests let out, oldest first
}

func newPacer() *pacer {
	return &pacer{window: defaultWindow, timeLeft: -1}
}

// lowMark is the budget under which requests are paced: max(2, L/10).
func (p *pacer) lowMark() int { return max(2, p.limit/10) }

// margin is added to a slot's expiry for the latency between our send
// and the server's arrival, so a paced request does not arrive early.
func (p *pacer) margin() time.Duration { return 50*time.Millisecond + p.window/100 }

// reserve lets a request leave at now, returning its ticket, or says how
// long to wait before asking again (then no ticket is issued).
func (p *pacer) reserve(now time.Time) (seq uint64, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	if p.limit > 0 && p.known && p.est < p.lowMark() {
		if !p.learnedW {
			// The budget is spent and the window unknown: one request at a
			// time finds out (its 429 carries Retry-After), not sixteen.
			if p.est <= 0 && p.probing != 0 {
				return 0, probeWait
			}
		} else if w := p.slotWait(now); w > 0 {
			return 0, w
		}
	}
	p.seq++
	p.log = append(p.log, sendRec{p.seq, now})
	if len(p.log) > maxSendLog {
		p.log = p.log[len(p.log)-maxSendLog:]
	}
	if p.known {
		p.est--
		if p.est < 0 && !p.learnedW && p.probing == 0 {
			p.probing = p.seq
		}
	}
	return p.seq, 0
}

// slotWait is how long until the log shows fewer than L requests (those
// the server counts and the log does not included) within the window.
func (p *pacer) slotWait(now time.Time) time.Duration {
	allowed := p.limit - p.foreign
	if allowed < 1 {
		allowed = 1
	}
	from := now.Add(-p.window)
	in := 0
	first := len(p.log)
	for i := len(p.log) - 1; i >= 0 && p.log[i].at.After(from); i-- {
		in++
		first = i
	}
	if in < allowed {
		return 0
	}
	// The request `allowed` places back must leave the window first.
	oldest := p.log[first+in-allowed]
	return oldest.at.Add(p.window + p.margin()).Sub(now)
}

// prune drops sends no window can still count.
func (p *pacer) prune(now time.Time) {
	cut := 0
	for cut < len(p.log) && now.Sub(p.log[cut].at) > maxWindow {
		cut++
	}
	if cut > 0 {
		p.log = append(p.log[:0:0], p.log[cut:]...)
	}
}

// index returns the log position of ticket seq, -1 when it is gone.
func (p *pacer) index(seq uint64) int {
	for i := len(p.log) - 1; i >= 0; i-- {
		if p.log[i].seq == seq {
			return i
		}
		if p.log[i].seq < seq {
			break
		}
	}
	return -1
}

// observe reads the rate-limit headers of the answer to ticket seq.
func (p *pacer) observe(seq uint64, h http.Header) {
	burst, okB := parseRemaining(h.Get(hdrBurstRemaining))
	tl, okT := parseRemaining(h.Get(hdrTimeRemaining))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probing == seq {
		p.probing = 0
	}
	if okT {
		p.timeLeft = tl
	}
	if !okB || burst < 0 {
		return
	}
	r := int(min(burst, 1e9))
	if r+1 > p.limit {
		p.limit = r + 1
	}
	i := p.index(seq)
	after := 0
	if i >= 0 {
		after = len(p.log) - 1 - i
	}
	p.est, p.known = r-after, true
	if i < 0 {
		return
	}
	// The server counts c requests in its window, this one included. If
	// the log holds a (c+1)-th newest, the server has let it go: the
	// window is no longer than the time between the two. Only shrink:
	// requests the log cannot see make c larger, never smaller.
	c := p.limit - r
	at := p.log[i].at
	if c >= 1 && i-c >= 0 {
		if bound := at.Sub(p.log[i-c].at); bound >= minWindow && bound < p.window {
			p.window, p.learnedW = bound, true
		}
	}
	if p.learnedW {
		in := 0
		for j := i; j >= 0 && at.Sub(p.log[j].at) < p.window; j-- {
			in++
		}
		p.foreign = max(0, c-in)
	}
}

// throttled learns from a request-limit 429 to ticket seq answered at now
// with Retry-After ra: the slot frees when the request L places back
// leaves the window, so W is that request's age at now+ra. The refused
// request did not count; it leaves the log.
func (p *pacer) throttled(seq uint64, now time.Time, ra time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probing == seq {
		p.probing = 0
	}
	i := p.index(seq)
	if i < 0 {
		return
	}
	p.log = append(p.log[:i:i], p.log[i+1:]...)
	p.est, p.known = 0, p.limit > 0 || p.known
	if ra <= 0 {
		return
	}
	if p.limit > 0 && i-p.limit >= 0 {
		// Our log holds the L requests before the refused one.
		if w := now.Add(ra).Sub(p.log[i-p.limit].at); w >= minWindow && w <= maxWindow {
			p.window, p.learnedW = w, true
		}
		return
	}
	if i == 0 {
		return
	}
	// Fewer than L logged: others (or a miscount) filled the window; the
	// oldest logged request is the best bound there is. Too short a W only
	// costs another 429, which corrects it again.
	if w := now.Add(ra).Sub(p.log[0].at); w >= minWindow && w <= maxWindow && (!p.learnedW || w > p.window) {
		p.window, p.learnedW = w, true
	}
	if p.limit > 0 {
		p.foreign = max(p.foreign, p.limit-i)
	}
}

// forget drops ticket seq from the in-flight probe, for an answer that
// never came (network failure).
func (p *pacer) forget(seq uint64) {
	p.mu.Lock()
	if p.probing == seq {
		p.probing = 0
	}
	p.mu.Unlock()
}

// parseRemaining reads a rate-limit header leniently: an integer or a
// decimal, possibly with thousands separators; anything else is ignored.
func parseRemaining(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 32 {
		return 0, false
	}
	v = strings.NewReplacer(",", "", "_", "", " ", "", "\u00a0", "").Replace(v)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f > 1e15 || f < -1e15 {
		return 0, false
	}
	return f, true
}
