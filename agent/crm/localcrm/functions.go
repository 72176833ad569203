package localcrm

import (
	"crypto/sha1"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
)

// Function parameters.

// parseFuncArgs parses "Name=value,Name=@alias" inside a function call's
// parentheses. Values are OData literals: 'text' (with ” for a quote),
// numbers, true, false, null, GUIDs, or a JSON object such as
// {'@odata.id':'emails(<guid>)'} (single or double quotes).
func parseFuncArgs(s string, aliases map[string]string) (map[string]any, error) {
	args := map[string]any{}
	if strings.TrimSpace(s) == "" {
		return args, nil
	}
	for _, part := range splitArgs(s) {
		name, raw, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, badRequest("The function parameter '%s' is not of the form Name=value.", truncate(part, 100))
		}
		if _, dup := args[name]; dup {
			return nil, badRequest("The function parameter '%s' is given more than once.", name)
		}
		raw = strings.TrimSpace(raw)
		if strings.HasPrefix(raw, "@") {
			a, ok := aliases[raw]
			if !ok {
				return nil, badRequest("The parameter alias '%s' has no value in the query string.", raw)
			}
			raw = strings.TrimSpace(a)
		}
		v, err := parseArgLiteral(raw)
		if err != nil {
			return nil, badRequest("The value of the function parameter '%s' is not valid: %v", name, err)
		}
		args[name] = v
	}
	return args, nil
}

// splitArgs splits on commas outside quotes, parentheses, brackets and braces.
func splitArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
		case ch == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

type argError string

func (e argError) Error() string { return string(e) }

func parseArgLiteral(raw string) (any, error) {
	switch {
	case raw == "null":
		return nil, nil
	case raw == "true":
		return true, nil
	case raw == "false":
		return false, nil
	case strings.HasPrefix(raw, "'"):
		if len(raw) < 2 || !strings.HasSuffix(raw, "'") {
			return nil, argError("unterminated string literal")
		}
		inner := raw[1 : len(raw)-1]
		if strings.Count(inner, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return nil, argError("a quote inside a string literal must be doubled ('')")
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	case strings.HasPrefix(raw, "{"):
		var obj map[string]any
		if err := json.Unmarshal([]byte(singleToDoubleQuotes(raw)), &obj); err != nil {
			return nil, argError("not a valid JSON object")
		}
		return obj, nil
	}
	if g, ok := parseGUID(raw); ok {
		return g, nil
	}
	if f, err := strconv.ParseFloat(raw, 64); err == nil {
		return f, nil
	}
	return nil, argError("'" + truncate(raw, 60) + "' is not a literal; quote strings as 'text'")
}

// singleToDoubleQuotes rewrites OData-style single-quoted strings in an
// object literal into JSON strings.
func singleToDoubleQuotes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			// Already JSON: copy the string through, escapes included.
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(s))
			b.WriteString(s[i:end])
			i = end - 1
		case '\'':
			var v strings.Builder
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						v.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				v.WriteByte(s[j])
				j++
			}
			q, _ := json.Marshal(v.String())
			b.Write(q)
			i = j
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// allowParams rejects parameters a function does not declare.
func allowParams(fn string, args map[string]any, names ...string) error {
	for k := range args {
		ok := false
		for _, n := range names {
			ok = ok || k == n
		}
		if !ok {
			return badRequest("The function %s has no parameter named '%s'; its parameters are %s.", fn, k, strings.Join(names, ", "))
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
		return "", badRequest("The parameter '%s' of %s must be a string literal such as 'text'.", name, fn)
	}
	return s, nil
}

// Unbound functions.

func (c *call) unboundFunction(name string, args map[string]any) error {
	switch name {
	case "WhoAmI":
		if len(args) > 0 {
			return badRequest("WhoAmI takes no parameters.")
		}
		c.respond(http.StatusOK, object{
			{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"},
			{"BusinessUnitId", c.s.org.buID},
			{"UserId", c.user.id},
			{"OrganizationId", c.s.org.orgID},
		})
		return nil
	case "CheckIncomingEmail":
		return c.checkIncomingEmail(args)
	case "CheckPromoteEmail":
		return c.checkPromoteEmail(args)
	}
	return notFoundSegment(name)
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
func (c *call) checkIncomingEmail(args map[string]any) error {
	const fn = "CheckIncomingEmail"
	if err := allowParams(fn, args, "MessageId", "Subject", "From", "To", "Cc", "Bcc", "ExtraProperties"); err != nil {
		return err
	}
	strs := map[string]string{}
	for _, n := range []string{"MessageId", "Subject", "From", "To", "Cc", "Bcc"} {
		s, err := stringArg(fn, args, n)
		if err != nil {
			return err
		}
		strs[n] = s
	}
	if strs["MessageId"] == "" {
		return badRequest("The function CheckIncomingEmail requires the parameter 'MessageId'.")
	}
	answer := func(deliver bool, reason int) error {
		c.respond(http.StatusOK, object{
			{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM.CheckIncomingEmailResponse"},
			{"ShouldDeliver", deliver},
			{"ReasonCode", reason},
		})
		return nil
	}
	dups, err := findByMessageID(c.ctx, c.s.st.db, strs["MessageId"], false)
	if err != nil {
		return err
	}
	if len(dups) > 0 {
		return answer(false, reasonDuplicate)
	}
	from, ok := parseOneAddress(strs["From"])
	if !ok {
		return answer(false, reasonInvalidSender)
	}
	r, err := c.resolveAddress(c.s.st.db, from)
	if err != nil {
		return err
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
func (c *call) checkPromoteEmail(args map[string]any) error {
	const fn = "CheckPromoteEmail"
	if err := allowParams(fn, args, "MessageId", "Subject", "DirectionCode"); err != nil {
		return err
	}
	mid, err := stringArg(fn, args, "MessageId")
	if err != nil {
		return err
	}
	if mid == "" {
		return badRequest("The function CheckPromoteEmail requires the parameter 'MessageId'.")
	}
	if _, err := stringArg(fn, args, "Subject"); err != nil {
		return err
	}
	dir := -1
	if v, ok := args["DirectionCode"]; ok && v != nil {
		f, ok := v.(float64)
		if !ok || (f != 0 && f != 1) {
			return badRequest("The parameter 'DirectionCode' of CheckPromoteEmail must be 0 (incoming) or 1 (outgoing).")
		}
		dir = int(f)
	}
	dups, err := findByMessageID(c.ctx, c.s.st.db, mid, false)
	if err != nil {
		return err
	}
	promote, reason := true, 1
	for _, d := range dups {
		out, _ := d.attrs["directioncode"].(bool)
		if dir < 0 || out == (dir == 1) {
			promote, reason = false, reasonDuplicate
		}
	}
	c.respond(http.StatusOK, object{
		{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM.CheckPromoteEmailResponse"},
		{"ShouldPromote", promote},
		{"ReasonCode", reason},
	})
	return nil
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

// resolveAddress finds the record an address belongs to, in the CRM's
// order: systemuser, contact, account, lead; within a table the
// first-created active row wins; disabled users never match.
func (c *call) resolveAddress(q queryer, addr string) (*ref, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return nil, nil
	}
	recs, err := findByAddress(c.ctx, q, addr)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	for _, logical := range resolutionOrder {
		ent, _ := tables.logical(logical)
		for _, r := range recs {
			if r.set != ent.set {
				continue
			}
			if logical == "systemuser" {
				if d, _ := r.attrs["isdisabled"].(bool); d {
					continue
				}
			} else if st, _ := r.attrs["statecode"].(float64); st != 0 {
				continue
			}
			return &ref{Table: logical, ID: r.id}, nil
		}
	}
	return nil, nil
}

// Bound operations.

// boundOperation dispatches <set>/<op> and <set>(<id>)/<op>; id is ""
// for the collection.
func (c *call) boundOperation(ent *entity, id string, seg segment) error {
	name, namespaced := stripNamespace(seg.name)
	if !namespaced {
		if boundOperations[seg.name] {
			return badRequest("Request message has unresolved parameters. Bound operations need the namespace: %s%s.", crmNamespace, seg.name)
		}
		return notFoundSegment(seg.String())
	}
	args, err := parseFuncArgs(seg.args, c.aliases)
	if err != nil {
		return err
	}
	key := ent.set + "/" + name
	if id != "" {
		key = ent.set + "(id)/" + name
	}
	method := http.MethodGet
	switch key {
	case "emails/DeliverIncomingEmail", "emails(id)/DeliverPromoteEmail":
		method = http.MethodPost
	case "systemusers(id)/RetrieveUserPrivilegeByPrivilegeName", "systemusers(id)/RetrieveUserPrivileges",
		"systemusers(id)/RetrievePrincipalAccess":
	default:
		return notFoundSegment(seg.String())
	}
	if c.r.Method != method {
		return methodNotAllowed(c.r.Method, "'"+seg.name+"'", method)
	}
	switch name {
	case "DeliverIncomingEmail":
		return c.deliverEmail(ent, "")
	case "DeliverPromoteEmail":
		return c.deliverEmail(ent, id)
	case "RetrievePrincipalAccess":
		return c.retrievePrincipalAccess(id, args)
	}
	return c.retrievePrivileges(id, name, args)
}

// privilege is one privilege of a role and its depth.
type privilege struct{ name, depth string }

// rolePrivileges lists what each role holds. Salesperson follows the
// standard role for email tracking; Sales Viewer lacks the sync and
// offline privileges.
func rolePrivileges(role string) []privilege {
	common := []privilege{
		{"prvReadActivity", "Global"}, {"prvCreateActivity", "Basic"}, {"prvWriteActivity", "Basic"},
		{"prvDeleteActivity", "Basic"}, {"prvAppendActivity", "Basic"}, {"prvAppendToActivity", "Global"},
		{"prvReadContact", "Global"}, {"prvCreateContact", "Basic"}, {"prvWriteContact", "Global"}, {"prvAppendToContact", "Global"},
		{"prvReadAccount", "Global"}, {"prvCreateAccount", "Basic"}, {"prvWriteAccount", "Global"}, {"prvAppendToAccount", "Global"},
		{"prvReadOpportunity", "Global"}, {"prvAppendToOpportunity", "Global"},
		{"prvReadIncident", "Global"}, {"prvAppendToIncident", "Global"},
		{"prvReadLead", "Global"}, {"prvReadUser", "Global"}, {"prvUseOfficeApps", "Global"},
	}
	if role == RoleSalesperson {
		return append([]privilege{{"prvSyncToOutlook", "Global"}, {"prvGoOffline", "Global"}}, common...)
	}
	return common
}

// privilegeID is a fixed id per privilege name, the same in every store,
// as privilege ids are in the CRM.
func privilegeID(name string) string {
	h := sha1.Sum([]byte("crmsync privilege " + name))
	var b [16]byte
	copy(b[:], h[:16])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func (c *call) retrievePrivileges(userID, fn string, args map[string]any) error {
	u, err := getUserByID(c.ctx, c.s.st.db, userID)
	if err != nil {
		return err
	}
	if u == nil {
		return recordNotFound("systemuser", userID)
	}
	want := ""
	if fn == "RetrieveUserPrivilegeByPrivilegeName" {
		if err := allowParams(fn, args, "PrivilegeName", "ExcludeTeamBasic"); err != nil {
			return err
		}
		if want, err = stringArg(fn, args, "PrivilegeName"); err != nil {
			return err
		}
		if want == "" {
			return badRequest("The function %s requires the parameter 'PrivilegeName'.", fn)
		}
	} else if len(args) > 0 {
		return badRequest("The function %s takes no parameters.", fn)
	}
	list := []object{}
	for _, p := range rolePrivileges(u.role) {
		if want != "" && !strings.EqualFold(p.name, want) {
			continue
		}
		list = append(list, object{
			{"Depth", p.depth}, {"PrivilegeId", privilegeID(p.name)},
			{"BusinessUnitId", c.s.org.buID}, {"PrivilegeName", p.name},
		})
	}
	c.respond(http.StatusOK, object{
		{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM." + fn + "Response"},
		{"RolePrivileges", list},
	})
	return nil
}

// retrievePrincipalAccess reports what the bound user may do with the
// Target record, following the same rules the server enforces.
func (c *call) retrievePrincipalAccess(userID string, args map[string]any) error {
	const fn = "RetrievePrincipalAccess"
	if err := allowParams(fn, args, "Target"); err != nil {
		return err
	}
	obj, ok := args["Target"].(map[string]any)
	if !ok {
		return badRequest("The function %s requires the parameter 'Target', e.g. Target=@tid&@tid={'@odata.id':'emails(<guid>)'}.", fn)
	}
	id, _ := obj["@odata.id"].(string)
	if id == "" {
		return badRequest("The Target of %s must hold '@odata.id', e.g. {'@odata.id':'emails(<guid>)'}.", fn)
	}
	u, err := getUserByID(c.ctx, c.s.st.db, userID)
	if err != nil {
		return err
	}
	if u == nil {
		return recordNotFound("systemuser", userID)
	}
	ent, rec, err := c.resolveBind(c.s.st.db, id)
	if err != nil {
		return err
	}
	rights := []string{"ReadAccess"}
	owner := ent.userOwned && rec.owner() == u.id
	switch {
	case ent.readOnly:
	case owner:
		rights = append(rights, "WriteAccess", "AppendAccess", "AppendToAccess", "CreateAccess", "DeleteAccess", "ShareAccess", "AssignAccess")
	case ent.set != "emails":
		rights = append(rights, "WriteAccess", "AppendAccess", "AppendToAccess")
	}
	c.respond(http.StatusOK, object{
		{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM.RetrievePrincipalAccessResponse"},
		{"AccessRights", strings.Join(rights, ", ")},
	})
	return nil
}

// deliverParams are the body parameters of DeliverIncomingEmail and
// DeliverPromoteEmail.
var deliverParams = map[string]string{
	"MessageId": "string", "Subject": "string", "From": "string", "To": "string", "Cc": "string",
	"Bcc": "string", "ReceivedOn": "string", "SubmittedBy": "string", "Importance": "string",
	"Body": "string", "Attachments": "array", "ExtraProperties": "object", "ValidateBeforeCreate": "bool",
}

// deliverEmail implements DeliverIncomingEmail (boundID "") and
// DeliverPromoteEmail (bound to an existing email, which it completes in
// place). The email is received (directioncode false, Completed/Received),
// owned by the caller, with parties resolved like incoming mail.
func (c *call) deliverEmail(ent *entity, boundID string) error {
	op := "DeliverIncomingEmail"
	if boundID != "" {
		op = "DeliverPromoteEmail"
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	p := map[string]string{}
	attachments := 0
	for k, v := range body {
		kind, ok := deliverParams[k]
		if !ok {
			return badPayload("The action %s has no parameter named '%s'.", op, k)
		}
		if v == nil {
			continue
		}
		switch kind {
		case "string":
			s, ok := v.(string)
			if !ok {
				return badPayload("The parameter '%s' of %s must be a string.", k, op)
			}
			p[k] = s
		case "array":
			a, ok := v.([]any)
			if !ok {
				return badPayload("The parameter '%s' of %s must be an array.", k, op)
			}
			attachments = len(a)
		case "object":
			if _, ok := v.(map[string]any); !ok {
				return badPayload("The parameter '%s' of %s must be an object.", k, op)
			}
		case "bool":
			if _, ok := v.(bool); !ok {
				return badPayload("The parameter '%s' of %s must be true or false.", k, op)
			}
		}
	}
	if p["MessageId"] == "" {
		return badPayload("The action %s requires the parameter 'MessageId'.", op)
	}
	ch := &change{attrs: map[string]any{}, lookups: map[string]*ref{}}
	for param, col := range map[string]string{"Subject": "subject", "Body": "description", "MessageId": "messageid", "SubmittedBy": "submittedby"} {
		if v, ok := p[param]; ok {
			cd, _ := ent.column(col)
			val, err := convertValue(ent, cd, v)
			if err != nil {
				return err
			}
			ch.attrs[col] = val
		}
	}
	if v, ok := p["ReceivedOn"]; ok && v != "" {
		d, ok := parseDateLiteral(v)
		if !ok {
			return badPayload("The parameter 'ReceivedOn' of %s must be a date and time such as 2024-05-01T09:30:00Z.", op)
		}
		ch.attrs["senton"], ch.attrs["actualend"] = d, d
	}
	if v, ok := p["Importance"]; ok && v != "" {
		n, ok := map[string]float64{"low": 0, "0": 0, "normal": 1, "1": 1, "high": 2, "2": 2}[strings.ToLower(v)]
		if !ok {
			return badPayload("The parameter 'Importance' of %s must be low, normal or high (0, 1, 2).", op)
		}
		ch.attrs["prioritycode"] = n
	}
	if from, ok := p["From"]; ok {
		ch.attrs["sender"] = truncateRunes(from, 250)
	}
	if to, ok := p["To"]; ok {
		ch.attrs["torecipients"] = truncateRunes(to, 500)
	}
	var id string
	err = c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
		var bound *record
		if boundID != "" {
			if bound, err = getRecord(c.ctx, tx, ent.set, boundID); err != nil {
				return err
			}
			if bound == nil {
				return recordNotFound(ent.logical, boundID)
			}
			if err := c.mayWrite(ent, bound, "Write"); err != nil {
				return err
			}
		}
		dups, err := findByMessageID(c.ctx, tx, p["MessageId"], false)
		if err != nil {
			return err
		}
		for _, d := range dups {
			if d.id != boundID {
				return errf(http.StatusPreconditionFailed, codeDuplicate,
					"Cannot insert duplicate key: an email with this message ID already exists (activityid %s).", d.id)
			}
		}
		if _, given := p["From"]; given || boundID == "" {
			ps, err := c.partiesFromAddresses(tx, p)
			if err != nil {
				return err
			}
			ch.parties, ch.partiesSet = ps, true
		}
		if bound == nil {
			ch.attrs["directioncode"] = false
			ch.attrs["statecode"], ch.attrs["statuscode"] = float64(1), float64(4)
			rec := c.newRecord(ent, newGUID())
			rec.attrs["attachmentcount"] = float64(attachments)
			if err := c.apply(ent, rec, ch); err != nil {
				return err
			}
			if err := insertRecord(c.ctx, tx, rec); err != nil {
				return err
			}
			id = rec.id
			return replaceParties(c.ctx, tx, rec.id, ch.parties)
		}
		out, _ := bound.attrs["directioncode"].(bool)
		ch.attrs["statecode"], ch.attrs["statuscode"] = float64(1), float64(4)
		if out {
			ch.attrs["statuscode"] = float64(3)
		}
		if attachments > 0 {
			bound.attrs["attachmentcount"] = float64(attachments)
		}
		if err := c.apply(ent, bound, ch); err != nil {
			return err
		}
		bound.modifiedOn = c.s.now()
		bound.lookups["modifiedby"] = &ref{Table: "systemuser", ID: c.user.id}
		if err := updateRecord(c.ctx, tx, bound); err != nil {
			return err
		}
		id = bound.id
		if ch.partiesSet {
			return replaceParties(c.ctx, tx, bound.id, ch.parties)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.respond(http.StatusOK, object{
		{"@odata.context", c.base + "$metadata#Microsoft.Dynamics.CRM." + op + "Response"},
		{"EmailId", id},
	})
	return nil
}

// partiesFromAddresses builds sender and recipient parties from the
// address text, resolving each address; unresolved ones keep only the
// address, as the CRM stores them.
func (c *call) partiesFromAddresses(q queryer, p map[string]string) ([]*party, error) {
	var out []*party
	add := func(mask int, addr string) error {
		r, err := c.resolveAddress(q, addr)
		if err != nil {
			return err
		}
		out = append(out, &party{mask: mask, target: r, addressUsed: truncateRunes(addr, 320)})
		return nil
	}
	if from, ok := parseOneAddress(p["From"]); ok {
		if err := add(1, from); err != nil {
			return nil, err
		}
	}
	for _, mk := range []struct {
		mask int
		key  string
	}{{2, "To"}, {3, "Cc"}, {4, "Bcc"}} {
		for _, a := range parseAddressList(p[mk.key]) {
			if err := add(mk.mask, a); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
