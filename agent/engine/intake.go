package engine

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
	"crmsync/agent/track"
)

var (
	errOffline    = errors.New("the CRM is not connected")
	errKnown      = errors.New("already decided")
	errUnreadable = errors.New("the message could not be read")
)

// job asks a decider about one message.
type job struct {
	key    agent.MessageKey
	folder string
}

// result is a decider's answer.
type result struct {
	job
	env      maildir.Envelope // display only; never persisted
	hash     []byte
	received time.Time
	decision track.Decision
	known    *crm.ActivityInfo // the CRM already holds this message: the activity to link to
	owned    bool              // known is the signed-in user's
	err      error
	// disclosed is what asking the CRM about the message carried; zero
	// when nothing was asked. The loop keeps it: deciders never write.
	disclosed agent.Disclosure
}

// message is the cache row the decision writes.
func (r result) message() cache.Message {
	m := cache.Message{Key: r.key, Folder: r.folder, MsgIDHash: r.hash, State: agent.Untracked,
		Reason: int(r.decision.Reason), ReceivedAt: r.received}
	if r.err != nil {
		m.Reason = int(track.ReasonUnreadable)
	}
	if r.known != nil {
		m.State, m.ActivityID, m.OwnedByMe, m.Regarding = agent.Tracked, string(r.known.ID), r.owned, r.known.Regarding
	}
	return m
}

// knownActivity looks a Message-ID hash up among the activities learned
// from the CRM after a cache rebuild.
func (e *Engine) knownActivity(hash []byte) (crm.ActivityInfo, bool) {
	known := e.known.Load()
	if hash == nil || known == nil {
		return crm.ActivityInfo{}, false
	}
	info, ok := (*known)[string(hash)]
	return info, ok
}

func actionTrack(k agent.MessageKey, regarding *agent.RecordRef) cache.Action {
	return cache.Action{Key: k, Kind: cache.ActionTrack, Regarding: regarding}
}

// decider reads headers and runs the pipeline; it never writes. The loop
// records the result, so decisions and the user's own actions never race.
func (e *Engine) decider(ctx context.Context) error {
	lk := &lookups{e: e} // one per decider: it carries what one decision asked
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case j := <-e.work:
			r := e.decide(ctx, j, lk)
			select {
			case e.results <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func (e *Engine) decide(ctx context.Context, j job, lk *lookups) result {
	r := result{job: j}
	now := e.clock.Now()
	// Maildir writers put the delivery time at the start of the name. A
	// message delivered well before the lookback window is never tracked
	// automatically, so it is decided without opening the file: on a first
	// start that is nearly the whole mailbox. A row already written for the
	// key is kept: batched decisions are inserted, never overwritten.
	if kt, ok := keyTime(j.key, now); ok && now.Sub(kt) > e.o.Lookback+24*time.Hour {
		r.received = kt
		r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonTooOld}
		return r
	}
	if _, known, err := e.o.Store.Message(ctx, j.key); err != nil {
		r.err = err
		return r
	} else if known {
		r.err = errKnown
		return r
	}
	env, err := e.mail.Envelope(j.key)
	if err != nil {
		r.err = errors.Join(errUnreadable, err)
		r.received = e.receivedAt(maildir.Envelope{}, j.key, now)
		return r
	}
	r.env = env
	r.hash = e.o.Store.HashMessageID(env.MessageID)
	r.received = e.receivedAt(env, j.key, now)
	if info, ok := e.knownActivity(r.hash); ok {
		r.known, r.owned = &info, true
		r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonAlreadyTracked}
		return r
	}
	v := e.view.Load()
	m := trackMessage(j, env, v.self, e.isSent(j.folder))
	if now.Sub(r.received) > e.o.Lookback {
		r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonTooOld}
		return r
	}
	p := track.Policy{Scope: v.settings.AutoTrack, Self: v.self,
		ExcludedAddresses: v.settings.ExcludedAddresses, InternalDomains: v.settings.InternalDomains}
	lk.disclosed, lk.found = agent.Disclosure{}, crm.ActivityInfo{}
	r.decision, r.err = track.Decide(ctx, p, lk, m)
	r.disclosed = lk.disclosed
	if r.err == nil && r.decision.Action == track.Link && r.decision.ActivityID != "" && lk.found.ID != "" {
		// The CRM holds the message already: link to that activity
		// rather than upload the body for nothing.
		found := lk.found
		r.known, r.owned = &found, v.userID != "" && strings.EqualFold(found.OwnerID, v.userID)
		r.decision.Detail = "linked to the existing copy"
	}
	return r
}

// isSent reports whether a Maildir folder holds the user's sent mail; the
// deciders and the outbox both ask it.
func (e *Engine) isSent(folder string) bool { return slices.Contains(e.o.SentFolders, folder) }

// trackMessage is the pipeline's view of a message: headers only.
func trackMessage(j job, env maildir.Envelope, self string, sent bool) track.Message {
	m := track.Message{Key: j.key, MessageID: env.MessageID, From: env.From.Addr, Subject: env.Subject,
		InReplyTo: env.InReplyTo, References: env.References, Outgoing: sent || (self != "" && env.From.Addr == self)}
	for _, a := range env.To {
		m.To = append(m.To, a.Addr)
	}
	for _, a := range env.Cc {
		m.Cc = append(m.Cc, a.Addr)
	}
	return m
}

// plausibleAfter is the earliest delivery time a Maildir name is believed
// to carry: Maildir is from 1996, so an earlier prefix is no time at all
// (a counter, or a name such as "b1" read as a number).
var plausibleAfter = time.Date(1996, 1, 1, 0, 0, 0, 0, time.UTC)

// maxSkew is how far in the future a Date may be (a sender's clock off
// by some hours) before it is not believed.
const maxSkew = 24 * time.Hour

// receivedAt is when the message arrived, as best known: its Date; else
// the delivery time in its Maildir name; else the file's modification
// time, which the delivering program sets. Each counts only when
// plausible; a message with no time at all is taken to be new rather
// than older than any window.
func (e *Engine) receivedAt(env maildir.Envelope, k agent.MessageKey, now time.Time) time.Time {
	if !env.Date.IsZero() && env.Date.Before(now.Add(maxSkew)) {
		return env.Date
	}
	if t, ok := keyTime(k, now); ok {
		return t
	}
	if t, err := e.mail.Delivered(k); err == nil && t.After(plausibleAfter) && !t.After(now.Add(maxSkew)) {
		return t
	}
	return now
}

// keyTime reads the delivery time Maildir writers put at the start of the
// unique name ("1700000000.M1P2.host"); ok is false when the name has
// none, or one that is not plausible (before Maildir existed, or in the
// future).
func keyTime(k agent.MessageKey, now time.Time) (t time.Time, ok bool) {
	s := string(k)
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec <= 0 || sec > now.Add(time.Minute).Unix() {
		return time.Time{}, false
	}
	t = time.Unix(sec, 0)
	return t, t.After(plausibleAfter)
}

// lookups is the pipeline's window on the cache and the CRM. Each decider
// has its own, so what one decision asked is kept for its result.
type lookups struct {
	e         *Engine
	disclosed agent.Disclosure // what the last Ask sent
	found     crm.ActivityInfo // the activity a Duplicate answer refers to; zero ID when unknown
}

func (l *lookups) Tracked(ctx context.Context, id string) (bool, error) {
	m, ok, err := l.e.o.Store.MessageByHash(ctx, l.e.o.Store.HashMessageID(id))
	return ok && (m.State == agent.Tracked || m.State == agent.Pending), err
}

func (l *lookups) AnyTracked(ctx context.Context, ids []string) (bool, error) {
	hashes := make([][]byte, 0, len(ids))
	for _, id := range ids {
		if h := l.e.o.Store.HashMessageID(id); h != nil {
			hashes = append(hashes, h)
		}
	}
	if len(hashes) == 0 {
		return false, nil
	}
	return l.e.o.Store.AnyTracked(ctx, hashes)
}

// Ask sends From, To, Cc, Subject and Message-ID, nothing else: for
// incoming mail as CheckIncomingEmail, for sent mail as an address lookup
// of the recipients. When the CRM says it holds the message already, the
// activity is looked up by Message-ID, so the message can be linked to it.
func (l *lookups) Ask(ctx context.Context, m track.Message) (track.Verdict, error) {
	c := l.e.sess.get()
	if l.e.online().Err() != nil || c == nil {
		return track.Verdict{}, errOffline
	}
	ctx, cancel := l.e.withNet(ctx)
	defer cancel()
	if m.Outgoing {
		l.disclosed = agent.Disclosure{Key: m.Key, Purpose: "tracking decision", At: l.e.clock.Now(),
			Fields: []agent.FieldSize{{Name: "To", Bytes: joinedLen(m.To)}, {Name: "Cc", Bytes: joinedLen(m.Cc)}}}
		parties, err := c.ResolveParties(ctx, append(append([]string(nil), m.To...), m.Cc...))
		if err != nil {
			return track.Verdict{}, err
		}
		for _, p := range parties {
			if p.Entity == "contact" || p.Entity == "account" || p.Entity == "lead" {
				return track.Verdict{Match: true, Detail: p.Entity + " " + p.Name}, nil
			}
		}
		return track.Verdict{}, nil
	}
	h := crm.Headers{MessageID: outbox.BracketID(m.MessageID), Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc}
	l.disclosed = agent.Disclosure{Key: m.Key, Purpose: "tracking decision", At: l.e.clock.Now(), Fields: []agent.FieldSize{
		{Name: "Message-ID", Bytes: len(h.MessageID)}, {Name: "Subject", Bytes: len(h.Subject)}, {Name: "From", Bytes: len(h.From)},
		{Name: "To", Bytes: joinedLen(h.To)}, {Name: "Cc", Bytes: joinedLen(h.Cc)}}}
	res, err := c.CheckIncomingEmail(ctx, h)
	if err != nil {
		return track.Verdict{}, err
	}
	switch res.Reason {
	case crm.ReasonDuplicate:
		if h.MessageID == "" {
			return track.Verdict{Duplicate: true}, nil
		}
		// The Message-ID alone, already disclosed above.
		info, ok, err := c.FindEmail(ctx, h.MessageID)
		if err != nil {
			return track.Verdict{}, err
		}
		if !ok {
			return track.Verdict{Duplicate: true}, nil // gone meanwhile: the upload links or creates
		}
		l.found = info
		return track.Verdict{Duplicate: true, ActivityID: string(info.ID)}, nil
	case crm.ReasonInvalidSender:
		return track.Verdict{Invalid: true}, nil
	}
	return track.Verdict{Match: res.ShouldDeliver}, nil
}
