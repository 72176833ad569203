package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// resolver describes how one email-enabled table is searched by address.
type resolver struct {
	entity, set, key, name string
	addrCols               []string
	active                 string // extra filter for active rows
}

// resolvers in Dataverse's resolution order: a system user wins over a
// contact, a contact over an account, an account over a lead.
var resolvers = []resolver{
	{"systemuser", "systemusers", "systemuserid", "fullname", []string{"internalemailaddress"}, "isdisabled eq false"},
	{"contact", "contacts", "contactid", "fullname", []string{"emailaddress1", "emailaddress2", "emailaddress3"}, "statecode eq 0"},
	{"account", "accounts", "accountid", "name", []string{"emailaddress1", "emailaddress2", "emailaddress3"}, "statecode eq 0"},
}

// maxResolveAddrs bounds the addresses resolved in one call; a message
// with hundreds of recipients is resolved in slices of this size.
const maxResolveAddrs = 20

// ResolveParties finds the CRM record each address belongs to, following
// Dataverse's order (system user, contact, account; the first-created
// active row within a table wins). Only the addresses leave the device.
// The result has one Party per input address, in order; unmatched ones are
// unresolved.
//
// An address Ask resolved within the last two minutes is answered from
// memory, without a request.
func (c *HTTPClient) ResolveParties(ctx context.Context, addrs []string) ([]Party, error) {
	out := make([]Party, len(addrs))
	var uniq []string
	seen := map[string]bool{}
	for i, a := range addrs {
		out[i].Address = a
		k := addrKey(a)
		if k == "" {
			continue
		}
		if p, ok := c.memo.party(a); ok {
			out[i] = p
			continue
		}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	if len(uniq) == 0 {
		return out, nil
	}
	// The same batched resolution Ask uses: every table asked at once,
	// the precedence applied to the answers.
	var items []batchItem
	res := c.resolveItems(uniq, nil, &items)
	answers, err := c.batch(ctx, "resolve addresses", items)
	if err != nil {
		return nil, err
	}
	k := known{parties: map[string]Party{}, senders: map[string]Party{}}
	res.collect(ctx, c, answers, &k)
	for i, a := range addrs {
		key := addrKey(a)
		if err := k.addrErr[key]; err != nil {
			return nil, err
		}
		if p, ok := k.parties[key]; ok {
			out[i].Entity, out[i].ID, out[i].Name = p.Entity, p.ID, p.Name
		}
	}
	return out, nil
}

// resolvePageSize is the page size of resolution queries.
const resolvePageSize = 500

// path is the query for the rows of r's table that carry any of addrs,
// active ones only, oldest first.
func (r resolver) path(addrs []string) string {
	var terms []string
	for _, a := range addrs {
		for _, col := range r.addrCols {
			terms = append(terms, col+" eq "+quote(a))
		}
	}
	sel := append([]string{r.key, r.name, "createdon"}, r.addrCols...)
	filter := "(" + strings.Join(terms, " or ") + ")"
	if r.active != "" {
		filter += " and " + r.active
	}
	return r.set + query("$select", strings.Join(sel, ","), "$filter", filter, "$orderby", "createdon asc")
}

// match is the record an address resolves to within one table.
type match struct {
	id, name string
	created  time.Time
}

// match records row in best for each wanted address it carries, keeping
// the first-created row per address, as Dataverse resolves.
func (r resolver) match(op string, row json.RawMessage, wanted map[string]bool, best map[string]match) error {
	var m map[string]any
	if err := json.Unmarshal(row, &m); err != nil {
		return &Error{Op: op, Kind: KindBadResponse, Message: "a row is malformed", Err: err}
	}
	id, _ := m[r.key].(string)
	if !IsGUID(id) {
		return &Error{Op: op, Kind: KindBadResponse, Message: "a row has no valid " + r.key}
	}
	name, _ := m[r.name].(string)
	created, _ := time.Parse(time.RFC3339, fmt.Sprint(m["createdon"]))
	for _, col := range r.addrCols {
		v, _ := m[col].(string)
		k := addrKey(v)
		if !wanted[k] {
			continue
		}
		if cur, ok := best[k]; !ok || created.Before(cur.created) {
			best[k] = match{strings.ToLower(id), name, created}
		}
	}
	return nil
}

// ReasonCode is CheckIncomingEmail's verdict.
type ReasonCode int

// CheckIncomingEmail reason codes, all those Dataverse documents
// (CheckIncomingEmailResponse.ReasonCode; section 12.4). ShouldDeliver is
// the decision; the code only explains it, and a code not listed here is
// shown as "reason N".
const (
	ReasonUnknown             ReasonCode = -1
	ReasonDuplicate           ReasonCode = 0
	ReasonNoCorrelationMatch  ReasonCode = 1
	ReasonCorrelationMatch    ReasonCode = 2
	ReasonNoRecipientMatch    ReasonCode = 3
	ReasonInternalEmailReject ReasonCode = 4
	ReasonSenderMatch         ReasonCode = 5
	ReasonAcceptAll           ReasonCode = 6
	ReasonInvalidSender       ReasonCode = 7
)

var reasonText = map[ReasonCode]string{
	ReasonUnknown: "unknown", ReasonDuplicate: "already in the CRM",
	ReasonNoCorrelationMatch: "tracking token matches nothing", ReasonCorrelationMatch: "tracking token matches a record",
	ReasonNoRecipientMatch: "no CRM match", ReasonInternalEmailReject: "internal mail",
	ReasonSenderMatch: "sender is in the CRM", ReasonAcceptAll: "a recipient accepts all mail",
	ReasonInvalidSender: "sender address missing or invalid",
}

// String is the user-readable meaning of the code.
func (r ReasonCode) String() string {
	if s, ok := reasonText[r]; ok {
		return s
	}
	return fmt.Sprintf("reason %d", int(r))
}

// Headers are the only message fields that may leave the device before a
// tracking decision.
type Headers struct {
	MessageID string
	Subject   string
	From      string
	To, Cc    []string
}

// CheckResult is the CRM's answer to "should this message be tracked?".
type CheckResult struct {
	ShouldDeliver bool
	Reason        ReasonCode
}

// String is the reason shown to the user for the CRM's answer.
func (r CheckResult) String() string { return r.Reason.String() }

// CheckIncomingEmail asks the CRM whether a message would be tracked and
// whether it is already there. It sends From, To, Cc, Subject and
// Message-ID, nothing else.
func (c *HTTPClient) CheckIncomingEmail(ctx context.Context, h Headers) (CheckResult, error) {
	const op = "check incoming email"
	if h.MessageID == "" {
		return CheckResult{}, &Error{Op: op, Kind: KindBadRequest, Message: "a Message-ID is required"}
	}
	resp, err := c.do(ctx, request{op: op, method: "GET", path: checkPath(h), idempotent: true})
	if err != nil {
		return CheckResult{}, err
	}
	return decodeCheck(op, resp)
}

// checkPath is the CheckIncomingEmail function call for h, its string
// parameters passed as aliases (section 4.1).
func checkPath(h Headers) string {
	return "CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)" + query(
		"@m", quote(h.MessageID), "@s", quote(h.Subject), "@f", quote(h.From),
		"@t", quote(strings.Join(h.To, ";")), "@c", quote(strings.Join(h.Cc, ";")), "@b", quote(""))
}

// decodeCheck reads a CheckIncomingEmailResponse. ShouldDeliver is the
// decision; ReasonCode is kept for the reason shown, and a code this
// client does not know is no failure.
func decodeCheck(op string, resp *response) (CheckResult, error) {
	var r struct {
		ShouldDeliver *bool `json:"ShouldDeliver"`
		ReasonCode    *int  `json:"ReasonCode"`
	}
	if err := decode(op, resp, &r); err != nil {
		return CheckResult{}, err
	}
	if r.ShouldDeliver == nil || r.ReasonCode == nil {
		return CheckResult{}, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer lacks ShouldDeliver or ReasonCode"}
	}
	return CheckResult{ShouldDeliver: *r.ShouldDeliver, Reason: ReasonCode(*r.ReasonCode)}, nil
}

// NormalizeAddress returns the bare lower-case address of s, or "" if s
// holds none.
func NormalizeAddress(s string) string {
	s = strings.TrimSpace(s)
	if a, err := mail.ParseAddress(s); err == nil {
		return strings.ToLower(a.Address)
	}
	if strings.Count(s, "@") == 1 && !strings.ContainsAny(s, " <>\"") {
		return strings.ToLower(s)
	}
	return ""
}
