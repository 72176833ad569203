package crm

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Tracked is the result of tracking one Email.
type Tracked struct {
	Info    ActivityInfo
	Created bool  // a new activity was made (or our own earlier attempt's record was found and finished)
	Err     error // this email's own failure
}

// CreateEmail creates the email activity for e with its parties and
// regarding link, and marks it completed (received or sent): TrackEmails
// of one. If an activity with the same Message-ID exists, it is returned
// instead with created false. For a new activity OwnerID is empty: its
// owner is the signed-in user.
func (c *HTTPClient) CreateEmail(ctx context.Context, e Email) (info ActivityInfo, created bool, err error) {
	ts, err := c.TrackEmails(ctx, []Email{e})
	if len(ts) != 1 {
		return ActivityInfo{}, false, err
	}
	if err == nil {
		err = ts[0].Err
	}
	return ts[0].Info, ts[0].Created, err
}

// TrackEmails creates each email with its parties and regarding link and completes it in one change set (POST, then PATCH of its state through $1), all change sets in one $batch. An email whose Message-ID the CRM holds already is linked, not created.
//
// Parties left unresolved are resolved (a sender against system users,
// recipients in full) and the duplicate check by Message-ID runs first,
// as GETs in one batch, for what Ask has not just answered. A change set refused
// because Email.ID exists already is our own earlier attempt whose answer
// was lost: that record is read, and completed if it was left open. The
// result has one Tracked per email, in order; a failure of a whole batch
// is returned, with the results of batches already sent.
func (c *HTTPClient) TrackEmails(ctx context.Context, es []Email) ([]Tracked, error) {
	const op = "track emails"
	out := make([]Tracked, len(es))
	es = slices.Clone(es)
	k, err := c.lookUp(ctx, op, es)
	if err != nil {
		return nil, err
	}
	bodies := make([]map[string]any, len(es))
	leader := make([]int, len(es)) // index of the first email with the same Message-ID
	firstOf := map[string]int{}
	msgs, failed := k.msgs, k.midErr
	for i, e := range es {
		leader[i] = -1
		if e.MessageID == "" {
			out[i].Err = &Error{Op: "create email", Kind: KindBadRequest, Message: "a Message-ID is required to track a message exactly once"}
			continue
		}
		if err := k.resolve(&es[i]); err != nil {
			out[i].Err = err
			continue
		}
		body, err := emailBody(es[i])
		if err != nil {
			out[i].Err = &Error{Op: "create email", Kind: KindBadRequest, Message: err.Error()}
			continue
		}
		mk := midKey(e.MessageID)
		if j, ok := firstOf[mk]; ok {
			leader[i] = j // the same message twice: the second links to the first
			continue
		}
		firstOf[mk] = i
		bodies[i] = body
	}
	var items []batchItem
	itemOf := map[int]int{}
	for i, e := range es {
		if bodies[i] == nil {
			continue
		}
		mk := midKey(e.MessageID)
		info, ok := msgs[mk]
		switch {
		case !ok:
			// A failed check leaves the message undecided: create nothing.
			out[i].Err = failed[mk]
			if out[i].Err == nil {
				out[i].Err = &Error{Op: op, Kind: KindBadResponse, Message: "the duplicate check did not answer for this message"}
			}
		case info != nil:
			out[i] = Tracked{Info: *info}
		default:
			itemOf[i] = len(items)
			items = append(items, trackItem(e, bodies[i]))
		}
	}
	var answers [][]batchAnswer
	var batchErr error
	if len(items) > 0 {
		answers, batchErr = c.batch(ctx, op, items)
	}
	for i, e := range es {
		it, ok := itemOf[i]
		if !ok || answers == nil {
			if ok {
				out[i].Err = batchErr
			}
			continue
		}
		out[i] = c.tracked(ctx, e, answers[it])
	}
	for i := range es {
		if j := leader[i]; j >= 0 {
			out[i] = Tracked{Info: out[j].Info, Err: out[j].Err}
		}
	}
	return out, batchErr
}

// lookUp learns, in one batch of GETs, what tracking es needs and the
// decision did not just learn: the parties left unresolved (a sender
// against system users, recipients in full) and whether the CRM holds each
// Message-ID. What is remembered is not asked again.
func (c *HTTPClient) lookUp(ctx context.Context, op string, es []Email) (*known, error) {
	k := &known{parties: map[string]Party{}, senders: map[string]Party{}, msgs: map[string]*ActivityInfo{}}
	var senders, addrs, mids []string
	seen := map[string]bool{}
	for _, e := range es {
		if e.MessageID == "" {
			continue
		}
		if a := addrKey(e.From.Address); a != "" && !e.From.Resolved() && !seen["s:"+a] {
			seen["s:"+a] = true
			if p, ok := c.memo.sender(a); ok {
				k.senders[a] = p
			} else {
				senders = append(senders, a)
			}
		}
		for _, p := range append(slices.Clone(e.To), e.Cc...) {
			if a := addrKey(p.Address); a != "" && !p.Resolved() && !seen["r:"+a] {
				seen["r:"+a] = true
				if r, ok := c.memo.party(a); ok {
					k.parties[a] = r
				} else {
					addrs = append(addrs, a)
				}
			}
		}
		if mk := midKey(e.MessageID); !seen["m:"+mk] {
			seen["m:"+mk] = true
			if info, ok := c.memo.message(e.MessageID); ok {
				k.msgs[mk] = info
			} else {
				mids = append(mids, e.MessageID)
			}
		}
	}
	var items []batchItem
	res := c.resolveItems(addrs, senders, &items)
	dup := c.findItems(mids, &items)
	if len(items) == 0 {
		return k, nil
	}
	answers, err := c.batch(ctx, op, items)
	if err != nil {
		return nil, err
	}
	res.collect(ctx, c, answers, k)
	dup.collect(ctx, c, answers, k)
	return k, nil
}

// resolve fills the parties of e that lookUp resolved; an address whose
// query failed fails the email.
func (k *known) resolve(e *Email) error {
	if a := addrKey(e.From.Address); a != "" && !e.From.Resolved() {
		if err := k.addrErr[a]; err != nil {
			return err
		}
		if p, ok := k.senders[a]; ok {
			e.From.Entity, e.From.ID = p.Entity, p.ID
		}
	}
	e.To, e.Cc = slices.Clone(e.To), slices.Clone(e.Cc) // the caller's slices stay as they were
	for _, ps := range [][]Party{e.To, e.Cc} {
		for i := range ps {
			a := addrKey(ps[i].Address)
			if a == "" || ps[i].Resolved() {
				continue
			}
			if err := k.addrErr[a]; err != nil {
				return err
			}
			if p, ok := k.parties[a]; ok {
				ps[i].Entity, ps[i].ID = p.Entity, p.ID
			}
		}
	}
	return nil
}

// trackItem is the change set that tracks e: create it (Content-ID 1),
// then complete it through $1, so that no email is left open half-made.
// Creating it completed in one POST is not documented to work (section
// 3.5); the change set makes the two steps atomic.
func trackItem(e Email, body map[string]any) batchItem {
	return batchItem{changeSet: true, ops: []batchOp{
		{name: "create email", method: http.MethodPost, path: "emails", body: body},
		{name: "complete email", method: http.MethodPatch, path: "$1", body: completeBody(e.Outgoing, e.ReceivedAt),
			header: http.Header{"If-Match": {"*"}}},
	}}
}

// tracked reads the answers of one email's change set.
func (c *HTTPClient) tracked(ctx context.Context, e Email, as []batchAnswer) Tracked {
	if len(as) != 2 {
		return Tracked{Err: &Error{Op: "create email", Kind: KindBadResponse, Message: "the change set answer does not match the request"}}
	}
	var err error
	for _, a := range as {
		if a.err != nil {
			err = a.err
			break
		}
	}
	if err != nil {
		if isDuplicateKey(err) {
			return c.recoverDuplicate(ctx, e, err)
		}
		return Tracked{Err: err}
	}
	id, ok := createdID(as[0], e.ID)
	if !ok {
		return Tracked{Err: &Error{Op: "create email", Kind: KindBadResponse, Status: as[0].status,
			Message: "the CRM did not say which record it created (no OData-EntityId)"}}
	}
	c.memo.forgetMessage(e.MessageID)
	return Tracked{Created: true, Info: ActivityInfo{ID: id, MessageID: e.MessageID, Regarding: e.Regarding, Outgoing: e.Outgoing}}
}

// createdID finds the new record's ID in a create's answer: the
// OData-EntityId header (or Location, which batch answers carry too), a
// 201's body, or else the ID the client chose.
func createdID(a batchAnswer, chosen string) (ActivityID, bool) {
	for _, h := range []string{"OData-EntityId", "Location"} {
		if id, ok := entityIDFromHeader(a.header.Get(h)); ok {
			return ActivityID(strings.ToLower(id)), true
		}
	}
	var rec struct {
		ActivityID string `json:"activityid"`
	}
	if len(a.body) > 0 && json.Unmarshal(a.body, &rec) == nil && IsGUID(rec.ActivityID) {
		return ActivityID(strings.ToLower(rec.ActivityID)), true
	}
	if IsGUID(chosen) {
		return ActivityID(strings.ToLower(chosen)), true
	}
	return "", false
}

// recoverDuplicate handles a create refused because its key exists. With
// a client-chosen ID, the record may be our own earlier attempt: if so it
// is ours (completed now if it was left open). Otherwise another client
// tracked the same Message-ID meanwhile, and the email links to that.
func (c *HTTPClient) recoverDuplicate(ctx context.Context, e Email, cause error) Tracked {
	if IsGUID(e.ID) {
		info, err := c.Activity(ctx, ActivityID(strings.ToLower(e.ID)))
		switch {
		case err == nil:
			c.memo.forgetMessage(e.MessageID)
			if info.Open {
				if err := c.complete(ctx, info.ID, e.Outgoing, e.ReceivedAt); err != nil {
					return Tracked{Info: info, Created: true, Err: err}
				}
				info.Open = false
			}
			return Tracked{Info: info, Created: true}
		case KindOf(err) != KindNotFound:
			return Tracked{Err: err}
		}
	}
	info, ok, err := c.FindEmail(ctx, e.MessageID)
	switch {
	case err != nil:
		return Tracked{Err: err}
	case ok:
		return Tracked{Info: info}
	}
	return Tracked{Err: cause}
}

// CompleteEmail marks an open email completed: Received for incoming
// mail, Sent for outgoing. It repairs an email a track left open; the
// engine calls it for the user's open emails it meets during sync.
func (c *HTTPClient) CompleteEmail(ctx context.Context, id ActivityID, outgoing bool) error {
	return c.complete(ctx, id, outgoing, time.Time{})
}

// complete moves an email to Completed/Received or Completed/Sent, the
// SetState route Dataverse documents for mail that already happened.
func (c *HTTPClient) complete(ctx context.Context, id ActivityID, outgoing bool, at time.Time) error {
	const op = "complete email"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: "PATCH", path: "emails(" + string(id) + ")",
		body: completeBody(outgoing, at), header: map[string][]string{"If-Match": {"*"}}, idempotent: true})
	return err
}

// completeBody sets the state, and actualend again when known: completing
// an activity sets actualend to the time of completion by default.
func completeBody(outgoing bool, at time.Time) map[string]any {
	status := 4 // Received
	if outgoing {
		status = 3 // Sent
	}
	body := map[string]any{"statecode": 1, "statuscode": status}
	if !at.IsZero() {
		body["actualend"] = isoTime(at)
	}
	return body
}

// isoTime writes t as Dataverse writes dates: ISO 8601, UTC, seconds.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
