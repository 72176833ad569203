package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	ID        string
	MessageID string // RFC Message-ID, in angle brackets as mail carries it; the dedup key; required
	Subject   string
	Body      string // plain text; sent only because the message is being tracked
	Outgoing  bool   // true for mail the user sent
	From      Party
	To, Cc    []Party
	Regarding *agent.RecordRef // optional
	// ReceivedAt is the mail's own time (arrival, or sending for sent
	// mail); zero leaves the CRM's default. It is sent as actualend: the
	// email's senton is read-only (IsValidForCreate and IsValidForUpdate
	// false in [PAD] reference/entities/email.md), while actualend is
	// writable and "By default, it displays the date and time when the
	// activity was completed", so without it the activity would show when
	// it was tracked rather than when the mail arrived. inreplyto and
	// conversationindex are read-only too and are never sent.
	ReceivedAt time.Time
}

// ActivityInfo is what the agent needs to know about a tracked activity:
// IDs and state only.
type ActivityInfo struct {
	ID        ActivityID
	OwnerID   string
	Regarding *agent.RecordRef // Name empty; nil when not set
	MessageID string
	Open      bool // statecode 0: created but not completed, e.g. by an interrupted track
	Outgoing  bool // directioncode true: sent mail
	// ETag is the version read, for a delete that must not outrun a
	// change of owner; empty when the answer carried none.
	ETag string
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
		"$select", emailSelect,
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
	if !e.ReceivedAt.IsZero() {
		body["actualend"] = isoTime(e.ReceivedAt)
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
		// The targets of an email's from are queue and systemuser only
		// ([PAD] reference/entities/email.md): a sender that is a contact,
		// account or lead goes as its address alone, and the CRM shows it
		// unresolved. To and Cc accept contacts and accounts as well.
		bind := mask != Sender || p.Entity == "systemuser"
		if set, ok := partySets[p.Entity]; ok && bind && IsGUID(p.ID) {
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
		path:   "emails(" + string(id) + ")" + query("$select", emailSelect),
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
		path := "emails" + query("$select", emailSelect,
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
	path := "emails" + query("$select", emailSelect,
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

// decodeActivity reads the ID and state columns of one email row.
func decodeActivity(op string, row json.RawMessage) (ActivityInfo, error) {
	var r struct {
		ActivityID string `json:"activityid"`
		MessageID  string `json:"messageid"`
		Owner      string `json:"_ownerid_value"`
		Regarding  string `json:"_regardingobjectid_value"`
		RegEntity  string `json:"_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"`
		State      *int   `json:"statecode"`
		Direction  *bool  `json:"directioncode"`
		ETag       string `json:"@odata.etag"`
	}
	if err := json.Unmarshal(row, &r); err != nil {
		return ActivityInfo{}, &Error{Op: op, Kind: KindBadResponse, Message: "an email row is malformed", Err: err}
	}
	if !IsGUID(r.ActivityID) {
		return ActivityInfo{}, &Error{Op: op, Kind: KindBadResponse, Message: "an email row has no valid activityid"}
	}
	a := ActivityInfo{ID: ActivityID(strings.ToLower(r.ActivityID)), OwnerID: strings.ToLower(r.Owner), MessageID: r.MessageID,
		Open: r.State != nil && *r.State == 0, Outgoing: r.Direction != nil && *r.Direction, ETag: r.ETag}
	if r.Regarding != "" {
		a.Regarding = &agent.RecordRef{Entity: r.RegEntity, ID: strings.ToLower(r.Regarding)}
	}
	return a, nil
}

// SetRegarding links an activity to r; a nil r clears the link. It is a
// PATCH of the regarding link alone: that link may still be set or changed
// on a completed email (section 3.5), whose other columns are read-only
// and never written.
func (c *HTTPClient) SetRegarding(ctx context.Context, id ActivityID, r *agent.RecordRef) error {
	const op = "set regarding"
	if r == nil {
		return c.ClearRegarding(ctx, id, "")
	}
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	nav, bind, err := regardingBind(*r)
	if err != nil {
		return &Error{Op: op, Kind: KindBadRequest, Message: err.Error()}
	}
	return c.patchRegarding(ctx, op, id, map[string]any{nav + "@odata.bind": bind})
}

// ClearRegarding removes an activity's regarding link. Clearing names the
// navigation property of the current target ("contact", "account", ...);
// given as current, no read is needed; empty reads the activity first.
func (c *HTTPClient) ClearRegarding(ctx context.Context, id ActivityID, current string) error {
	const op = "clear regarding"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	if current == "" {
		info, err := c.Activity(ctx, id)
		if err != nil {
			return err
		}
		if info.Regarding == nil {
			return nil
		}
		current = info.Regarding.Entity
	}
	rs, ok := regardingSets[current]
	if !ok {
		return &Error{Op: op, Kind: KindBadRequest, Message: fmt.Sprintf("the activity is regarding a %q, which this agent cannot unlink", clip(current, 64))}
	}
	return c.patchRegarding(ctx, op, id, map[string]any{rs.nav + "@odata.bind": nil})
}

// patchRegarding sends the regarding link alone; If-Match: * keeps the
// PATCH from creating an email that no longer exists.
func (c *HTTPClient) patchRegarding(ctx context.Context, op string, id ActivityID, body map[string]any) error {
	_, err := c.do(ctx, request{op: op, method: "PATCH", path: "emails(" + string(id) + ")", body: body,
		header: map[string][]string{"If-Match": {"*"}}, idempotent: true})
	return err
}

// DeleteActivity deletes an activity. One that is already gone counts as
// deleted. Callers check ownership first: Dataverse lets only the owner
// delete a salesperson's email, and the agent never asks for more.
func (c *HTTPClient) DeleteActivity(ctx context.Context, id ActivityID) error {
	return c.DeleteActivityIf(ctx, id, "")
}

// DeleteActivityIf deletes an activity only if it is still the version
// etag names (ActivityInfo.ETag, as read when its owner was checked): a
// reassignment in between changes the version, and the CRM answers 412
// (KindConflict) instead of deleting a copy that is no longer the
// user's. An empty etag deletes unconditionally.
func (c *HTTPClient) DeleteActivityIf(ctx context.Context, id ActivityID, etag string) error {
	const op = "delete email"
	if err := checkGUID(op, "activity ID", string(id)); err != nil {
		return err
	}
	var h map[string][]string
	if etag != "" {
		h = map[string][]string{"If-Match": {etag}}
	}
	_, err := c.do(ctx, request{op: op, method: "DELETE", path: "emails(" + string(id) + ")", header: h, idempotent: true})
	if KindOf(err) == KindNotFound {
		return nil
	}
	return err
}
