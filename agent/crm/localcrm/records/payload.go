package records

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Change is a validated request body, ready to apply to a record.
type Change struct {
	ID         string                // the key from the body, "" if absent
	Attrs      map[string]any        // column -> value; nil clears
	Lookups    map[string]*store.Ref // lookup attribute -> target; nil clears
	Parties    []*store.Party        // the new party list, when PartiesSet
	PartiesSet bool
}

// NewChange returns an empty Change.
func NewChange() *Change {
	return &Change{Attrs: map[string]any{}, Lookups: map[string]*store.Ref{}}
}

// ParsePayload validates a JSON body against the table. Instance
// annotations such as @odata.etag are ignored, as Dataverse ignores them.
// A read-only column (IsValidForCreate and IsValidForUpdate false in
// Microsoft's table reference) is refused: whether Dataverse ignores such a
// write or refuses it is not documented, and a client must not depend on
// either. Anything unknown is an error that names it.
func (c *Session) ParsePayload(q store.Queryer, ent *Entity, body map[string]any) (*Change, error) {
	ch := NewChange()
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first bad key is always the same one
	for _, k := range keys {
		v := body[k]
		if strings.HasPrefix(k, "@") {
			continue
		}
		if name, annotation, ok := strings.Cut(k, "@"); ok {
			if annotation != "odata.bind" {
				continue
			}
			if attr, ok := ent.ReadOnlyName(name); ok {
				return nil, ReadOnlyAttribute(attr)
			}
			if err := c.BindNav(q, ent, ch, name, v); err != nil {
				return nil, err
			}
			continue
		}
		if k == ent.Key {
			s, ok := v.(string)
			id, valid := wire.ParseGUID(s)
			if !ok || !valid {
				return nil, wire.BadPayload("The value of '%s' must be a GUID.", k)
			}
			ch.ID = id
			continue
		}
		if col, ok := ent.Column(k); ok {
			if col.ReadOnly {
				return nil, ReadOnlyAttribute(k)
			}
			val, err := ConvertValue(ent, col, v)
			if err != nil {
				return nil, err
			}
			ch.Attrs[k] = val
			continue
		}
		if l, _, ok := ent.Nav(k); ok {
			if v != nil {
				return nil, wire.BadPayload("Set the navigation property '%s' with \"%s@odata.bind\": \"/<set>(<guid>)\".", k, k)
			}
			if l.ReadOnly {
				return nil, ReadOnlyAttribute(l.Attr)
			}
			ch.Lookups[l.Attr] = nil
			continue
		}
		if attr, ok := ent.ReadOnlyName(k); ok {
			return nil, ReadOnlyAttribute(attr)
		}
		if ent.PartyNav != "" && k == ent.PartyNav {
			ps, err := c.ParseParties(q, ent, v)
			if err != nil {
				return nil, err
			}
			ch.Parties, ch.PartiesSet = ps, true
			continue
		}
		if l := ent.LookupByValue(k); l != nil {
			if l.ReadOnly {
				return nil, ReadOnlyAttribute(l.Attr)
			}
			return nil, wire.BadPayload("The property '%s' is read-only; set the lookup with %s@odata.bind.", k, firstNav(l, ent))
		}
		if attr, ok := strings.CutPrefix(k, "_"); ok && ent.readOnlyNames[strings.TrimSuffix(attr, "_value")] {
			return nil, ReadOnlyAttribute(strings.TrimSuffix(attr, "_value"))
		}
		return nil, wire.BadPayload("Could not find a property named '%s' on type '%s'.", k, ent.TypeName())
	}
	return ch, nil
}

// ReadOnlyAttribute refuses a write of a column the server maintains.
func ReadOnlyAttribute(name string) *wire.Error {
	return wire.BadPayload("The '%s' attribute is read-only and cannot be set on create or update.", name)
}

// firstNav names a navigation property of the lookup, for messages.
func firstNav(l *Lookup, ent *Entity) string {
	names := make([]string, 0, len(l.Navs))
	for n := range l.Navs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "_"+ent.Logical) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return l.Attr
}

// ConvertValue checks a JSON value against a column and returns it in
// stored form: string, float64 or bool.
func ConvertValue(ent *Entity, col *Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	mismatch := func() error {
		raw, _ := wire.Marshal(v)
		return wire.BadPayload("Cannot convert the literal '%s' to the expected type '%s' of the property '%s'.",
			wire.Truncate(string(raw), 100), col.Type.Edm(), col.Name)
	}
	switch col.Type {
	case TString, TMemo:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if col.MaxLen > 0 && utf8.RuneCountInString(s) > col.MaxLen {
			return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation,
				"A validation error occurred. The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.",
				col.Name, ent.Logical, col.MaxLen)
		}
		return s, nil
	case TBool:
		b, ok := v.(bool)
		if !ok {
			return nil, mismatch()
		}
		return b, nil
	case TInt, TBigInt, TDecimal:
		n, ok := v.(json.Number)
		if !ok {
			return nil, mismatch()
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, mismatch()
		}
		if col.Type == TInt && (f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32) {
			return nil, mismatch()
		}
		if _, ok := col.Options[int(f)]; col.Options != nil && !ok {
			return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation,
				"A validation error occurred. The value %v of '%s' on record of type '%s' is outside the valid range. Accepted Values: %s.",
				f, col.Name, ent.Logical, optionList(col.Options))
		}
		return f, nil
	case TDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if d, ok := wire.ParseDateTime(s, col.DateOnly); ok {
			return d, nil
		}
		if col.DateOnly {
			return nil, wire.BadPayload("The value '%s' of '%s' is not a valid date; send it as 2024-05-01 or in ISO 8601 with Z or an offset.",
				wire.Truncate(s, 100), col.Name)
		}
		return nil, wire.BadPayload("The value '%s' of '%s' is not a valid date and time; send it in ISO 8601 with Z or an offset, such as 2024-05-01T09:30:00Z.",
			wire.Truncate(s, 100), col.Name)
	case TGUID:
		s, ok := v.(string)
		g, valid := wire.ParseGUID(s)
		if !ok || !valid {
			return nil, mismatch()
		}
		return g, nil
	}
	return nil, mismatch()
}

// optionList writes the values of a choice column in order, for messages.
func optionList(opts map[int]string) string {
	vals := make([]int, 0, len(opts))
	for v := range opts {
		vals = append(vals, v)
	}
	sort.Ints(vals)
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

// parseBindPath reads "/contacts(<guid>)", "contacts(<guid>)" or an
// absolute URL under this server's Web API root.
func (c *Session) parseBindPath(v string) (*Entity, string, error) {
	p := v
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		u, err := url.Parse(p)
		if err != nil {
			return nil, "", wire.BadPayload("The reference '%s' is not a valid URL.", wire.Truncate(v, 200))
		}
		i := strings.Index(u.Path, "/api/data/v9.")
		if i < 0 {
			return nil, "", wire.BadPayload("The reference '%s' is not a URL of this Web API.", wire.Truncate(v, 200))
		}
		p = u.Path[i+len("/api/data/v9.0/"):]
	}
	p = strings.TrimPrefix(p, "/")
	open := strings.IndexByte(p, '(')
	if open < 0 || !strings.HasSuffix(p, ")") {
		return nil, "", wire.BadPayload("The reference '%s' is not of the form /<entityset>(<guid>).", wire.Truncate(v, 200))
	}
	ent, ok := c.Cat.Set(p[:open])
	if p[:open] == activityPointer.Set {
		ent, ok = activityPointer, true
	}
	if !ok {
		return nil, "", wire.Errf(http.StatusBadRequest, wire.CodeSegment, "Resource not found for the segment '%s'.", p[:open])
	}
	id, ok := wire.ParseGUID(p[open+1 : len(p)-1])
	if !ok {
		return nil, "", wire.BadPayload("The key in the reference '%s' is not a GUID.", wire.Truncate(v, 200))
	}
	return ent, id, nil
}

// ResolveBind checks that a bind value names an existing record.
func (c *Session) ResolveBind(q store.Queryer, v string) (*Entity, *store.Record, error) {
	ent, id, err := c.parseBindPath(v)
	if err != nil {
		return nil, nil, err
	}
	if ent == activityPointer {
		return c.resolveActivityPointer(q, id)
	}
	rec, err := store.GetRecord(c.Ctx, q, ent.Set, id)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, wire.RecordNotFound(ent.Logical, id)
	}
	return ent, rec, nil
}

// BindNav handles "<nav>@odata.bind": value.
func (c *Session) BindNav(q store.Queryer, ent *Entity, ch *Change, nav string, v any) error {
	l, fixed, ok := ent.Nav(nav)
	if !ok {
		return wire.BadPayload("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", nav)
	}
	if l.ReadOnly {
		return ReadOnlyAttribute(l.Attr)
	}
	if v == nil {
		ch.Lookups[l.Attr] = nil
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return wire.BadPayload("The value of '%s@odata.bind' must be a string such as \"/contacts(<guid>)\".", nav)
	}
	target, rec, err := c.ResolveBind(q, s)
	if err != nil {
		return err
	}
	if (fixed != "" && target.Logical != fixed) || !l.Allows(target.Logical) {
		want := fixed
		if want == "" {
			want = strings.Join(l.Targets, " or ")
		}
		return wire.BadPayload("The navigation property '%s' points at %s records, but '%s' names a %s.", nav, want, wire.Truncate(s, 200), target.Logical)
	}
	ch.Lookups[l.Attr] = &store.Ref{Table: target.Logical, ID: rec.ID}
	return nil
}

// Tables a party may point at. Email, from Microsoft's email reference:
// the targets of the from PartyList are queue and systemuser only; those
// of to, cc and bcc are account, contact, knowledgearticle, queue,
// systemuser and unresolvedaddress (an addressused without a partyid).
// Appointment, from the appointment reference: the organizer is a
// systemuser; required and optional attendees have the targets of email
// recipients. knowledgearticle is not a table here; lead is added where
// the environment has it, as the Sales app's activities do.
var (
	senderTargets    = map[string]bool{"systemuser": true, "queue": true}
	organizerTargets = map[string]bool{"systemuser": true}
	recipientTargets = map[string]bool{"account": true, "contact": true, "systemuser": true, "queue": true, "lead": true}
)

// partyTarget reports whether a party with mask may point at table.
func (c *Session) partyTarget(mask int, table string) bool {
	if _, ok := c.Cat.Logical(table); !ok {
		return false
	}
	switch mask {
	case 1:
		return senderTargets[table]
	case MaskOrganizer:
		return organizerTargets[table]
	}
	return recipientTargets[table]
}

// singleParty names the masks an activity has at most one party of: the
// sender of an email, the organizer of an appointment.
var singleParty = map[int]string{1: "sender", MaskOrganizer: "organizer"}

// maskList writes an activity's masks for messages: "1 (sender), 2 (to)".
func maskList(masks map[int]string) string {
	vals := make([]int, 0, len(masks))
	for v := range masks {
		vals = append(vals, v)
	}
	sort.Ints(vals)
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = strconv.Itoa(v) + " (" + masks[v] + ")"
	}
	if len(parts) > 1 {
		return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
	}
	return strings.Join(parts, "")
}

// ParseParties validates a deep-inserted party collection of an activity
// (email_activity_parties, appointment_activity_parties): a whole new
// party list, as Dataverse treats party lists.
func (c *Session) ParseParties(q store.Queryer, ent *Entity, v any) ([]*store.Party, error) {
	nav := ent.PartyNav
	list, ok := v.([]any)
	if !ok {
		return nil, wire.BadPayload("The value of '%s' must be an array of activity parties.", nav)
	}
	if len(list) > 500 {
		return nil, wire.BadPayload("A%s %s may have at most 500 activity parties.", article(ent.Logical), ent.Logical)
	}
	var out []*store.Party
	singles := map[int]int{}
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, wire.BadPayload("%s[%d] must be an object.", nav, i)
		}
		p := &store.Party{}
		hasMask := false
		var (
			boundEnt *Entity
			boundRec *store.Record
		)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := obj[k]
			switch {
			case strings.HasPrefix(k, "@"):
			case k == "participationtypemask":
				n, ok := val.(json.Number)
				m, err := n.Int64()
				if _, known := ent.PartyMasks[int(m)]; !ok || err != nil || !known {
					return nil, wire.BadPayload("%s[%d]: participationtypemask must be %s.", nav, i, maskList(ent.PartyMasks))
				}
				p.Mask, hasMask = int(m), true
			case k == "addressused", k == "unresolvedpartyname":
				s, ok := val.(string)
				if val != nil && !ok {
					return nil, wire.BadPayload("%s[%d]: %s must be a string.", nav, i, k)
				}
				max := 320
				if k == "unresolvedpartyname" {
					max = 200
				}
				if utf8.RuneCountInString(s) > max {
					return nil, wire.Errf(http.StatusBadRequest, wire.CodeValidation,
						"A validation error occurred. The length of the '%s' attribute of the 'activityparty' entity exceeded the maximum allowed length of '%d'.", k, max)
				}
				if k == "addressused" {
					p.AddressUsed = s
				} else {
					p.Unresolved = s
				}
			case k == "activitypartyid":
				s, _ := val.(string)
				id, ok := wire.ParseGUID(s)
				if !ok {
					return nil, wire.BadPayload("%s[%d]: activitypartyid must be a GUID.", nav, i)
				}
				p.ID = id
			case strings.HasPrefix(k, "partyid_") && strings.HasSuffix(k, "@odata.bind"):
				table := strings.TrimSuffix(strings.TrimPrefix(k, "partyid_"), "@odata.bind")
				if !c.partyTarget(2, table) && !c.partyTarget(1, table) {
					return nil, wire.BadPayload("%s[%d]: '%s' is not supported; a party may be %s.", nav, i, k, c.recipientList())
				}
				s, ok := val.(string)
				if !ok {
					return nil, wire.BadPayload("%s[%d]: the value of '%s' must be a string such as \"/contacts(<guid>)\".", nav, i, k)
				}
				target, rec, err := c.ResolveBind(q, s)
				if err != nil {
					return nil, err
				}
				if target.Logical != table {
					return nil, wire.BadPayload("%s[%d]: '%s' must name a %s, but '%s' names a %s.", nav, i, k, table, wire.Truncate(s, 200), target.Logical)
				}
				if p.Target != nil {
					return nil, wire.BadPayload("%s[%d] binds more than one partyid.", nav, i)
				}
				p.Target = &store.Ref{Table: target.Logical, ID: rec.ID}
				boundEnt, boundRec = target, rec
			default:
				return nil, wire.BadPayload("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.activityparty'.", k)
			}
		}
		if boundRec != nil && p.AddressUsed == "" {
			// The CRM records the address it used; default to the party's own.
			p.AddressUsed = PrimaryEmail(boundEnt, boundRec)
		}
		if !hasMask {
			return nil, wire.BadPayload("%s[%d] needs a participationtypemask (%s).", nav, i, maskList(ent.PartyMasks))
		}
		if p.Target != nil && !c.partyTarget(p.Mask, p.Target.Table) {
			if p.Mask == MaskOrganizer {
				return nil, wire.BadPayload("The organizer of an appointment is a user, not a%s %s; send the address in addressused instead (%s[%d]).",
					article(p.Target.Table), p.Target.Table, nav, i)
			}
			return nil, wire.BadPayload("The sender of an email can be a user or a queue, not a%s %s; send the address in addressused instead (%s[%d]).",
				article(p.Target.Table), p.Target.Table, nav, i)
		}
		if p.Target == nil && strings.TrimSpace(p.AddressUsed) == "" {
			return nil, wire.BadPayload("%s[%d] needs partyid_<table>@odata.bind or addressused.", nav, i)
		}
		if role, ok := singleParty[p.Mask]; ok {
			singles[p.Mask]++
			if singles[p.Mask] > 1 {
				return nil, wire.BadPayload("A%s %s has one %s, but %s holds more than one party with participationtypemask %d.",
					article(ent.Logical), ent.Logical, role, nav, p.Mask)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// recipientList names the tables a recipient may be, for messages.
func (c *Session) recipientList() string {
	var names []string
	for _, t := range []string{"account", "contact", "lead", "queue", "systemuser"} {
		if c.partyTarget(2, t) {
			names = append(names, t)
		}
	}
	return strings.Join(names, ", ")
}

// PrimaryEmail is the address a record is mailed at.
func PrimaryEmail(ent *Entity, rec *store.Record) string {
	for _, col := range ent.EmailCols {
		if s := rec.Str(col); s != "" {
			return s
		}
	}
	return ""
}
