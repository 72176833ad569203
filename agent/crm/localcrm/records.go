package localcrm

import (
	"cmp"
	"database/sql"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// view is a record as the query language sees it: every readable column,
// null when unset.
func view(ent *entity, rec *record) map[string]any {
	m := make(map[string]any, len(ent.columns)+len(ent.lookups))
	for _, col := range ent.columns {
		m[col.name] = rec.attrs[col.name]
	}
	m[ent.key] = rec.id
	m["createdon"] = formatTime(rec.createdOn)
	m["modifiedon"] = formatTime(rec.modifiedOn)
	m["versionnumber"] = float64(rec.version)
	for _, l := range ent.lookups {
		if r := rec.lookups[l.attr]; r != nil {
			m[l.valueName()] = r.ID
		} else {
			m[l.valueName()] = nil
		}
	}
	return m
}

func etag(rec *record) string { return `W/"` + strconv.FormatInt(rec.version, 10) + `"` }

// names caches primary names of lookup targets within one request.
type names map[ref]string

func (c *call) nameOf(q queryer, cache names, r *ref) (string, error) {
	if n, ok := cache[*r]; ok {
		return n, nil
	}
	n := ""
	if r.Table == "businessunit" {
		n = c.s.org.buName
	} else if ent, ok := tables.logical(r.Table); ok {
		rec, err := getRecord(c.ctx, q, ent.set, r.ID)
		if err != nil {
			return "", err
		}
		if rec != nil {
			n = rec.str(ent.primaryName)
		}
	}
	cache[*r] = n
	return n, nil
}

// lookupAnnotations returns the annotations Dataverse puts before a
// _x_value property, as far as the client asked for them.
func (c *call) lookupAnnotations(q queryer, cache names, ent *entity, l *lookup, prop string, r *ref) ([]kv, error) {
	var out []kv
	if c.prefer.wantAnnotation("OData.Community.Display.V1.FormattedValue") {
		n, err := c.nameOf(q, cache, r)
		if err != nil {
			return nil, err
		}
		out = append(out, kv{prop + "@OData.Community.Display.V1.FormattedValue", n})
	}
	if c.prefer.wantAnnotation("Microsoft.Dynamics.CRM.associatednavigationproperty") {
		out = append(out, kv{prop + "@Microsoft.Dynamics.CRM.associatednavigationproperty", navFor(ent, l, r.Table)})
	}
	if c.prefer.wantAnnotation("Microsoft.Dynamics.CRM.lookuplogicalname") {
		out = append(out, kv{prop + "@Microsoft.Dynamics.CRM.lookuplogicalname", r.Table})
	}
	return out, nil
}

// navFor names the navigation property that leads to target.
func navFor(ent *entity, l *lookup, target string) string {
	best := ""
	for n, t := range l.navs {
		switch {
		case t == target && strings.HasSuffix(n, "_"+ent.logical):
			return n
		case t == target || (t == "" && best == ""):
			if best == "" || len(n) > len(best) {
				best = n
			}
		}
	}
	if best == "" {
		return l.attr
	}
	return best
}

// represent renders a record with the selected properties and expansions.
func (c *call) represent(q queryer, cache names, ent *entity, rec *record, spec *querySpec) (object, error) {
	o := object{{"@odata.etag", etag(rec)}}
	v := view(ent, rec)
	props := ent.allProperties()
	if spec != nil && spec.sel != nil {
		props = spec.sel
		hasKey := false
		for _, p := range props {
			hasKey = hasKey || p == ent.key
		}
		if !hasKey {
			// Dataverse always returns the primary key.
			props = append(append([]string{}, props...), ent.key)
		}
	}
	for _, p := range props {
		if l := ent.lookupByValue(p); l != nil {
			if r := rec.lookups[l.attr]; r != nil {
				ann, err := c.lookupAnnotations(q, cache, ent, l, p, r)
				if err != nil {
					return nil, err
				}
				o = append(o, ann...)
			}
		}
		o = append(o, kv{p, v[p]})
	}
	if spec != nil && spec.parties != nil && ent.set == "emails" {
		ps, err := listParties(c.ctx, q, rec.id)
		if err != nil {
			return nil, err
		}
		list := make([]object, 0, len(ps))
		for _, p := range ps {
			po, err := c.representParty(q, cache, p, spec.parties.sel)
			if err != nil {
				return nil, err
			}
			list = append(list, po)
		}
		o = append(o, kv{"email_activity_parties", list})
	}
	return o, nil
}

func (c *call) representParty(q queryer, cache names, p *party, sel []string) (object, error) {
	cols := sel
	if cols == nil {
		cols = partyColumns
	}
	o := object{}
	seenKey := false
	for _, col := range cols {
		switch col {
		case "activitypartyid":
			seenKey = true
			o = append(o, kv{col, p.id})
		case "participationtypemask":
			o = append(o, kv{col, p.mask})
		case "addressused":
			o = append(o, kv{col, nullIfEmpty(p.addressUsed)})
		case "unresolvedpartyname":
			o = append(o, kv{col, nullIfEmpty(p.unresolved)})
		case "ispartydeleted":
			o = append(o, kv{col, false})
		case "_activityid_value":
			o = append(o, kv{col, p.activityID})
		case "_partyid_value":
			if p.target == nil {
				o = append(o, kv{col, nil})
				continue
			}
			if c.prefer.wantAnnotation("OData.Community.Display.V1.FormattedValue") {
				n, err := c.nameOf(q, cache, p.target)
				if err != nil {
					return nil, err
				}
				o = append(o, kv{col + "@OData.Community.Display.V1.FormattedValue", n})
			}
			if c.prefer.wantAnnotation("Microsoft.Dynamics.CRM.associatednavigationproperty") {
				o = append(o, kv{col + "@Microsoft.Dynamics.CRM.associatednavigationproperty", "partyid_" + p.target.Table})
			}
			if c.prefer.wantAnnotation("Microsoft.Dynamics.CRM.lookuplogicalname") {
				o = append(o, kv{col + "@Microsoft.Dynamics.CRM.lookuplogicalname", p.target.Table})
			}
			o = append(o, kv{col, p.target.ID})
		}
	}
	if !seenKey {
		o = append(object{{"activitypartyid", p.id}}, o...)
	}
	return o, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// list answers GET <set>.
func (c *call) list(ent *entity) error {
	spec, err := c.parseSpec(ent, true)
	if err != nil {
		return err
	}
	recs, err := c.candidates(ent, spec)
	if err != nil {
		return err
	}
	rows := make([]row, len(recs))
	for i, r := range recs {
		rows[i] = row{rec: r, view: view(ent, r)}
	}
	pageRows, total, next, err := c.page(ent, spec, rows)
	if err != nil {
		return err
	}
	cache := names{}
	values := make([]object, 0, len(pageRows))
	for _, r := range pageRows {
		o, err := c.represent(c.s.st.db, cache, ent, r.rec, spec)
		if err != nil {
			return err
		}
		values = append(values, o)
	}
	body := object{{"@odata.context", c.contextURL(ent, spec, false)}}
	if spec.count {
		body = append(body, kv{"@odata.count", min(total, maxPage)})
	}
	body = append(body, kv{"value", values})
	if next != "" {
		body = append(body, kv{"@odata.nextLink", next})
	}
	c.applyAnnotationsPref()
	c.respond(http.StatusOK, body)
	return nil
}

// candidates returns the records a query can match. Two filters are
// answered from an index, as Dataverse answers them, instead of by reading
// every record of the table: one on an email's messageid (duplicate
// checks), and one on address columns (the agent resolves the parties of
// every message it tracks that way). The full filter is still applied to
// the candidates, so an index only has to find a superset.
func (c *call) candidates(ent *entity, spec *querySpec) ([]*record, error) {
	if ent.set == "emails" {
		if m, ok := messageIDEq(spec.filter); ok {
			return findByMessageID(c.ctx, c.s.st.db, m, true)
		}
	}
	// Only the tables address resolution searches have address indexes.
	if addrs, ok := addressEqs(ent, spec.filter); ok && len(addrs) <= maxIndexedAddresses && slices.Contains(resolutionOrder, ent.logical) {
		return c.byAddresses(ent, addrs)
	}
	return listRecords(c.ctx, c.s.st.db, ent.set)
}

// maxIndexedAddresses bounds the index lookups of one query; a filter
// naming more addresses reads the table once instead.
const maxIndexedAddresses = 64

// byAddresses returns ent's records that have one of addrs in an address
// column, oldest first, each once.
func (c *call) byAddresses(ent *entity, addrs []string) ([]*record, error) {
	asked := map[string]bool{}
	found := map[string]bool{}
	var out []*record
	for _, a := range addrs {
		a = strings.ToLower(a)
		if asked[a] {
			continue
		}
		asked[a] = true
		recs, err := findByAddress(c.ctx, c.s.st.db, a)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.set == ent.set && !found[r.id] {
				found[r.id] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return cmp.Compare(a.seq, b.seq) })
	return out, nil
}

// addressEqs finds the addresses a filter restricts ent's records to: an
// or-tree whose every branch has "<address column> eq '<text>'", alone or
// and-ed with more. It reports false for any other filter.
func addressEqs(ent *entity, n node) ([]string, bool) {
	switch n := n.(type) {
	case *logicalNode:
		l, lok := addressEqs(ent, n.left)
		r, rok := addressEqs(ent, n.right)
		switch {
		case n.op == "or" && lok && rok:
			return append(l, r...), true
		case n.op == "and" && lok:
			return l, true
		case n.op == "and" && rok:
			return r, true
		}
	case *cmpNode:
		if n.op != "eq" {
			return nil, false
		}
		p, lit := n.left, n.right
		if _, isLit := p.(*litNode); isLit {
			p, lit = lit, p
		}
		prop, ok1 := p.(*propNode)
		l, ok2 := lit.(*litNode)
		if !ok1 || !ok2 || !slices.Contains(ent.emailCols, prop.name) {
			return nil, false
		}
		if s, ok := l.v.(string); ok {
			return []string{s}, true
		}
	}
	return nil, false
}

// messageIDEq finds "messageid eq '<literal>'" among the and-ed terms of n.
func messageIDEq(n node) (string, bool) {
	switch n := n.(type) {
	case *logicalNode:
		if n.op != "and" {
			return "", false
		}
		if m, ok := messageIDEq(n.left); ok {
			return m, true
		}
		return messageIDEq(n.right)
	case *cmpNode:
		if n.op != "eq" {
			return "", false
		}
		p, lit := n.left, n.right
		if _, isLit := p.(*litNode); isLit {
			p, lit = lit, p
		}
		prop, ok1 := p.(*propNode)
		l, ok2 := lit.(*litNode)
		if !ok1 || !ok2 || prop.name != "messageid" {
			return "", false
		}
		if s, ok := l.v.(string); ok {
			return s, true
		}
	}
	return "", false
}

// retrieve answers GET <set>(<id>).
func (c *call) retrieve(ent *entity, id string) error {
	spec, err := c.parseSpec(ent, false)
	if err != nil {
		return err
	}
	rec, err := getRecord(c.ctx, c.s.st.db, ent.set, id)
	if err != nil {
		return err
	}
	if rec == nil {
		return recordNotFound(ent.logical, id)
	}
	if inm := c.r.Header.Get("If-None-Match"); inm != "" && spec.parties == nil && c.prefer.annotations == "" &&
		etagMatches(inm, rec) {
		c.w.Header().Set("ETag", etag(rec))
		c.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return c.writeRecord(http.StatusOK, ent, rec, spec)
}

// writeRecord answers with one record.
func (c *call) writeRecord(status int, ent *entity, rec *record, spec *querySpec) error {
	o, err := c.represent(c.s.st.db, names{}, ent, rec, spec)
	if err != nil {
		return err
	}
	body := append(object{{"@odata.context", c.contextURL(ent, spec, true)}}, o...)
	c.w.Header().Set("ETag", etag(rec))
	c.applyAnnotationsPref()
	c.respond(status, body)
	return nil
}

// etagMatches compares an If-Match/If-None-Match list with the record's
// version; weak and strong forms match alike.
func etagMatches(header string, rec *record) bool {
	want := strconv.FormatInt(rec.version, 10)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
		if t == want {
			return true
		}
	}
	return false
}

// privilegeDenied is Dataverse's answer when a role lacks access.
func (c *call) privilegeDenied(ent *entity, rec *record, verb string) error {
	priv := "prv" + verb + privEntity(ent)
	if rec == nil {
		return errf(http.StatusForbidden, codePrivilege,
			"Principal user (Id=%s, type=8) is missing %s privilege on %s: records of this table are read-only through the Web API.",
			c.user.id, priv, ent.logical)
	}
	return errf(http.StatusForbidden, codePrivilege,
		"Principal user (Id=%s, type=8) is missing %s privilege for %s (Id=%s), which is owned by another user (Id=%s): only the owner may %s it.",
		c.user.id, priv, ent.logical, rec.id, rec.owner(), map[string]string{"Write": "update", "Delete": "delete"}[verb])
}

func privEntity(ent *entity) string {
	switch ent.logical {
	case "email":
		return "Activity"
	case "systemuser":
		return "User"
	}
	return strings.ToUpper(ent.logical[:1]) + ent.logical[1:]
}

// mayWrite applies the salesperson role: emails are changed and deleted
// only by their owner; other business records may be updated by anyone in
// the organization and deleted by their owner; users are read-only.
func (c *call) mayWrite(ent *entity, rec *record, verb string) error {
	if ent.readOnly {
		return c.privilegeDenied(ent, nil, verb)
	}
	if rec == nil || !ent.userOwned || rec.owner() == c.user.id {
		return nil
	}
	if ent.set == "emails" || verb == "Delete" {
		return c.privilegeDenied(ent, rec, verb)
	}
	return nil
}

// create answers POST <set>.
func (c *call) create(ent *entity) error {
	if ent.readOnly {
		return c.privilegeDenied(ent, nil, "Create")
	}
	spec, err := c.parseSpec(ent, false)
	if err != nil {
		return err
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	var rec *record
	err = c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
		ch, err := c.parsePayload(tx, ent, body)
		if err != nil {
			return err
		}
		id := ch.id
		if id == "" {
			id = newGUID()
		} else if existing, err := getRecord(c.ctx, tx, ent.set, id); err != nil {
			return err
		} else if existing != nil {
			return errf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists.")
		}
		rec, err = c.insert(tx, ent, id, ch)
		return err
	})
	if err != nil {
		return err
	}
	return c.answerWrite(http.StatusCreated, ent, rec, spec)
}

// insert creates a record from a validated change.
func (c *call) insert(tx *sql.Tx, ent *entity, id string, ch *change) (*record, error) {
	rec := c.newRecord(ent, id)
	if err := c.apply(ent, rec, ch); err != nil {
		return nil, err
	}
	if ent.set == "emails" {
		if err := c.checkDuplicateMessageID(tx, rec); err != nil {
			return nil, err
		}
	}
	if ent.logical == "incident" && rec.str("ticketnumber") == "" {
		t, err := ticketNumber(c.ctx, tx)
		if err != nil {
			return nil, err
		}
		rec.attrs["ticketnumber"] = t
	}
	if err := insertRecord(c.ctx, tx, rec); err != nil {
		return nil, err
	}
	if ch.partiesSet {
		if err := replaceParties(c.ctx, tx, rec.id, ch.parties); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// checkDuplicateMessageID refuses a second email with the same Message-ID
// when it is a received one, the CRM's duplicate detection for incoming
// mail. Outgoing copies of one message (several senders' Sent folders)
// are kept apart by direction.
func (c *call) checkDuplicateMessageID(q queryer, rec *record) error {
	m := rec.str("messageid")
	if m == "" {
		return nil
	}
	others, err := findByMessageID(c.ctx, q, m, false)
	if err != nil {
		return err
	}
	dir, _ := rec.attrs["directioncode"].(bool)
	for _, o := range others {
		odir, _ := o.attrs["directioncode"].(bool)
		if o.id != rec.id && odir == dir && o.owner() == rec.owner() {
			return errf(http.StatusPreconditionFailed, codeDuplicate,
				"Cannot insert duplicate key: an email with this message ID already exists (activityid %s).", o.id)
		}
	}
	return nil
}

// answerWrite finishes a create or update: 204 with OData-EntityId, or
// the record itself when the client asked for return=representation.
func (c *call) answerWrite(created int, ent *entity, rec *record, spec *querySpec) error {
	if c.prefer.representation {
		c.applied = append(c.applied, "return=representation")
		return c.writeRecord(created, ent, rec, spec)
	}
	c.w.Header().Set("OData-EntityId", c.base+ent.set+"("+rec.id+")")
	c.respond(http.StatusNoContent, nil)
	return nil
}

// update answers PATCH <set>(<id>): an update, or an upsert unless the
// conditional headers forbid it.
func (c *call) update(ent *entity, id string) error {
	if ent.readOnly {
		return c.privilegeDenied(ent, nil, "Write")
	}
	spec, err := c.parseSpec(ent, false)
	if err != nil {
		return err
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	ifMatch, ifNoneMatch := c.r.Header.Get("If-Match"), c.r.Header.Get("If-None-Match")
	status := http.StatusOK
	var rec *record
	err = c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
		old, err := getRecord(c.ctx, tx, ent.set, id)
		if err != nil {
			return err
		}
		ch, err := c.parsePayload(tx, ent, body)
		if err != nil {
			return err
		}
		if ch.id != "" && ch.id != id {
			return badPayload("The key %s in the body does not match the key %s in the URL.", ch.id, id)
		}
		if old == nil {
			if ifMatch != "" {
				return recordNotFound(ent.logical, id)
			}
			status = http.StatusCreated
			rec, err = c.insert(tx, ent, id, ch)
			return err
		}
		if ifNoneMatch == "*" {
			return errf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists.")
		}
		if ifMatch != "" && !etagMatches(ifMatch, old) {
			return errf(http.StatusPreconditionFailed, codeConcurrency,
				"The version of the existing record doesn't match the RowVersion property provided.")
		}
		if err := c.mayWrite(ent, old, "Write"); err != nil {
			return err
		}
		if err := checkClosedActivity(ent, old, ch); err != nil {
			return err
		}
		if err := c.apply(ent, old, ch); err != nil {
			return err
		}
		old.modifiedOn = c.s.now()
		old.lookups["modifiedby"] = &ref{Table: "systemuser", ID: c.user.id}
		if ent.set == "emails" {
			if err := c.checkDuplicateMessageID(tx, old); err != nil {
				return err
			}
		}
		if err := updateRecord(c.ctx, tx, old); err != nil {
			return err
		}
		if ch.partiesSet {
			if err := replaceParties(c.ctx, tx, id, ch.parties); err != nil {
				return err
			}
		}
		rec = old
		return nil
	})
	if err != nil {
		return err
	}
	return c.answerWrite(status, ent, rec, spec)
}

// checkClosedActivity enforces that completed and canceled emails are
// read-only except for their regarding record, owner and state.
func checkClosedActivity(ent *entity, old *record, ch *change) error {
	if ent.set != "emails" {
		return nil
	}
	state, _ := old.attrs["statecode"].(float64)
	if state == 0 {
		return nil
	}
	if s, ok := ch.attrs["statecode"]; ok && s == float64(0) {
		return nil // reopening
	}
	for k := range ch.attrs {
		if k != "statecode" && k != "statuscode" {
			return errf(http.StatusBadRequest, codeValidation,
				"This email is completed or canceled, so '%s' cannot change; only the regarding record, the owner and the state can. Set statecode to 0 first to reopen it.", k)
		}
	}
	if ch.partiesSet {
		return errf(http.StatusBadRequest, codeValidation,
			"This email is completed or canceled, so its senders and recipients cannot change.")
	}
	return nil
}

// remove answers DELETE <set>(<id>).
func (c *call) remove(ent *entity, id string) error {
	if ent.readOnly {
		return c.privilegeDenied(ent, nil, "Delete")
	}
	ifMatch := c.r.Header.Get("If-Match")
	err := c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
		old, err := getRecord(c.ctx, tx, ent.set, id)
		if err != nil {
			return err
		}
		if old == nil {
			return recordNotFound(ent.logical, id)
		}
		if ifMatch != "" && !etagMatches(ifMatch, old) {
			return errf(http.StatusPreconditionFailed, codeConcurrency,
				"The version of the existing record doesn't match the RowVersion property provided.")
		}
		if err := c.mayWrite(ent, old, "Delete"); err != nil {
			return err
		}
		return deleteRecord(c.ctx, tx, ent.set, id)
	})
	if err != nil {
		return err
	}
	c.respond(http.StatusNoContent, nil)
	return nil
}

// partiesNav answers GET and PUT on emails(<id>)/email_activity_parties.
func (c *call) partiesNav(ent *entity, id string) error {
	switch c.r.Method {
	case http.MethodGet:
		rec, err := getRecord(c.ctx, c.s.st.db, ent.set, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return recordNotFound(ent.logical, id)
		}
		var sel []string
		if v, ok := c.options["$select"]; ok {
			if sel, err = parseSelect(v, "Microsoft.Dynamics.CRM.activityparty", isPartyColumn); err != nil {
				return err
			}
		}
		ps, err := listParties(c.ctx, c.s.st.db, id)
		if err != nil {
			return err
		}
		cache := names{}
		list := make([]object, 0, len(ps))
		for _, p := range ps {
			o, err := c.representParty(c.s.st.db, cache, p, sel)
			if err != nil {
				return err
			}
			list = append(list, o)
		}
		c.applyAnnotationsPref()
		c.respond(http.StatusOK, object{
			{"@odata.context", c.base + "$metadata#activityparties"},
			{"value", list},
		})
		return nil
	case http.MethodPut:
		body, err := c.readBody()
		if err != nil {
			return err
		}
		err = c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
			rec, err := getRecord(c.ctx, tx, ent.set, id)
			if err != nil {
				return err
			}
			if rec == nil {
				return recordNotFound(ent.logical, id)
			}
			if err := c.mayWrite(ent, rec, "Write"); err != nil {
				return err
			}
			ps, err := c.parseParties(tx, body["value"])
			if err != nil {
				return err
			}
			ch := &change{parties: ps, partiesSet: true}
			if err := checkClosedActivity(ent, rec, ch); err != nil {
				return err
			}
			rec.modifiedOn = c.s.now()
			if err := updateRecord(c.ctx, tx, rec); err != nil {
				return err
			}
			return replaceParties(c.ctx, tx, id, ps)
		})
		if err != nil {
			return err
		}
		c.respond(http.StatusNoContent, nil)
		return nil
	}
	return methodNotAllowed(c.r.Method, "'email_activity_parties'", "GET", "PUT")
}

// propertyValue answers GET <set>(<id>)/<column>.
func (c *call) propertyValue(ent *entity, id, prop string) error {
	rec, err := getRecord(c.ctx, c.s.st.db, ent.set, id)
	if err != nil {
		return err
	}
	if rec == nil {
		return recordNotFound(ent.logical, id)
	}
	v := view(ent, rec)[prop]
	if v == nil {
		c.respond(http.StatusNoContent, nil)
		return nil
	}
	c.respond(http.StatusOK, object{
		{"@odata.context", c.base + "$metadata#" + ent.set + "(" + id + ")/" + prop},
		{"value", v},
	})
	return nil
}

// reference answers PUT and DELETE on <set>(<id>)/<nav>/$ref, the other
// way to set and clear a lookup.
func (c *call) reference(ent *entity, id, nav string) error {
	l, _, ok := ent.nav(nav)
	if !ok {
		return notFoundSegment(nav)
	}
	var body map[string]any
	switch c.r.Method {
	case http.MethodPut:
		b, err := c.readBody()
		if err != nil {
			return err
		}
		body = b
	case http.MethodDelete:
	default:
		return methodNotAllowed(c.r.Method, "'"+nav+"/$ref'", "PUT", "DELETE")
	}
	err := c.s.st.tx(c.ctx, func(tx *sql.Tx) error {
		rec, err := getRecord(c.ctx, tx, ent.set, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return recordNotFound(ent.logical, id)
		}
		if err := c.mayWrite(ent, rec, "Write"); err != nil {
			return err
		}
		ch := &change{attrs: map[string]any{}, lookups: map[string]*ref{}}
		if body != nil {
			target, ok := body["@odata.id"]
			if !ok {
				return badPayload("The body of a $ref request must be {\"@odata.id\": \"<set>(<guid>)\"}.")
			}
			if err := c.bindNav(tx, ent, ch, nav, target); err != nil {
				return err
			}
		} else {
			if l.readOnly {
				return badPayload("The navigation property '%s' is read-only.", nav)
			}
			if cur := rec.lookups[l.attr]; cur != nil {
				if _, t, _ := ent.nav(nav); t != "" && cur.Table != t {
					return nil // the lookup points elsewhere; nothing to remove through this nav
				}
			}
			ch.lookups[l.attr] = nil
		}
		if err := c.apply(ent, rec, ch); err != nil {
			return err
		}
		rec.modifiedOn = c.s.now()
		rec.lookups["modifiedby"] = &ref{Table: "systemuser", ID: c.user.id}
		return updateRecord(c.ctx, tx, rec)
	})
	if err != nil {
		return err
	}
	c.respond(http.StatusNoContent, nil)
	return nil
}
