package engine

import (
	"context"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/maildir"
	"crmsync/agent/track"
)

// subscriberBuffer is how far a subscriber may lag before it is dropped;
// the UI then resubscribes and gets a fresh status.
const subscriberBuffer = 256

// Status returns the current status.
func (e *Engine) Status() agent.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.status
	s.Warnings = append([]agent.Warning(nil), s.Warnings...)
	return s
}

// Subscribe delivers events until ctx ends; the first carries the status.
func (e *Engine) Subscribe(ctx context.Context) <-chan agent.Event {
	ch := make(chan agent.Event, subscriberBuffer)
	e.mu.Lock()
	e.seq++
	st := e.status
	ch <- agent.Event{Seq: e.seq, Status: &st}
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		if _, ok := e.subs[ch]; ok {
			delete(e.subs, ch)
			close(ch)
		}
		e.mu.Unlock()
	}()
	return ch
}

// broadcast sends ev to every subscriber; one that lags is dropped, with
// its channel closed, rather than blocking the engine.
func (e *Engine) broadcast(ev agent.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	ev.Seq = e.seq
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
			delete(e.subs, ch)
			close(ch)
		}
	}
}

func (e *Engine) publishStatusSnapshot() {
	st := e.Status()
	e.broadcast(agent.Event{Status: &st})
}

func (e *Engine) publishItem(it agent.Item) { e.broadcast(agent.Event{Item: &it}) }

func (e *Engine) publishNotice(title, text string) {
	e.broadcast(agent.Event{Notice: &agent.Notice{Title: title, Text: text}})
}

func (e *Engine) publishSettings(s agent.Settings) {
	e.mu.Lock()
	e.settings = s
	e.mu.Unlock()
}

// setText remembers the last explanation shown for a message. Bounded:
// the map is for recent messages only and is reset when it grows large.
func (e *Engine) setText(k agent.MessageKey, text string) {
	e.mu.Lock()
	if len(e.texts) > 5000 {
		e.texts = map[agent.MessageKey]string{}
	}
	e.texts[k] = text
	e.mu.Unlock()
}

func (e *Engine) text(k agent.MessageKey) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.texts[k]
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

// disclose records what an exchange with the CRM carried.
func (e *Engine) disclose(d agent.Disclosure) {
	if d.At.IsZero() {
		d.At = e.clock.Now()
	}
	e.mu.Lock()
	if len(e.sent) >= maxDisclosures {
		copy(e.sent, e.sent[1:])
		e.sent = e.sent[:len(e.sent)-1]
	}
	e.sent = append(e.sent, d)
	e.mu.Unlock()
}

// Disclosures returns the most recent exchanges, newest first.
func (e *Engine) Disclosures(limit int) []agent.Disclosure {
	e.mu.Lock()
	defer e.mu.Unlock()
	if limit <= 0 || limit > len(e.sent) {
		limit = len(e.sent)
	}
	out := make([]agent.Disclosure, 0, limit)
	for i := len(e.sent) - 1; i >= 0 && len(out) < limit; i-- {
		d := e.sent[i]
		d.Fields = append([]agent.FieldSize(nil), d.Fields...)
		out = append(out, d)
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
