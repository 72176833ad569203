package functions

import (
	"net/mail"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// allowParams rejects parameters a function does not declare.
func allowParams(fn string, args map[string]any, names ...string) error {
	for k := range args {
		ok := false
		for _, n := range names {
			ok = ok || k == n
		}
		if !ok {
			return wire.BadRequest("The function %s has no parameter named '%s'; its parameters are %s.", fn, k, strings.Join(names, ", "))
		}
	}
	return nil
}

// stringArg reads an optional string parameter.
func stringArg(fn string, args map[string]any, name string) (string, error) {
	v, ok := args[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", wire.BadRequest("The parameter '%s' of %s must be a string literal such as 'text'.", name, fn)
	}
	return s, nil
}

// Unbound runs an unbound function (IsUnbound) with its parsed parameters.
func (c *Call) Unbound(name string, args map[string]any) (wire.Object, error) {
	switch name {
	case "WhoAmI":
		if len(args) > 0 {
			return nil, wire.BadRequest("WhoAmI takes no parameters.")
		}
		return wire.Object{
			{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"},
			{"BusinessUnitId", c.Org.BusinessUnitID},
			{"UserId", c.UserID},
			{"OrganizationId", c.Org.OrganizationID},
		}, nil
	case "CheckIncomingEmail":
		return c.checkIncomingEmail(args)
	case "CheckPromoteEmail":
		return c.checkPromoteEmail(args)
	case "RetrieveMailboxTrackingFolders":
		return c.retrieveMailboxTrackingFolders(args)
	}
	return nil, wire.NotFoundSegment(name)
}

// Reason codes of CheckIncomingEmail, as the SDK documents them.
const (
	reasonDuplicate        = 0
	reasonNoRecipientMatch = 3
	reasonSenderMatch      = 5
	reasonInvalidSender    = 7
)

// checkIncomingEmail decides whether a received message would be tracked:
// a duplicate Message-ID is refused, then the sender must be a valid
// address that resolves to a CRM record.
func (c *Call) checkIncomingEmail(args map[string]any) (wire.Object, error) {
	const fn = "CheckIncomingEmail"
	if err := allowParams(fn, args, "MessageId", "Subject", "From", "To", "Cc", "Bcc", "ExtraProperties"); err != nil {
		return nil, err
	}
	strs := map[string]string{}
	for _, n := range []string{"MessageId", "Subject", "From", "To", "Cc", "Bcc"} {
		s, err := stringArg(fn, args, n)
		if err != nil {
			return nil, err
		}
		strs[n] = s
	}
	if strs["MessageId"] == "" {
		return nil, wire.BadRequest("The function CheckIncomingEmail requires the parameter 'MessageId'.")
	}
	answer := func(deliver bool, reason int) (wire.Object, error) {
		return wire.Object{
			{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.CheckIncomingEmailResponse"},
			{"ShouldDeliver", deliver},
			{"ReasonCode", reason},
		}, nil
	}
	dups, err := store.FindByMessageID(c.Ctx, c.Store.Q(c.Ctx), strs["MessageId"], false)
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		return answer(false, reasonDuplicate)
	}
	from, ok := parseOneAddress(strs["From"])
	if !ok {
		return answer(false, reasonInvalidSender)
	}
	r, err := c.ResolveAddress(c.Store.Q(c.Ctx), from)
	if err != nil {
		return nil, err
	}
	if r != nil {
		return answer(true, reasonSenderMatch)
	}
	return answer(false, reasonNoRecipientMatch)
}

// checkPromoteEmail answers whether a message may still be promoted
// (tracked): ShouldPromote is false with ReasonCode 0 (Duplicate) when an
// email with the Message-ID, and the given direction if any, exists; else
// true with ReasonCode 1.
func (c *Call) checkPromoteEmail(args map[string]any) (wire.Object, error) {
	const fn = "CheckPromoteEmail"
	if err := allowParams(fn, args, "MessageId", "Subject", "DirectionCode"); err != nil {
		return nil, err
	}
	mid, err := stringArg(fn, args, "MessageId")
	if err != nil {
		return nil, err
	}
	if mid == "" {
		return nil, wire.BadRequest("The function CheckPromoteEmail requires the parameter 'MessageId'.")
	}
	if _, err := stringArg(fn, args, "Subject"); err != nil {
		return nil, err
	}
	dir := -1
	if v, ok := args["DirectionCode"]; ok && v != nil {
		f, ok := v.(float64)
		if !ok || (f != 0 && f != 1) {
			return nil, wire.BadRequest("The parameter 'DirectionCode' of CheckPromoteEmail must be 0 (incoming) or 1 (outgoing).")
		}
		dir = int(f)
	}
	dups, err := store.FindByMessageID(c.Ctx, c.Store.Q(c.Ctx), mid, false)
	if err != nil {
		return nil, err
	}
	promote, reason := true, 1
	for _, d := range dups {
		out, _ := d.Attrs["directioncode"].(bool)
		if dir < 0 || out == (dir == 1) {
			promote, reason = false, reasonDuplicate
		}
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.CheckPromoteEmailResponse"},
		{"ShouldPromote", promote},
		{"ReasonCode", reason},
	}, nil
}

// Address resolution.

// parseOneAddress accepts "a@b.example" or "Name <a@b.example>".
func parseOneAddress(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", false
	}
	return strings.ToLower(a.Address), true
}

// parseAddressList splits To/Cc/Bcc text. Addresses are separated by ';'
// as Outlook writes them, or by ','.
func parseAddressList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if list, err := mail.ParseAddressList(strings.ReplaceAll(s, ";", ",")); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if a, ok := parseOneAddress(f); ok {
			out = append(out, a)
		}
	}
	return out
}
