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
		return w.track(ctx, a, m, user)
	case cache.ActionUntrack:
		m, text, err := w.untrack(ctx, m, user)
		return m, report{text: text}, err
	case cache.ActionSetRegarding:
		if m.ActivityID == "" {
			return m, report{text: "Set regarding needs a tracked message; track it first."}, errNotTracked
		}
		if err := w.o.CRM.SetRegarding(ctx, crm.ActivityID(m.ActivityID), a.Regarding); err != nil {
			return m, report{}, err
		}
		m.State, m.Regarding = agent.Tracked, a.Regarding
		return m, report{}, nil
	}
	return m, report{}, fmt.Errorf("outbox: unknown action kind %d", a.Kind)
}

// track creates the activity from the message as it is in the Maildir now.
func (w *Worker) track(ctx context.Context, a cache.Action, m cache.Message, user string) (cache.Message, report, error) {
	env, err := w.o.Mail.Envelope(a.Key)
	if errors.Is(err, maildir.ErrGone) {
		return m, report{text: "The message was moved or deleted before it could be tracked."}, errGone
	}
	if err != nil {
		return m, report{text: "The message could not be read: " + err.Error()}, err
	}
	body, truncated, err := w.readBody(a.Key)
	if errors.Is(err, maildir.ErrGone) {
		return m, report{text: "The message was moved or deleted before it could be tracked."}, errGone
	}
	if err != nil {
		return m, report{text: "The message could not be read: " + err.Error()}, err
	}
	if truncated {
		w.o.Logger.Info("outbox: body cut to the size limit", "key", string(a.Key))
	}
	addrs := []string{env.From.Addr}
	for _, x := range env.To {
		addrs = append(addrs, x.Addr)
	}
	for _, x := range env.Cc {
		addrs = append(addrs, x.Addr)
	}
	parties, err := w.o.CRM.ResolveParties(ctx, addrs)
	if err != nil {
		return m, report{env: &env}, err
	}
	e := crm.Email{
		ID:        idemGUID(a.IdemKey),
		MessageID: BracketID(env.MessageID),
		Subject:   env.Subject,
		Body:      body,
		Outgoing:  w.o.Outgoing(m.Folder),
		From:      parties[0],
		To:        parties[1 : 1+len(env.To)],
		Cc:        parties[1+len(env.To):],
		Regarding: a.Regarding,
	}
	if env.InReplyTo != "" {
		e.InReplyTo = BracketID(env.InReplyTo)
	}
	info, created, err := w.o.CRM.CreateEmail(ctx, e)
	if err != nil && info.ID == "" {
		return m, report{env: &env}, err
	}
	// Created but not marked completed: the activity exists and is
	// recorded; state can be fixed in the CRM, a second copy cannot.
	if err != nil {
		w.o.Logger.Warn("outbox: activity created but left open", "err", err)
	}
	// The reason stays the decision's ("sender is in the CRM", "tracked by
	// you"): it is the answer to "why is this tracked?".
	m.State = agent.Tracked
	if m.Reason == 0 {
		m.Reason = int(track.ReasonTrackedByUser)
	}
	m.ActivityID = string(info.ID)
	m.OwnedByMe = created || (user != "" && info.OwnerID == user)
	m.Regarding = info.Regarding
	text := ""
	if !created {
		text = "Already in the CRM; linked to the existing copy."
	}
	return m, report{text: text, sent: sentFields(e), env: &env}, nil
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

func (w *Worker) readBody(k agent.MessageKey) (string, bool, error) {
	rc, err := w.o.Mail.Body(k)
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	text, truncated, err := BodyText(rc)
	if err != nil {
		// A message whose body cannot be parsed is still worth tracking
		// with its headers; say so in the description.
		return "(the body of this message could not be read)", false, nil
	}
	return text, truncated, nil
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
	info, err := w.o.CRM.Activity(ctx, crm.ActivityID(m.ActivityID))
	if crm.KindOf(err) == crm.KindNotFound {
		return forget("The CRM copy was already gone.")
	}
	if err != nil {
		return m, "", err
	}
	// Ownership is checked against the CRM now, not the cached flag: the
	// activity may have been reassigned since it was tracked.
	if user == "" || info.OwnerID != user {
		name := "another user"
		if info.OwnerID != "" {
			if n, err := w.o.CRM.UserName(ctx, info.OwnerID); err == nil && strings.TrimSpace(n) != "" {
				name = n
			}
		}
		return forget("Kept in the CRM: the copy belongs to " + name + "; only the link on this computer was removed.")
	}
	if err := w.o.CRM.DeleteActivity(ctx, crm.ActivityID(m.ActivityID)); err != nil {
		return m, "", err
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
