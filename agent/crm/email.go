package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"crmsync/agent"
)

// ActivityID is the GUID of an email activity in the CRM.
type ActivityID string

// Participation is the role of a party on an email (activityparty
// participationtypemask).
type Participation int

// The participation types an email supports.
const (
	Sender Participation = 1
	To     Participation = 2
	Cc     Participation = 3
	Bcc    Participation = 4
)

// Party is one sender or recipient, resolved to a CRM record when one
// matches its address.
type Party struct {
	Address string // the address actually used
	Entity  string // "systemuser", "contact", "account", "lead"; empty when unresolved
	ID      string // the record's GUID; empty when unresolved
	Name    string // display only; never cached
}

// Resolved reports whether the party points at a CRM record.
func (p Party) Resolved() bool { return p.Entity != "" && p.ID != "" }

// Email is a message to be tracked as an email activity.
type Email struct {
	// ID is an optional activity GUID chosen by the caller: derived from a
	// durable idempotency key, it makes a create retried after a lost answer
	// a 412 on the same record instead of a second record.
	ID           string
	MessageID    string // RFC Message-ID, in angle brackets as mail carries it; the dedup key; required
	Subject      string
	Body         string // plain text; sent only because the message is being tracked
	Outgoing     bool   // true for mail the user sent
	From         Party
	To, Cc       []Party
	Regarding    *agent.RecordRef // optional
	InReplyTo    string
	Conversation string
}

// ActivityInfo is what the agent needs to know about a tracked activity:
// IDs only.
type ActivityInfo struct {
	ID        ActivityID
	OwnerID   string
	Regarding *agent.RecordRef // Name empty; nil when not set
	MessageID string
}

// regardingSets maps the entities "set regarding" supports to their entity
// sets and the email navigation property that binds them.
var regardingSets = map[string]struct{ set, nav string }{
	"contact":     {"contacts", "regardingobjectid_contact_email"},
	"account":     {"accounts", "regardingobjectid_account_email"},
	"opportunity": {"opportunities", "regardingobjectid_opportunity_email"},
	"incident":    {"incidents", "regardingobjectid_incident_email"},
}

// partySets maps the entities a party may point at to their entity sets.
var partySets = map[string]string{
	"systemuser": "systemusers",
	"contact":    "contacts",
	"account":    "accounts",
	"lead":       "leads",
}

const (
	subjectMax   = 800
	messageIDMax = 320
	addressMax   = 320
)

// FindEmail returns the activity that already carries messageID, if any.
// Dataverse treats the Message-ID as the identity of a tracked message, so
// this is what makes CreateEmail idempotent across crashes and devices.
func (c *HTTPClient) FindEmail(ctx context.Context, messageID string) (ActivityInfo, bool, error) {
	const op = "find email by Message-ID"
	if messageID == "" || len(messageID) > messageIDMax {
		return ActivityInfo{}, false, &Error{Op: op, Kind: KindBadRequest, Message: "the Message-ID is empty or longer than 320 characters"}
	}
	path := "emails" + query(
		"$select", "activityid,messageid,_ownerid_value,_regardingobjectid_value",
		"$filter", "messageid eq "+quote(messageID),
		"$orderby", "createdon asc",
		"$top", "1")
	var found *ActivityInfo
	err := c.queryAll(ctx, op, path, 0, func(row json.RawMessage) error {
		a, err := decodeActivity(op, row)
		if err == nil && found == nil {
			found = &a
		}
		return err
	})
	if err != nil || found == nil {
		return ActivityInfo{}, false, err
	}
	return *found, true, nil
}

// CreateEmail creates the email activity for e with its parties and
// regarding link, and marks it completed (received or sent). If an activity
// with the same Message-ID exists, it is returned instead with created
// false: a retry after a crash or a lost answer never makes a second copy,
// and a message a colleague tracked already is linked, not duplicated. For
// a new activity OwnerID is empty: its owner is the signed-in user.
func (c *HTTPClient) CreateEmail(ctx context.Context, e Email) (info ActivityInfo, created bool, err error) {
	const op = "create email"
	if e.MessageID == "" {
		return ActivityInfo{}, false, &Error{Op: op, Kind: KindBadRequest, Message: "a Message-ID is required to track a message exactly once"}
	}
	if existing, ok, err := c.FindEmail(ctx, e.MessageID); err != nil {
		return ActivityInfo{}, false, err
	} else if ok {
		return existing, false, nil
	}
	body, err := emailBody(e)
	if err != nil {
		return ActivityInfo{}, false, &Error{Op: op, Kind: KindBadRequest, Message: err.Error()}
	}
	resp, err := c.do(ctx, request{op: op, method: "POST", path: "emails", body: body})
	if KindOf(err) == KindConflict {
		// Our own earlier attempt got through (its answer was lost), or
		// another client tracked the message meanwhile: return that record.
		if IsGUID(e.ID) {
			if info, aerr := c.Activity(ctx, ActivityID(strings.ToLower(e.ID))); aerr == nil {
				return info, false, nil
			}
		}
		if existing, ok, ferr := c.FindEmail(ctx, e.MessageID); ferr == nil && ok {
			return existing, false, nil
		}
	}
	if err != nil {
		return ActivityInfo{}, false, err
	}
	id, ok := entityIDFromHeader(resp.header.Get("OData-EntityId"))
	if !ok {
		// A 201 with the record is also a valid answer to a create.
		var rec struct {
			ActivityID string `json:"activityid"`
		}
		if len(resp.body) == 0 || decode(op, resp, &rec) != nil || !IsGUID(rec.ActivityID) {
			return ActivityInfo{}, false, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the CRM did not say which record it created (no OData-EntityId)"}
		}
		id = rec.ActivityID
	}
	info = ActivityInfo{ID: ActivityID(strings.ToLower(id)), MessageID: e.MessageID, Regarding: e.Regarding}
	if err := c.complete(ctx, info.ID, e.Outgoing); err != nil {
		// The activity exists; leaving it open is better than creating it
		// again. The caller learns the ID and the error.
		return info, true, fmt.Errorf("crm: created email %s but could not mark it completed: %w", id, err)
	}
	return info, true, nil
}

// complete moves an email to Completed/Received or Completed/Sent, the
// SetState route Dataverse documents for mail that already happened.
func (c *HTTPClient) complete(ctx context.Context, id ActivityID, outgoing bool) error {
	status := 4 // Received
	if outgoing {
		status = 3 // Sent
	}
	_, err := c.do(ctx, request{op: "complete email", method: "PATCH", path: "emails(" + string(id) + ")",
		body: map[string]any{"statecode": 1, "statuscode": status}, header: map[string][]string{"If-Match": {"*"}}, idempotent: true})
	return err
}

// emailBody builds the deep-insert body of an email with its parties.
func emailBody(e Email) (map[string]any, error) {
	if len(e.MessageID) > messageIDMax {
		return nil, fmt.Errorf("the Message-ID is longer than %d characters", messageIDMax)
	}
	if e.ID != "" && !IsGUID(e.ID) {
		return nil, fmt.Errorf("the activity ID %q is not a GUID", clip(e.ID, 64))
	}
	body := map[string]any{
		"subject":       clip(e.Subject, subjectMax-3),
		"description":   e.Body,
		"messageid":     e.MessageID,
		"directioncode": e.Outgoing,
	}
	if e.ID != "" {
		body["activityid"] = strings.ToLower(e.ID)
	}
	if e.InReplyTo != "" && len(e.InReplyTo) <= messageIDMax {
		body["inreplyto"] = e.InReplyTo
	}
	if e.Regarding != nil {
		nav, bind, err := regardingBind(*e.Regarding)
		if err != nil {
			return nil, err
		}
		body[nav+"@odata.bind"] = bind
	}
	var parties []map[string]any
	add := func(p Party, mask Participation) {
		if p.Address == "" && !p.Resolved() {
			return
		}
		row := map[string]any{"participationtypemask": int(mask)}
		if p.Address != "" {
			row["addressused"] = clip(p.Address, addressMax)
		}
		if set, ok := partySets[p.Entity]; ok && IsGUID(p.ID) {
			row["partyid_"+p.Entity+"@odata.bind"] = "/" + set + "(" + p.ID + ")"
		}
		parties = append(parties, row)
	}
	add(e.From, Sender)
	for _, p := range e.To {
		add(p, To)
	}
	for _, p := range e.Cc {
		add(p, Cc)
	}
	if len(parties) > 0 {
		body["email_activity_parties"] = parties
	}
	return body, nil
}

// regardingBind returns the navigation property and bind path for r.
func regardingBind(r agent.RecordRef) (nav, bind string, err error) {
	rs, ok := regardingSets[r.Entity]
	if !ok {
		return "", "", fmt.Errorf("regarding must be a contact, account, opportunity or incident, not %q", r.Entity)
	}
	if !IsGUID(r.ID) {
		return "", "", fmt.Errorf("regarding record ID %q is not a GUID", clip(r.ID, 64))
	}
	return rs.nav, "/" + rs.set + "(" + r.ID + ")", nil
}

// Activity reads an activity's owner and regarding link.
func (c *HTTPClient) Activity(ctx context.Context, id ActivityID) (ActivityInfo, error) {
	const op = "read email"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return ActivityInfo{}, err
	}
	resp, err := c.do(ctx, request{op: op, method: "GET", idempotent: true,
		path:   "emails(" + string(id) + ")" + query("$select", "activityid,messageid,_ownerid_value,_regardingobjectid_value"),
		header: preferHeader(0, true)})
	if err != nil {
		return ActivityInfo{}, err
	}
	var raw json.RawMessage
	if err := decode(op, resp, &raw); err != nil {
		return ActivityInfo{}, err
	}
	return decodeActivity(op, raw)
}

// Activities reads owner and regarding of many activities at once, a page
// of pageSize at a time; IDs the CRM no longer has are simply absent from
// the result. This is the periodic reconciliation: IDs in, IDs out.
func (c *HTTPClient) Activities(ctx context.Context, ids []ActivityID, pageSize int) ([]ActivityInfo, error) {
	const op = "read emails"
	const chunk = 50 // keeps each URL far below the 32 KB limit
	var out []ActivityInfo
	for start := 0; start < len(ids); start += chunk {
		end := min(start+chunk, len(ids))
		var terms []string
		for _, id := range ids[start:end] {
			if err := checkGUID(op, "activity ID", string(id)); err != nil {
				return nil, err
			}
			terms = append(terms, "activityid eq "+string(id))
		}
		path := "emails" + query("$select", "activityid,messageid,_ownerid_value,_regardingobjectid_value",
			"$filter", strings.Join(terms, " or "))
		err := c.queryAll(ctx, op, path, pageSize, func(row json.RawMessage) error {
			a, err := decodeActivity(op, row)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OwnedActivities lists the IDs of all emails owned by ownerID that carry a
// Message-ID, following the server's paging.
func (c *HTTPClient) OwnedActivities(ctx context.Context, ownerID string, pageSize int) ([]ActivityInfo, error) {
	const op = "list my emails"
	if err := checkGUID(op, "owner ID", ownerID); err != nil {
		return nil, err
	}
	path := "emails" + query("$select", "activityid,messageid,_ownerid_value,_regardingobjectid_value",
		"$filter", "_ownerid_value eq "+ownerID+" and messageid ne null",
		"$orderby", "createdon asc")
	var out []ActivityInfo
	err := c.queryAll(ctx, op, path, pageSize, func(row json.RawMessage) error {
		a, err := decodeActivity(op, row)
		if err == nil {
			out = append(out, a)
		}
		return err
	})
	return out, err
}

// decodeActivity reads the ID columns of one email row.
func decodeActivity(op string, row json.RawMessage) (ActivityInfo, error) {
	var r struct {
		ActivityID string `json:"activityid"`
		MessageID  string `json:"messageid"`
		Owner      string `json:"_ownerid_value"`
		Regarding  string `json:"_regardingobjectid_value"`
		RegEntity  string `json:"_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"`
	}
	if err := json.Unmarshal(row, &r); err != nil {
		return ActivityInfo{}, &Error{Op: op, Kind: KindBadResponse, Message: "an email row is malformed", Err: err}
	}
	if !IsGUID(r.ActivityID) {
		return ActivityInfo{}, &Error{Op: op, Kind: KindBadResponse, Message: "an email row has no valid activityid"}
	}
	a := ActivityInfo{ID: ActivityID(strings.ToLower(r.ActivityID)), OwnerID: strings.ToLower(r.Owner), MessageID: r.MessageID}
	if r.Regarding != "" {
		a.Regarding = &agent.RecordRef{Entity: r.RegEntity, ID: strings.ToLower(r.Regarding)}
	}
	return a, nil
}

// SetRegarding links an activity to r; a nil r clears the link.
func (c *HTTPClient) SetRegarding(ctx context.Context, id ActivityID, r *agent.RecordRef) error {
	const op = "set regarding"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	body := map[string]any{}
	if r == nil {
		// Clearing needs the navigation property of the current target.
		info, err := c.Activity(ctx, id)
		if err != nil {
			return err
		}
		if info.Regarding == nil {
			return nil
		}
		rs, ok := regardingSets[info.Regarding.Entity]
		if !ok {
			return &Error{Op: op, Kind: KindBadRequest, Message: fmt.Sprintf("the activity is regarding a %q, which this agent cannot unlink", info.Regarding.Entity)}
		}
		body[rs.nav+"@odata.bind"] = nil
	} else {
		nav, bind, err := regardingBind(*r)
		if err != nil {
			return &Error{Op: op, Kind: KindBadRequest, Message: err.Error()}
		}
		body[nav+"@odata.bind"] = bind
	}
	_, err := c.do(ctx, request{op: op, method: "PATCH", path: "emails(" + string(id) + ")", body: body,
		header: map[string][]string{"If-Match": {"*"}}, idempotent: true})
	return err
}

// DeleteActivity deletes an activity. One that is already gone counts as
// deleted. Callers check ownership first: Dataverse lets only the owner
// delete a salesperson's email, and the agent never asks for more.
func (c *HTTPClient) DeleteActivity(ctx context.Context, id ActivityID) error {
	const op = "delete email"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: "DELETE", path: "emails(" + string(id) + ")", idempotent: true})
	if KindOf(err) == KindNotFound {
		return nil
	}
	return err
}
