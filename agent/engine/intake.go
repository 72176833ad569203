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
	"crmsync/agent/imap"
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
	folder string // the folder's name, in memory only
	// folderID is the folder's salted hash, which the cache keeps instead
	// of the name.
	folderID string
}

// newJob makes the job of k in folder.
func (e *Engine) newJob(k agent.MessageKey, folder string) job {
	return job{key: k, folder: folder, folderID: e.o.Store.HashFolder(folder)}
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
	m := cache.Message{Key: r.key, Folder: r.folderID, MsgIDHash: r.hash, State: agent.Untracked,
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

// maxAsk bounds the messages one decider takes at once, and so the
// questions in one $batch: a few hundred GETs, far below Dataverse's
// 1,000 operations, and a batch that still answers in well under a second.
const maxAsk = 100

// decider reads headers and runs the pipeline; it never writes. The loop
// records the results, so decisions and the user's own actions never
// race. It takes every message that is waiting when it starts, so the
// messages that arrive together are asked about in one request: a lone
// arrival costs one request, a burst or a backlog far less than one each.
func (e *Engine) decider(ctx context.Context) error {
	for {
		var jobs []job
		select {
		case <-ctx.Done():
			return ctx.Err()
		case j := <-e.work:
			jobs = append(jobs, j)
		}
	more:
		for len(jobs) < maxAsk {
			select {
			case j := <-e.work:
				jobs = append(jobs, j)
			default:
				break more
			}
		}
		for _, r := range e.decideAll(ctx, jobs) {
			select {
			case e.results <- r:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// decideAll decides jobs in two passes: first everything that needs no
// CRM (the cache, the user's rules), then one question to the CRM for all
// the messages that still need one, and the pipeline again with the
// answers.
func (e *Engine) decideAll(ctx context.Context, jobs []job) []result {
	rs := make([]result, len(jobs))
	var waiting []pendingAsk
	for i, j := range jobs {
		r, pa, ok := e.decideLocal(ctx, j)
		rs[i] = r
		if ok {
			pa.at = i
			waiting = append(waiting, pa)
		}
	}
	if len(waiting) == 0 {
		return rs
	}
	answers, err := e.askCRM(ctx, waiting)
	now := e.clock.Now()
	for n, pa := range waiting {
		r := &rs[pa.at]
		lk := &answered{lookups: lookups{e: e}}
		switch {
		case err != nil:
			lk.err = err
		default:
			lk.ans = &answers[n]
		}
		r.decision, r.err = track.Decide(ctx, pa.policy, lk, pa.msg)
		if lk.asked && !errors.Is(err, errOffline) {
			r.disclosed = disclosure(pa.msg, now)
		}
		if r.err == nil && r.decision.Action == track.Link && lk.found != nil {
			// The CRM holds the message already: link to that activity
			// rather than upload the body for nothing.
			found := *lk.found
			r.known, r.owned = &found, pa.userID != "" && strings.EqualFold(found.OwnerID, pa.userID)
			r.decision.Detail = "linked to the existing copy"
		}
	}
	return rs
}

// pendingAsk is a message whose decision needs the CRM.
type pendingAsk struct {
	at     int // its place among the jobs
	msg    track.Message
	policy track.Policy
	userID string
	self   string // the user's address, lower case
}

// errAsk stops the first pass at the question to the CRM.
var errAsk = errors.New("the CRM must be asked")

// decideLocal runs the pipeline as far as it goes without the CRM. ok
// reports that the message needs the CRM's answer; r is then incomplete.
func (e *Engine) decideLocal(ctx context.Context, j job) (r result, pa pendingAsk, ok bool) {
	now := e.clock.Now()
	if r, ok := e.byName(j, now); ok {
		return r, pa, false
	}
	r = result{job: j}
	if _, known, err := e.o.Store.Message(ctx, j.key); err != nil {
		r.err = err
		return r, pa, false
	} else if known {
		r.err = errKnown
		return r, pa, false
	}
	env, err := e.mail.Envelope(j.key)
	if err != nil {
		r.err = errors.Join(errUnreadable, err)
		r.received = e.receivedAt(maildir.Envelope{}, j.key, now)
		return r, pa, false
	}
	r.env = env
	r.hash = e.o.Store.HashMessageID(env.MessageID)
	r.received = e.receivedAt(env, j.key, now)
	if info, ok := e.knownActivity(r.hash); ok {
		r.known, r.owned = &info, true
		r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonAlreadyTracked}
		return r, pa, false
	}
	v := e.view.Load()
	m := trackMessage(j, env, v.self, e.isSent(j.folder))
	if now.Sub(r.received) > e.o.Lookback {
		r.decision = track.Decision{Action: track.Skip, Reason: track.ReasonTooOld}
		return r, pa, false
	}
	p := track.Policy{Scope: v.settings.AutoTrack, Self: v.self,
		ExcludedAddresses: v.settings.ExcludedAddresses, InternalDomains: v.settings.InternalDomains}
	r.decision, r.err = track.Decide(ctx, p, probe{lookups{e: e}}, m)
	if errors.Is(r.err, errAsk) {
		r.decision, r.err = track.Decision{}, nil
		return r, pendingAsk{msg: m, policy: p, userID: v.userID, self: v.self}, true
	}
	return r, pa, false
}

// byName decides j from its Maildir name alone, when the name says enough.
// Maildir writers put the delivery time at the start of the name. A
// message delivered well before the lookback window is never tracked
// automatically, so it is decided without opening the file: on a first
// start that is nearly the whole mailbox. A row already written for the
// key is kept: batched decisions are inserted, never overwritten. It reads
// nothing but j and the options, so the loop may call it too.
func (e *Engine) byName(j job, now time.Time) (result, bool) {
	kt, ok := keyTime(j.key, now)
	if !ok {
		// An IMAP key carries no time, but the listing brought each
		// message's INTERNALDATE: it is in memory, and deciding by it
		// spares the server a header fetch per old message.
		if m, isIMAP := e.mail.get().(*imap.Source); isIMAP {
			t, err := m.Delivered(j.key)
			kt, ok = t, err == nil && t.After(plausibleAfter)
		}
	}
	if !ok || now.Sub(kt) <= e.o.Lookback+24*time.Hour {
		return result{}, false
	}
	return result{job: j, received: kt, decision: track.Decision{Action: track.Skip, Reason: track.ReasonTooOld}}, true
}

// isSent reports whether a Maildir folder holds the user's sent mail; the
// deciders and the outbox both ask it.
func (e *Engine) isSent(folder string) bool {
	// An IMAP server marks its sent folder (\Sent); a Maildir's is known
	// by name.
	if m, ok := e.mail.get().(interface{ IsSent(string) bool }); ok {
		return m.IsSent(folder)
	}
	return slices.Contains(e.o.SentFolders, folder)
}

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

// lookups is the pipeline's window on the cache.
type lookups struct{ e *Engine }

func (l lookups) Tracked(ctx context.Context, id string) (bool, error) {
	m, ok, err := l.e.o.Store.MessageByHash(ctx, l.e.o.Store.HashMessageID(id))
	return ok && (m.State == agent.Tracked || m.State == agent.Pending), err
}

func (l lookups) AnyTracked(ctx context.Context, ids []string) (bool, error) {
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

// probe is the first pass's window: the cache, and a question to the CRM
// that stops the pipeline so the question can join the others.
type probe struct{ lookups }

func (probe) Ask(context.Context, track.Message) (track.Verdict, error) {
	return track.Verdict{}, errAsk
}

// answered is the second pass's window: the cache, and the CRM's answer
// to this message from the shared $batch.
type answered struct {
	lookups
	ans   *crm.Answer // nil when err is set
	err   error       // the whole question failed (offline, throttled, ...)
	asked bool        // the pipeline used the answer
	found *crm.ActivityInfo
}

// Ask turns the CRM's answer into the pipeline's verdict. For incoming
// mail CheckIncomingEmail decides (ShouldDeliver; its reason is kept for
// the user); for sent mail a recipient that is a CRM contact, account or
// lead does. Either way a copy the CRM holds already is linked to.
func (a *answered) Ask(_ context.Context, m track.Message) (track.Verdict, error) {
	a.asked = true
	if a.err != nil {
		return track.Verdict{}, a.err
	}
	ans := a.ans
	if ans.Err != nil {
		return track.Verdict{}, ans.Err
	}
	if ans.Existing != nil {
		found := *ans.Existing
		a.found = &found
		return track.Verdict{Duplicate: true, ActivityID: string(found.ID)}, nil
	}
	if m.Outgoing {
		for i, p := range ans.Parties {
			if i == 0 {
				continue // the sender is the user
			}
			if p.Entity == "contact" || p.Entity == "account" || p.Entity == "lead" {
				return track.Verdict{Match: true, Detail: p.Entity + " " + p.Name}, nil
			}
		}
		return track.Verdict{}, nil
	}
	res := ans.Check
	switch res.Reason {
	case crm.ReasonDuplicate:
		// The copy is someone else's that this user may not read, or was
		// deleted since: the upload links or creates.
		return track.Verdict{Duplicate: true}, nil
	case crm.ReasonInvalidSender:
		return track.Verdict{Invalid: true}, nil
	}
	v := track.Verdict{Match: res.ShouldDeliver}
	if res.Reason != crm.ReasonSenderMatch && res.Reason != crm.ReasonNoRecipientMatch {
		v.Detail = "the CRM says: " + res.Reason.String()
	}
	return v, nil
}

// askCRM sends the questions of the waiting messages in one $batch: From,
// To, Cc, Subject and Message-ID, nothing else.
func (e *Engine) askCRM(ctx context.Context, waiting []pendingAsk) ([]crm.Answer, error) {
	c := e.sess.get()
	if e.online().Err() != nil || c == nil {
		return nil, errOffline
	}
	ctx, cancel := e.withNet(ctx)
	defer cancel()
	qs := make([]crm.Question, len(waiting))
	for i, pa := range waiting {
		m := pa.msg
		qs[i] = crm.Question{Outgoing: m.Outgoing, Headers: crm.Headers{MessageID: outbox.BracketID(m.MessageID),
			Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc}}
		if pa.self != "" && crm.IsGUID(pa.userID) {
			// The user is a system user the CRM need not be asked about,
			// and colleagues write from the user's own domains.
			qs[i].Known = []crm.Party{{Address: pa.self, Entity: "systemuser", ID: pa.userID}}
			qs[i].OwnDomains = ownDomains(pa.self, pa.policy.InternalDomains)
		}
	}
	answers, err := c.Ask(ctx, qs)
	if err == nil && len(answers) != len(qs) {
		err = &crm.Error{Op: "ask the CRM", Kind: crm.KindBadResponse, Message: "the CRM answered a different number of questions"}
	}
	return answers, err
}

// ownDomains are the user's organisation's mail domains: the user's own
// and those the settings call internal.
func ownDomains(self string, internal []string) []string {
	var out []string
	if i := strings.LastIndexByte(self, '@'); i >= 0 {
		out = append(out, self[i+1:])
	}
	for _, d := range internal {
		if d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@")); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// disclosure is what asking the CRM about m carried: for incoming mail
// CheckIncomingEmail's fields, for sent mail the addresses to resolve and
// the Message-ID to find a copy by.
func disclosure(m track.Message, at time.Time) agent.Disclosure {
	d := agent.Disclosure{Key: m.Key, Purpose: "tracking decision", At: at}
	id := outbox.BracketID(m.MessageID)
	if m.Outgoing {
		d.Fields = []agent.FieldSize{{Name: "Message-ID", Bytes: len(id)}, {Name: "From", Bytes: len(m.From)},
			{Name: "To", Bytes: joinedLen(m.To)}, {Name: "Cc", Bytes: joinedLen(m.Cc)}}
		return d
	}
	d.Fields = []agent.FieldSize{{Name: "Message-ID", Bytes: len(id)}, {Name: "Subject", Bytes: len(m.Subject)},
		{Name: "From", Bytes: len(m.From)}, {Name: "To", Bytes: joinedLen(m.To)}, {Name: "Cc", Bytes: joinedLen(m.Cc)}}
	return d
}
