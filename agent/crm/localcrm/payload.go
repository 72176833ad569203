package localcrm

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// change is a validated request body, ready to apply to a record.
type change struct {
	id         string          // the key from the body, "" if absent
	attrs      map[string]any  // column -> value; nil clears
	lookups    map[string]*ref // lookup attribute -> target; nil clears
	parties    []*party        // the new party list, when partiesSet
	partiesSet bool
}

// parsePayload validates a JSON body against the table. Read-only columns
// and instance annotations such as @odata.etag are ignored, as Dataverse
// ignores them; anything unknown is an error that names it.
func (c *call) parsePayload(q queryer, ent *entity, body map[string]any) (*change, error) {
	ch := &change{attrs: map[string]any{}, lookups: map[string]*ref{}}
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
			if err := c.bindNav(q, ent, ch, name, v); err != nil {
				return nil, err
			}
			continue
		}
		if k == ent.key {
			s, ok := v.(string)
			id, valid := parseGUID(s)
			if !ok || !valid {
				return nil, badPayload("The value of '%s' must be a GUID.", k)
			}
			ch.id = id
			continue
		}
		if col, ok := ent.column(k); ok {
			if col.readOnly {
				continue
			}
			val, err := convertValue(ent, col, v)
			if err != nil {
				return nil, err
			}
			ch.attrs[k] = val
			continue
		}
		if l, _, ok := ent.nav(k); ok {
			if v != nil {
				return nil, badPayload("Set the navigation property '%s' with \"%s@odata.bind\": \"/<set>(<guid>)\".", k, k)
			}
			if l.readOnly {
				return nil, badPayload("The navigation property '%s' is read-only.", k)
			}
			ch.lookups[l.attr] = nil
			continue
		}
		if ent.set == "emails" && k == "email_activity_parties" {
			ps, err := c.parseParties(q, v)
			if err != nil {
				return nil, err
			}
			ch.parties, ch.partiesSet = ps, true
			continue
		}
		if l := ent.lookupByValue(k); l != nil {
			return nil, badPayload("The property '%s' is read-only; set the lookup with %s@odata.bind.", k, firstNav(l, ent))
		}
		return nil, badPayload("Could not find a property named '%s' on type '%s'.", k, ent.typeName())
	}
	return ch, nil
}

// firstNav names a navigation property of the lookup, for messages.
func firstNav(l *lookup, ent *entity) string {
	names := make([]string, 0, len(l.navs))
	for n := range l.navs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "_"+ent.logical) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return l.attr
}

// convertValue checks a JSON value against a column and returns it in
// stored form: string, float64 or bool.
func convertValue(ent *entity, col *column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	mismatch := func() error {
		raw, _ := marshal(v)
		return badPayload("Cannot convert the literal '%s' to the expected type '%s' of the property '%s'.",
			truncate(string(raw), 100), col.typ.edm(), col.name)
	}
	switch col.typ {
	case tString, tMemo:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if col.maxLen > 0 && utf8.RuneCountInString(s) > col.maxLen {
			return nil, errf(http.StatusBadRequest, codeValidation,
				"A validation error occurred. The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.",
				col.name, ent.logical, col.maxLen)
		}
		return s, nil
	case tBool:
		b, ok := v.(bool)
		if !ok {
			return nil, mismatch()
		}
		return b, nil
	case tInt, tBigInt, tDecimal:
		n, ok := v.(json.Number)
		if !ok {
			return nil, mismatch()
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, mismatch()
		}
		if col.typ == tInt && (f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32) {
			return nil, mismatch()
		}
		return f, nil
	case tDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch()
		}
		if d, ok := parseDateLiteral(s); ok {
			return d, nil
		}
		return nil, mismatch()
	case tGUID:
		s, ok := v.(string)
		g, valid := parseGUID(s)
		if !ok || !valid {
			return nil, mismatch()
		}
		return g, nil
	}
	return nil, mismatch()
}

// parseBindPath reads "/contacts(<guid>)", "contacts(<guid>)" or an
// absolute URL under this server's Web API root.
func (c *call) parseBindPath(v string) (*entity, string, error) {
	p := v
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		u, err := url.Parse(p)
		if err != nil {
			return nil, "", badPayload("The reference '%s' is not a valid URL.", truncate(v, 200))
		}
		i := strings.Index(u.Path, "/api/data/v9.")
		if i < 0 {
			return nil, "", badPayload("The reference '%s' is not a URL of this Web API.", truncate(v, 200))
		}
		p = u.Path[i+len("/api/data/v9.0/"):]
	}
	p = strings.TrimPrefix(p, "/")
	open := strings.IndexByte(p, '(')
	if open < 0 || !strings.HasSuffix(p, ")") {
		return nil, "", badPayload("The reference '%s' is not of the form /<entityset>(<guid>).", truncate(v, 200))
	}
	ent, ok := tables.set(p[:open])
	if !ok {
		return nil, "", errf(http.StatusBadRequest, codeSegment, "Resource not found for the segment '%s'.", p[:open])
	}
	id, ok := parseGUID(p[open+1 : len(p)-1])
	if !ok {
		return nil, "", badPayload("The key in the reference '%s' is not a GUID.", truncate(v, 200))
	}
	return ent, id, nil
}

// resolveBind checks that a bind value names an existing record.
func (c *call) resolveBind(q queryer, v string) (*entity, *record, error) {
	ent, id, err := c.parseBindPath(v)
	if err != nil {
		return nil, nil, err
	}
	rec, err := getRecord(c.ctx, q, ent.set, id)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, recordNotFound(ent.logical, id)
	}
	return ent, rec, nil
}

// bindNav handles "<nav>@odata.bind": value.
func (c *call) bindNav(q queryer, ent *entity, ch *change, nav string, v any) error {
	l, fixed, ok := ent.nav(nav)
	if !ok {
		return badPayload("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", nav)
	}
	if l.readOnly {
		return badPayload("The navigation property '%s' is read-only.", nav)
	}
	if v == nil {
		ch.lookups[l.attr] = nil
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return badPayload("The value of '%s@odata.bind' must be a string such as \"/contacts(<guid>)\".", nav)
	}
	target, rec, err := c.resolveBind(q, s)
	if err != nil {
		return err
	}
	if (fixed != "" && target.logical != fixed) || !l.allows(target.logical) {
		want := fixed
		if want == "" {
			want = strings.Join(l.targets, " or ")
		}
		return badPayload("The navigation property '%s' points at %s records, but '%s' names a %s.", nav, want, truncate(s, 200), target.logical)
	}
	ch.lookups[l.attr] = &ref{Table: target.logical, ID: rec.id}
	return nil
}

// partyTargets are the tables an email party may point at.
var partyTargets = map[string]bool{"contact": true, "account": true, "systemuser": true, "lead": true}

// parseParties validates a deep-inserted email_activity_parties array.
func (c *call) parseParties(q queryer, v any) ([]*party, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, badPayload("The value of 'email_activity_parties' must be an array of activity parties.")
	}
	if len(list) > 500 {
		return nil, badPayload("An email may have at most 500 activity parties.")
	}
	var out []*party
	senders := 0
	for i, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, badPayload("email_activity_parties[%d] must be an object.", i)
		}
		p := &party{}
		hasMask := false
		var (
			boundEnt *entity
			boundRec *record
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
				if !ok || err != nil || m < 1 || m > 4 {
					return nil, badPayload("email_activity_parties[%d]: participationtypemask must be 1 (sender), 2 (to), 3 (cc) or 4 (bcc).", i)
				}
				p.mask, hasMask = int(m), true
			case k == "addressused", k == "unresolvedpartyname":
				s, ok := val.(string)
				if val != nil && !ok {
					return nil, badPayload("email_activity_parties[%d]: %s must be a string.", i, k)
				}
				max := 320
				if k == "unresolvedpartyname" {
					max = 200
				}
				if utf8.RuneCountInString(s) > max {
					return nil, errf(http.StatusBadRequest, codeValidation,
						"A validation error occurred. The length of the '%s' attribute of the 'activityparty' entity exceeded the maximum allowed length of '%d'.", k, max)
				}
				if k == "addressused" {
					p.addressUsed = s
				} else {
					p.unresolved = s
				}
			case k == "activitypartyid":
				s, _ := val.(string)
				id, ok := parseGUID(s)
				if !ok {
					return nil, badPayload("email_activity_parties[%d]: activitypartyid must be a GUID.", i)
				}
				p.id = id
			case strings.HasPrefix(k, "partyid_") && strings.HasSuffix(k, "@odata.bind"):
				table := strings.TrimSuffix(strings.TrimPrefix(k, "partyid_"), "@odata.bind")
				if !partyTargets[table] {
					return nil, badPayload("email_activity_parties[%d]: '%s' is not supported; a party may be a contact, account, systemuser or lead.", i, k)
				}
				s, ok := val.(string)
				if !ok {
					return nil, badPayload("email_activity_parties[%d]: the value of '%s' must be a string such as \"/contacts(<guid>)\".", i, k)
				}
				target, rec, err := c.resolveBind(q, s)
				if err != nil {
					return nil, err
				}
				if target.logical != table {
					return nil, badPayload("email_activity_parties[%d]: '%s' must name a %s, but '%s' names a %s.", i, k, table, truncate(s, 200), target.logical)
				}
				if p.target != nil {
					return nil, badPayload("email_activity_parties[%d] binds more than one partyid.", i)
				}
				p.target = &ref{Table: target.logical, ID: rec.id}
				boundEnt, boundRec = target, rec
			default:
				return nil, badPayload("Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.activityparty'.", k)
			}
		}
		if boundRec != nil && p.addressUsed == "" {
			// The CRM records the address it used; default to the party's own.
			p.addressUsed = primaryEmail(boundEnt, boundRec)
		}
		if !hasMask {
			return nil, badPayload("email_activity_parties[%d] needs a participationtypemask (1 sender, 2 to, 3 cc, 4 bcc).", i)
		}
		if p.target == nil && strings.TrimSpace(p.addressUsed) == "" {
			return nil, badPayload("email_activity_parties[%d] needs partyid_<table>@odata.bind or addressused.", i)
		}
		if p.mask == 1 {
			senders++
			if senders > 1 {
				return nil, badPayload("An email has one sender, but email_activity_parties holds more than one party with participationtypemask 1.")
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// primaryEmail is the address a record is mailed at.
func primaryEmail(ent *entity, rec *record) string {
	for _, col := range ent.emailCols {
		if s := rec.str(col); s != "" {
			return s
		}
	}
	return ""
}

// apply writes a change into a record and keeps the derived columns
// (state pairs, names, sender lines) consistent.
func (c *call) apply(ent *entity, rec *record, ch *change) error {
	for k, v := range ch.attrs {
		if v == nil {
			delete(rec.attrs, k)
		} else {
			rec.attrs[k] = v
		}
	}
	for k, r := range ch.lookups {
		if r == nil {
			delete(rec.lookups, k)
		} else {
			rec.lookups[k] = r
		}
	}
	if err := fixState(ent, rec, ch); err != nil {
		return err
	}
	_, first := ch.attrs["firstname"]
	_, last := ch.attrs["lastname"]
	_, full := ch.attrs["fullname"]
	if (ent.logical == "contact" || ent.logical == "lead") && (first || last) && !full {
		rec.attrs["fullname"] = strings.TrimSpace(rec.str("firstname") + " " + rec.str("lastname"))
	}
	if ent.set == "emails" && ch.partiesSet {
		fillSenderLines(rec, ch.parties)
	}
	return nil
}

// fillSenderLines sets sender and torecipients from the parties unless the
// client gave them, as the CRM derives them.
func fillSenderLines(rec *record, ps []*party) {
	var from string
	var to []string
	for _, p := range ps {
		switch p.mask {
		case 1:
			from = p.addressUsed
		case 2:
			if p.addressUsed != "" {
				to = append(to, p.addressUsed)
			}
		}
	}
	if _, ok := rec.attrs["sender"]; !ok && from != "" {
		rec.attrs["sender"] = truncateRunes(from, 250)
	}
	if _, ok := rec.attrs["torecipients"]; !ok && len(to) > 0 {
		rec.attrs["torecipients"] = truncateRunes(strings.Join(to, ";"), 500)
	}
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// fixState checks the statecode/statuscode pair and fills in the default
// status for a new state.
func fixState(ent *entity, rec *record, ch *change) error {
	if ent.states == nil {
		return nil
	}
	state, hasState := rec.attrs["statecode"].(float64)
	status, hasStatus := rec.attrs["statuscode"].(float64)
	_, stateChanged := ch.attrs["statecode"]
	_, statusChanged := ch.attrs["statuscode"]
	if !hasState {
		state, hasState = 0, true
		if statusChanged && hasStatus {
			for s, list := range ent.states {
				for _, x := range list {
					if float64(x) == status {
						state = float64(s)
					}
				}
			}
		}
		rec.attrs["statecode"] = state
	}
	allowed, ok := ent.states[int(state)]
	if !ok {
		return errf(http.StatusBadRequest, codeValidation, "statecode %v is not valid for a%s %s.", state, article(ent.logical), ent.logical)
	}
	if !hasStatus || (stateChanged && !statusChanged) {
		rec.attrs["statuscode"] = float64(allowed[0])
		return nil
	}
	for _, a := range allowed {
		if float64(a) == status {
			return nil
		}
	}
	return errf(http.StatusBadRequest, codeValidation,
		"statuscode %v is not valid for a%s %s with statecode %v; use one of %v.", status, article(ent.logical), ent.logical, state, allowed)
}

// newRecord builds a record for create and upsert, owned by the caller
// unless the body assigns it.
func (c *call) newRecord(ent *entity, id string) *record {
	now := c.s.now()
	rec := &record{set: ent.set, id: id, createdOn: now, modifiedOn: now,
		attrs: map[string]any{}, lookups: map[string]*ref{}}
	if ent.userOwned {
		me := &ref{Table: "systemuser", ID: c.user.id}
		rec.lookups["ownerid"], rec.lookups["createdby"], rec.lookups["modifiedby"] = me, me, me
	}
	if ent.set == "emails" {
		rec.attrs["directioncode"] = true
		rec.attrs["attachmentcount"] = float64(0)
	}
	return rec
}

// ticketNumber makes a case number in the CRM's CAS-00000-XXXXXX style.
func ticketNumber(ctx context.Context, q queryer) (string, error) {
	n, err := nextVersion(ctx, q)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("CAS-%05d-%s", n%100000, strings.ToUpper(strings.ReplaceAll(newGUID(), "-", "")[:6])), nil
}

// article returns "n" before a vowel, for "an email" and "a contact".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "n"
	}
	return ""
}
