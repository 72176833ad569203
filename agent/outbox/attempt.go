package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/track"
)

// report is what an attempt has to show the user besides the row.
type report struct {
	text string            // what happened, when the row's state does not say it
	sent []agent.FieldSize // what a track uploaded
	env  *maildir.Envelope // the headers a track read, so nobody reads them again to show the outcome
	// invite is the meeting request a tracked message carries; it is
	// tracked as an appointment with the message. Memory only.
	invite []byte
}

// attempt performs a against the CRM and returns the message row to store.
func (w *Worker) attempt(ctx context.Context, a cache.Action, user string) (cache.Message, report, error) {
	m, ok, err := w.o.Store.Message(ctx, a.Key)
	if err != nil {
		return cache.Message{}, report{}, fmt.Errorf("outbox: read message row: %w", err)
	}
	if !ok {
		m = cache.Message{Key: a.Key}
	}
	switch a.Kind {
	case cache.ActionTrack:
		res := w.tracks(ctx, []cache.Action{a}, user)
		return res[0].m, res[0].rep, res[0].err
	case cache.ActionUntrack:
		m, text, err := w.untrack(ctx, m, user)
		return m, report{text: text}, err
	case cache.ActionSetRegarding:
		if m.ActivityID == "" {
			return m, report{text: "Set regarding needs a tracked message; track it first."}, errNotTracked
		}
		var err error
		if a.Regarding == nil && m.Regarding != nil {
			// The cached link names the lookup to clear, which spares
			// reading the activity first.
			err = w.o.CRM.ClearRegarding(ctx, crm.ActivityID(m.ActivityID), m.Regarding.Entity)
		} else {
			err = w.o.CRM.SetRegarding(ctx, crm.ActivityID(m.ActivityID), a.Regarding)
		}
		if err != nil {
			return m, report{}, err
		}
		m.State, m.Regarding = agent.Tracked, a.Regarding
		return m, report{}, nil
	}
	return m, report{}, fmt.Errorf("outbox: unknown action kind %d", a.Kind)
}

// maxTrackBodies bounds the message text of one batch of tracks, well
// below the request size a CRM accepts (the local CRM's default is 8 MiB).
const maxTrackBodies = 4 << 20

// tracks creates the activities of acts from the messages as they are in
// the Maildir now: one $batch with a change set per message. The result
// has one entry per action, in order.
func (w *Worker) tracks(ctx context.Context, acts []cache.Action, user string) []attempted {
	res := make([]attempted, len(acts))
	type ready struct {
		at int
		e  crm.Email
	}
	var (
		batch []ready
		bytes int
	)
	for i, a := range acts {
		m, ok, err := w.o.Store.Message(ctx, a.Key)
		if err != nil {
			res[i] = attempted{err: fmt.Errorf("outbox: read message row: %w", err)}
			continue
		}
		if !ok {
			m = cache.Message{Key: a.Key}
		}
		res[i].m = m
		if len(batch) > 0 && bytes >= maxTrackBodies {
			// Too much text for one request already: this one waits for
			// the next read of the queue, without counting as an attempt.
			res[i].err = errLater
			continue
		}
		e, rep, err := w.prepare(a, m)
		res[i].rep, res[i].err = rep, err
		if err != nil {
			continue
		}
		bytes += len(e.Body)
		batch = append(batch, ready{i, e})
	}
	if len(batch) == 0 {
		return res
	}
	emails := make([]crm.Email, len(batch))
	for i, r := range batch {
		emails[i] = r.e
	}
	// The client resolves the parties, from memory for the messages it
	// has just decided: then this is the only request.
	done, err := w.o.CRM.TrackEmails(ctx, emails)
	if err == nil && len(done) != len(emails) {
		err = &crm.Error{Op: "track emails", Kind: crm.KindBadResponse, Message: "the CRM answered a different number of emails"}
	}
	if err != nil {
		for _, r := range batch {
			res[r.at].err = err
		}
		return res
	}
	for i, r := range batch {
		at := &res[r.at]
		t := done[i]
		if t.Err != nil && t.Info.ID == "" {
			at.err = t.Err
			continue
		}
		if t.Err != nil {
			w.o.Logger.Warn("outbox: activity created but not completed", "err", t.Err)
		}
		m := at.m
		// The reason stays the decision's ("sender is in the CRM", "tracked
		// by you"): it is the answer to "why is this tracked?".
		m.State = agent.Tracked
		if m.Reason == 0 {
			m.Reason = int(track.ReasonTrackedByUser)
		}
		m.ActivityID = string(t.Info.ID)
		m.OwnedByMe = t.Created || (user != "" && t.Info.OwnerID == user)
		m.Regarding = t.Info.Regarding
		at.m = m
		if t.Created {
			at.rep.sent = sentFields(emails[i])
		} else {
			// Linked to the copy the duplicate check found: only the
			// Message-ID left the device, and nothing was uploaded.
			at.rep.sent = []agent.FieldSize{{Name: "Message-ID", Bytes: len(emails[i].MessageID)}}
			at.rep.text = "Already in the CRM; linked to the existing copy."
			// A track asked for a record (by hand, or by a folder rule:
			// the same message moved to a mapped folder) sets it on the
			// copy found too, as server-side sync's folder tracking does.
			if want := emails[i].Regarding; want != nil && !sameRecord(want, m.Regarding) {
				if err := w.o.CRM.SetRegarding(ctx, t.Info.ID, want); err != nil {
					w.o.Logger.Warn("outbox: the existing copy's regarding could not be set", "err", err)
					at.rep.text = "Already in the CRM; linked to the existing copy, whose regarding could not be set: " + err.Error()
				} else {
					m.Regarding = want
					at.m = m
					at.rep.text = "Already in the CRM; linked to the existing copy and set regarding the record you chose."
				}
			}
		}
		if inv := at.rep.invite; inv != nil {
			// The meeting goes with its message: until it is in the CRM
			// the track is not done, and the next attempt (which finds
			// the message's copy) tries it again.
			text, err := w.trackInvitation(ctx, inv, user, at.m.Regarding)
			if err != nil {
				at.err = err
				continue
			}
			at.rep.text = strings.TrimSpace(at.rep.text + " " + text)
			at.rep.sent = append(at.rep.sent, agent.FieldSize{Name: FieldMeetingRequest, Bytes: len(inv)})
		}
	}
	return res
}

// sameRecord reports whether a and b name the same record.
func sameRecord(a, b *agent.RecordRef) bool {
	return a != nil && b != nil && a.Entity == b.Entity && strings.EqualFold(a.ID, b.ID)
}

// errLater leaves an action in the queue as it is, still due, when it did
// not fit in this batch: the next read of the queue takes it.
var errLater = errors.New("outbox: waits for the next batch")

// prepare reads the message for a track: its headers, and its text, which
// leaves the device only now that it is being tracked.
func (w *Worker) prepare(a cache.Action, m cache.Message) (crm.Email, report, error) {
	gone := report{text: "The message was moved or deleted before it could be tracked."}
	env, err := w.o.Mail.Envelope(a.Key)
	if errors.Is(err, maildir.ErrGone) {
		return crm.Email{}, gone, errGone
	}
	if err != nil {
		return crm.Email{}, report{text: "The message could not be read: " + err.Error()}, err
	}
	body, err := w.readBody(a.Key)
	if errors.Is(err, maildir.ErrGone) {
		return crm.Email{}, gone, errGone
	}
	if err != nil {
		return crm.Email{}, report{text: "The message could not be read: " + err.Error()}, err
	}
	if body.Truncated {
		w.o.Logger.Info("outbox: body cut to the size limit", "key", string(a.Key))
	}
	e := crm.Email{
		ID:         idemGUID(a.IdemKey),
		MessageID:  BracketID(env.MessageID),
		Subject:    env.Subject,
		Body:       body.Text,
		Outgoing:   w.o.Outgoing(w.folder(a.Key)),
		From:       crm.Party{Address: env.From.Addr},
		Regarding:  a.Regarding,
		ReceivedAt: m.ReceivedAt,
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = env.Date
	}
	for _, x := range env.To {
		e.To = append(e.To, crm.Party{Address: x.Addr})
	}
	for _, x := range env.Cc {
		e.Cc = append(e.Cc, crm.Party{Address: x.Addr})
	}
	return e, report{env: &env, invite: body.Invitation}, nil
}

// folder is the name of the folder k is in now; "" when it is gone (the
// track then fails as gone anyway).
func (w *Worker) folder(k agent.MessageKey) string {
	name, _ := w.o.Mail.Folder(k)
	return name
}

// sentFields lists what a track uploads, with sizes, for the "what was
// sent" view.
func sentFields(e crm.Email) []agent.FieldSize {
	addrs := func(ps []crm.Party) int {
		n := 0
		for _, p := range ps {
			n += len(p.Address)
		}
		return n
	}
	return []agent.FieldSize{
		{Name: "Message-ID", Bytes: len(e.MessageID)},
		{Name: "Subject", Bytes: len(e.Subject)},
		{Name: "From", Bytes: len(e.From.Address)},
		{Name: "To", Bytes: addrs(e.To)},
		{Name: "Cc", Bytes: addrs(e.Cc)},
		{Name: "Body", Bytes: len(e.Body)},
	}
}

func (w *Worker) readBody(k agent.MessageKey) (Body, error) {
	rc, err := w.o.Mail.Body(k)
	if err != nil {
		return Body{}, err
	}
	defer rc.Close()
	b, err := ReadBody(rc)
	if err != nil {
		// A message whose body cannot be parsed is still worth tracking
		// with its headers; say so in the description.
		return Body{Text: "(the body of this message could not be read)"}, nil
	}
	return b, nil
}

// untrack deletes the CRM copy only when the signed-in user owns it; a
// colleague's copy stays and the link is forgotten locally.
func (w *Worker) untrack(ctx context.Context, m cache.Message, user string) (cache.Message, string, error) {
	forget := func(text string) (cache.Message, string, error) {
		m.State, m.Reason = agent.Untracked, int(track.ReasonUntrackedByUser)
		m.ActivityID, m.Regarding, m.OwnedByMe = "", nil, false
		return m, text, nil
	}
	if m.ActivityID == "" {
		return forget("Not tracked; nothing to remove from the CRM.")
	}
	// Ownership is checked against the CRM now, not the cached flag: the
	// activity may have been reassigned since it was tracked. The delete
	// names the version read, so a reassignment in between makes it fail
	// (412) instead of deleting a copy that is no longer the user's; then
	// the owner is read again.
	for try := 0; ; try++ {
		info, err := w.o.CRM.Activity(ctx, crm.ActivityID(m.ActivityID))
		if crm.KindOf(err) == crm.KindNotFound {
			return forget("The CRM copy was already gone.")
		}
		if err != nil {
			return m, "", err
		}
		if user == "" || info.OwnerID != user {
			name := "another user"
			if info.OwnerID != "" {
				if n, err := w.o.CRM.UserName(ctx, info.OwnerID); err == nil && strings.TrimSpace(n) != "" {
					name = n
				}
			}
			return forget("Kept in the CRM: the copy belongs to " + name + "; only the link on this computer was removed.")
		}
		err = w.o.CRM.DeleteActivityIf(ctx, crm.ActivityID(m.ActivityID), info.ETag)
		if crm.KindOf(err) == crm.KindConflict && try == 0 {
			continue
		}
		if err != nil {
			return m, "", err
		}
		break
	}
	return forget("Deleted from the CRM (it was yours).")
}

// BracketID writes a Message-ID as mail headers and Dataverse's messageid
// column carry it: in angle brackets.
func BracketID(id string) string {
	if id == "" || strings.HasPrefix(id, "<") {
		return id
	}
	return "<" + id + ">"
}

// idemGUID writes the action's 128-bit idempotency key as the activity
// GUID, so every retry of one action names the same CRM record.
func idemGUID(key string) string {
	if len(key) != 32 {
		return ""
	}
	g := strings.ToLower(key[:8] + "-" + key[8:12] + "-" + key[12:16] + "-" + key[16:20] + "-" + key[20:])
	if !crm.IsGUID(g) {
		return ""
	}
	return g
}
