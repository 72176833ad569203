package engine

import (
	"context"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/maildir"
	"crmsync/agent/track"
)

// subscriberBuffer is how far a subscriber may lag before it is dropped;
// the UI then resubscribes and gets a fresh status.
const subscriberBuffer = 256

// hub fans events out to subscribers. It owns the subscriber set and the
// sequence numbers; its lock is held only to send without blocking.
type hub struct {
	mu   sync.Mutex
	subs map[chan agent.Event]struct{} // guarded by mu
	seq  uint64                        // the last event's number; guarded by mu
}

// Status returns the current status.
func (e *Engine) Status() agent.Status {
	s := e.view.Load().status
	s.Warnings = append([]agent.Warning(nil), s.Warnings...)
	return s
}

// Subscribe delivers events until ctx ends; the first carries the status.
func (e *Engine) Subscribe(ctx context.Context) <-chan agent.Event {
	ch := make(chan agent.Event, subscriberBuffer)
	h := &e.hub
	h.mu.Lock()
	h.seq++
	// Read under the hub's lock: a status published later is broadcast
	// after this one, so the subscriber never sees an older one last.
	st := e.Status()
	ch <- agent.Event{Seq: h.seq, Status: &st}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
		h.mu.Unlock()
	})
	return ch
}

// broadcast sends ev to every subscriber; one that lags is dropped, with
// its channel closed, rather than blocking the engine.
func (h *hub) broadcast(ev agent.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (e *Engine) publishItem(it agent.Item) { e.hub.broadcast(agent.Event{Item: &it}) }

func (e *Engine) publishNotice(title, text string) {
	e.hub.broadcast(agent.Event{Notice: &agent.Notice{Title: title, Text: text}})
}

// maxTexts bounds the outcome texts kept for display.
const maxTexts = 5000

// setText remembers the last explanation shown for a message. Bounded:
// the map is for recent messages only and is reset when it grows large.
func (l *loop) setText(k agent.MessageKey, text string) {
	if len(l.texts) > maxTexts {
		l.texts = map[agent.MessageKey]string{}
	}
	l.texts[k] = text
}

// itemOf builds the display item of a cached message; From and Subject
// come from the Maildir and live only in memory.
func itemOf(m cache.Message, env maildir.Envelope, reason string) agent.Item {
	from := env.From.Name
	if from == "" {
		from = env.From.Addr
	} else if env.From.Addr != "" {
		from += " <" + env.From.Addr + ">"
	}
	if reason == "" {
		reason = track.Reason(m.Reason).String()
	}
	return agent.Item{Key: m.Key, From: from, Subject: env.Subject, Received: m.ReceivedAt, Track: m.State,
		ActivityID: m.ActivityID, Regarding: m.Regarding, OwnedByMe: m.OwnedByMe, Reason: reason}
}

// maxDisclosures bounds the "what was sent" history kept in memory.
const maxDisclosures = 500

// disclosures is a ring of recent disclosures, owned by the loop.
type disclosures struct {
	buf  []agent.Disclosure // up to maxDisclosures; once full, next is the oldest
	next int                // where the next one goes once buf is full
}

// add records d, dropping the oldest when full.
func (r *disclosures) add(d agent.Disclosure) {
	if len(r.buf) < maxDisclosures {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % maxDisclosures
}

// newest returns up to limit disclosures, newest first, as copies.
func (r *disclosures) newest(limit int) []agent.Disclosure {
	if limit <= 0 || limit > len(r.buf) {
		limit = len(r.buf)
	}
	out := make([]agent.Disclosure, 0, limit)
	for i := 1; i <= limit; i++ {
		d := r.buf[((r.next-i)%len(r.buf)+len(r.buf))%len(r.buf)]
		d.Fields = append([]agent.FieldSize(nil), d.Fields...)
		out = append(out, d)
	}
	return out
}

// disclose records what an exchange with the CRM carried.
func (l *loop) disclose(d agent.Disclosure) {
	if d.At.IsZero() {
		d.At = l.e.clock.Now()
	}
	l.sent.add(d)
}

// disclosureWait bounds how long Disclosures waits for the loop.
const disclosureWait = 5 * time.Second

// Disclosures returns the most recent exchanges, newest first; none when
// the engine is not running.
func (e *Engine) Disclosures(limit int) []agent.Disclosure {
	ctx, cancel := context.WithTimeout(context.Background(), disclosureWait)
	defer cancel()
	var out []agent.Disclosure
	if e.do(ctx, func(l *loop) { out = l.sent.newest(limit) }) != nil {
		return nil
	}
	return out
}

// joinedLen is the size of addresses as sent, joined by ';'.
func joinedLen(addrs []string) int {
	n := 0
	for i, a := range addrs {
		if i > 0 {
			n++
		}
		n += len(a)
	}
	return n
}
