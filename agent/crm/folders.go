package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"crmsync/agent"
)

// Email delivery methods of a mailbox, as Dataverse numbers its
// outgoingemaildeliverymethod choices ([PAD] reference/entities/mailbox.md).
const (
	// DeliveryNone: the mailbox sends no email through the CRM (also what
	// an unset method reads as).
	DeliveryNone = 0
	// DeliveryOutlook ("Microsoft Dynamics 365 for Outlook"): a desktop
	// client on the user's computer sends the email the CRM queues.
	DeliveryOutlook = 1
	// DeliveryServerSideSync ("Server-Side Synchronization"): the CRM
	// sends it itself.
	DeliveryServerSideSync = 2
)

// FolderRule is a folder-level tracking rule of a mailbox: mail in the
// folder is tracked regarding a record. FolderName and Regarding.Name are
// for display only and are never cached.
type FolderRule struct {
	ID         string          // the mailboxtrackingfolderid
	FolderID   string          // exchangefolderid: the folder as the agent identifies it
	FolderName string          // exchangefoldername
	Regarding  agent.RecordRef // Name is the CRM's formatted value; zero when the rule has none
}

// Limits of a rule's columns ([PAD] reference/entities/mailboxtrackingfolder.md).
const (
	folderIDMax   = 120
	folderNameMax = 256
)

// folderRegarding maps the tables a rule may be regarding to their entity
// sets. A rule's navigation properties are regardingobjectid_<table>,
// without the _email suffix of an email's.
var folderRegarding = map[string]string{
	"account": "accounts", "contact": "contacts", "opportunity": "opportunities",
	"incident": "incidents", "lead": "leads",
}

// formattedPrefer asks for the formatted values (display names) and the
// tables of lookups.
const formattedPrefer = `odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname"`

// Annotation suffixes of a property in an answer.
const (
	annFormatted = "@OData.Community.Display.V1.FormattedValue"
	annLogical   = "@Microsoft.Dynamics.CRM.lookuplogicalname"
)

// Mailbox returns the GUID of the user's mailbox: the systemuser's
// defaultmailbox, else the mailbox whose regarding record is the user.
func (c *HTTPClient) Mailbox(ctx context.Context, userID string) (string, error) {
	const op = "find mailbox"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
		path: "systemusers(" + userID + ")" + query("$select", "_defaultmailbox_value")})
	if err != nil {
		return "", err
	}
	var u struct {
		Mailbox string `json:"_defaultmailbox_value"`
	}
	if err := decode(op, resp, &u); err != nil {
		return "", err
	}
	if IsGUID(u.Mailbox) {
		return strings.ToLower(u.Mailbox), nil
	}
	var found string
	path := "mailboxes" + query("$select", "mailboxid", "$filter", "_regardingobjectid_value eq "+userID, "$top", "1")
	err = c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
		id, _ := row["mailboxid"].(string)
		if IsGUID(id) && found == "" {
			found = strings.ToLower(id)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if found == "" {
		return "", &Error{Op: op, Kind: KindNotFound, Message: "the user has no mailbox",
			UserText: "Your CRM user has no mailbox, so folder tracking is not available; ask your CRM administrator to set one up."}
	}
	return found, nil
}

// MailboxDelivery returns how the mailbox sends email
// (outgoingemaildeliverymethod): DeliveryNone, DeliveryOutlook,
// DeliveryServerSideSync or a value this client does not know. An unset
// method reads as DeliveryNone.
func (c *HTTPClient) MailboxDelivery(ctx context.Context, mailboxID string) (int, error) {
	const op = "read mailbox"
	if err := checkGUID(op, "mailbox ID", mailboxID); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
		path: "mailboxes(" + mailboxID + ")" + query("$select", "outgoingemaildeliverymethod")})
	if err != nil {
		return 0, err
	}
	var m struct {
		Outgoing *int `json:"outgoingemaildeliverymethod"`
	}
	if err := decode(op, resp, &m); err != nil {
		return 0, err
	}
	if m.Outgoing == nil {
		return DeliveryNone, nil
	}
	return *m.Outgoing, nil
}

// FolderRules lists the folder-level tracking rules of a mailbox, oldest
// first. A query leaves out rules the user may not read, so another
// user's mailbox reads as having none.
func (c *HTTPClient) FolderRules(ctx context.Context, mailboxID string) ([]FolderRule, error) {
	const op = "list folder rules"
	if err := checkGUID(op, "mailbox ID", mailboxID); err != nil {
		return nil, err
	}
	path := "mailboxtrackingfolders" + query(
		"$select", "mailboxtrackingfolderid,exchangefolderid,exchangefoldername,_regardingobjectid_value",
		"$filter", "_mailboxid_value eq "+mailboxID,
		"$orderby", "createdon asc")
	var out []FolderRule
	err := c.annotatedRows(ctx, op, path, formattedPrefer, func(row map[string]any) error {
		id, _ := row["mailboxtrackingfolderid"].(string)
		if !IsGUID(id) {
			return &Error{Op: op, Kind: KindBadResponse, Message: "a rule has no valid mailboxtrackingfolderid"}
		}
		r := FolderRule{ID: strings.ToLower(id)}
		r.FolderID, _ = row["exchangefolderid"].(string)
		r.FolderName, _ = row["exchangefoldername"].(string)
		r.Regarding = lookupRef(row, "_regardingobjectid_value")
		out = append(out, r)
		return nil
	})
	return out, err
}

// AddFolderRule creates a rule that tracks mail in the folder regarding r
// (no regarding record when r is zero) and returns its GUID. The CRM's
// refusals, such as a mailbox's 26th rule or a second rule for one
// folder, come back as an *Error whose user message is the CRM's reason.
func (c *HTTPClient) AddFolderRule(ctx context.Context, mailboxID, folderID, folderName string, r agent.RecordRef) (string, error) {
	const op = "add folder rule"
	if err := checkGUID(op, "mailbox ID", mailboxID); err != nil {
		return "", err
	}
	if folderID == "" || utf8.RuneCountInString(folderID) > folderIDMax {
		return "", &Error{Op: op, Kind: KindBadRequest, Message: fmt.Sprintf("the folder's ID is empty or longer than %d characters", folderIDMax),
			UserText: fmt.Sprintf("The CRM keeps folder IDs of at most %d characters; this folder's is empty or longer.", folderIDMax)}
	}
	body := map[string]any{
		"exchangefolderid":     folderID,
		"exchangefoldername":   clipRunes(folderName, folderNameMax),
		"mailboxid@odata.bind": "/mailboxes(" + mailboxID + ")",
	}
	if r != (agent.RecordRef{}) {
		set, ok := folderRegarding[r.Entity]
		if !ok || !IsGUID(r.ID) {
			return "", &Error{Op: op, Kind: KindBadRequest,
				Message: fmt.Sprintf("a folder can be tracked regarding an account, contact, lead, opportunity or case, not %q %q", clip(r.Entity, 32), clip(r.ID, 64))}
		}
		body["regardingobjectid_"+r.Entity+"@odata.bind"] = "/" + set + "(" + r.ID + ")"
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "mailboxtrackingfolders", body: body})
	if err != nil {
		return "", refusal(err, "The CRM refused the folder rule: ")
	}
	id, ok := entityIDFromHeader(resp.header.Get("OData-EntityId"))
	if !ok {
		return "", &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer has no OData-EntityId with the new rule's ID"}
	}
	return strings.ToLower(id), nil
}

// DeleteFolderRule deletes a rule; one that is already gone counts as
// deleted. Mail tracked through it stays tracked.
func (c *HTTPClient) DeleteFolderRule(ctx context.Context, ruleID string) error {
	const op = "delete folder rule"
	if err := checkGUID(op, "rule ID", ruleID); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodDelete, idempotent: true, path: "mailboxtrackingfolders(" + ruleID + ")"})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return refusal(err, "The CRM refused to delete the folder rule: ")
	}
	return nil
}

// refusal gives a request refused for what it asked (400, 409, 412) the
// CRM's own reason as its user message: the generic sentences of those
// kinds ("changed by someone else") would mislead here.
func refusal(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) || e.UserText != "" || e.Message == "" {
		return err
	}
	if e.Kind == KindBadRequest || e.Kind == KindConflict {
		e.UserText = prefix + e.Message
	}
	return err
}

// lookupRef reads a lookup of an answer row, with the table and display
// name its annotations carry; zero when the lookup is empty.
func lookupRef(row map[string]any, prop string) agent.RecordRef {
	id, _ := row[prop].(string)
	if !IsGUID(id) {
		return agent.RecordRef{}
	}
	entity, _ := row[prop+annLogical].(string)
	name, _ := row[prop+annFormatted].(string)
	return agent.RecordRef{Entity: entity, ID: strings.ToLower(id), Name: name}
}

// annotatedRows runs a GET with the Prefer header prefer ("" for none)
// and calls fn with every row, decoded, following @odata.nextLink as
// queryAll does.
func (c *HTTPClient) annotatedRows(ctx context.Context, op, path, prefer string, fn func(map[string]any) error) error {
	var h http.Header
	if prefer != "" {
		h = http.Header{"Prefer": {prefer}}
	}
	return c.pages(ctx, op, path, h, func(raw json.RawMessage) error {
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			return &Error{Op: op, Kind: KindBadResponse, Message: "a row is malformed", Err: err}
		}
		return fn(row)
	})
}

// clipRunes cuts s to at most n characters, the way Dataverse counts a
// column's length.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
