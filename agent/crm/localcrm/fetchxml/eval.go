package fetchxml

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm/odata"
)

// Kind is the type of an attribute as conditions compare it.
type Kind int

// Attribute kinds.
const (
	KindString   Kind = iota // text; compared without regard to case
	KindInt                  // whole numbers, choices, state and status
	KindNumber               // decimals and money
	KindBool                 // two options: "0", "1", "true", "false"
	KindDateTime             // dates and times, compared in UTC
	KindGUID                 // keys and lookups, compared by GUID
)

// Schema is what Compile needs to know of the queried table.
type Schema interface {
	// LogicalName is the table's logical name, which <entity name> must be.
	LogicalName() string
	// PrimaryKey is the table's key attribute, always returned.
	PrimaryKey() string
	// AttributeKind gives the kind of an attribute as FetchXML names it:
	// a column, or a lookup by its logical name (ownerid).
	AttributeKind(name string) (Kind, bool)
}

// partyKinds are the activityparty columns a link-entity filter may use.
var partyKinds = map[string]Kind{
	"partyid": KindGUID, "participationtypemask": KindInt, "addressused": KindString,
	"activityid": KindGUID, "activitypartyid": KindGUID,
}

// Env is what relative operators read: the caller (eq-userid) and the
// clock (today, last-x-days).
type Env struct {
	UserID string
	Now    time.Time
}

// Row is one record as a query sees it: attribute values by FetchXML name
// (nil, string, float64 or bool; GUIDs in lower case; dates in the
// stored "2006-01-02T15:04:05Z" form) and, when the query links
// activityparty, the activity's parties.
type Row struct {
	Attrs   map[string]any
	Parties []Party
}

// Party is one activityparty row of an activity.
type Party struct {
	ActivityPartyID string
	PartyID         string // "" for an unresolved address
	Mask            int
	AddressUsed     string
}

// pred is a compiled condition or filter; party holds the linked party of
// each link alias for the combination being tested (nil: none, outer join).
type pred func(row map[string]any, party map[string]*Party) bool

// Query is a Fetch checked against a table, ready to run.
type Query struct {
	Fetch      *Fetch
	Attributes []string // the attributes to return (the key included); nil = all
	NeedsParty bool     // the query links activityparty, so rows need their parties
	where      pred
	links      []*compiledLink
	orders     []compiledOrder
}

type compiledLink struct {
	alias string
	outer bool
	where pred // the link's own filters; nil = every party
}

type compiledOrder struct {
	attr string
	kind Kind
	desc bool
}

// noAttribute is Dataverse's complaint about an unknown attribute.
func noAttribute(entity, attr string) error {
	return &Error{NoAttribute: true,
		Msg: "'" + entity + "' entity doesn't contain attribute with Name = '" + truncate(attr, 100) + "' and NameMapping = 'Logical'."}
}

// Compile checks f against the table: the entity name, every attribute,
// operator and value, and the link-entities.
func Compile(f *Fetch, s Schema, env Env) (*Query, error) {
	e := &f.Entity
	if e.Name != s.LogicalName() {
		return nil, errf("The FetchXML queries the entity '%s', but the request is for '%s'; the entity name must be the logical name of the entity set's table.",
			truncate(e.Name, 100), s.LogicalName())
	}
	q := &Query{Fetch: f}
	if !e.AllAttributes && len(e.Attributes) > 0 {
		seen := map[string]bool{}
		for _, a := range e.Attributes {
			if _, ok := s.AttributeKind(a); !ok {
				return nil, noAttribute(e.Name, a)
			}
			if !seen[a] {
				seen[a] = true
				q.Attributes = append(q.Attributes, a)
			}
		}
		if !seen[s.PrimaryKey()] {
			q.Attributes = append(q.Attributes, s.PrimaryKey()) // the key is always returned
		}
	}
	for _, o := range e.Orders {
		k, ok := s.AttributeKind(o.Attribute)
		if !ok {
			return nil, noAttribute(e.Name, o.Attribute)
		}
		q.orders = append(q.orders, compiledOrder{attr: o.Attribute, kind: k, desc: o.Descending})
	}
	aliases := map[string]bool{}
	if len(e.Links) > 4 {
		return nil, errf("A FetchXML query here may have at most 4 link-entity elements.")
	}
	for i, l := range e.Links {
		if l.Name != "activityparty" || l.From != "activityid" || l.To != "activityid" {
			return nil, errf("This server supports only <link-entity name=\"activityparty\" from=\"activityid\" to=\"activityid\">, the parties of an activity; '%s' (from '%s', to '%s') is not supported.",
				truncate(l.Name, 100), truncate(l.From, 100), truncate(l.To, 100))
		}
		if _, ok := s.AttributeKind("activityid"); !ok || s.PrimaryKey() != "activityid" {
			return nil, errf("The entity '%s' has no activity parties to link.", e.Name)
		}
		alias := l.Alias
		if alias == "" {
			alias = "activityparty" + strconv.Itoa(i+1)
		}
		if aliases[alias] {
			return nil, errf("The link-entity alias '%s' is used twice.", truncate(alias, 100))
		}
		aliases[alias] = true
		where, err := compileFilters(l.Filters, partyLookup, env)
		if err != nil {
			return nil, err
		}
		q.links = append(q.links, &compiledLink{alias: alias, outer: l.LinkType == "outer", where: where})
		q.NeedsParty = true
	}
	lookup := func(entityName, attr string) (Kind, string, error) {
		if entityName == "" {
			k, ok := s.AttributeKind(attr)
			if !ok {
				return 0, "", noAttribute(e.Name, attr)
			}
			return k, "", nil
		}
		if !aliases[entityName] {
			return 0, "", errf("The condition on '%s' names the entity '%s', which is not the alias of a link-entity in this query.",
				truncate(attr, 100), truncate(entityName, 100))
		}
		k, ok := partyKinds[attr]
		if !ok {
			return 0, "", noAttribute("activityparty", attr)
		}
		return k, entityName, nil
	}
	where, err := compileFilters(e.Filters, lookup, env)
	if err != nil {
		return nil, err
	}
	q.where = where
	return q, nil
}

// attrLookup resolves a condition's attribute to its kind and, for a
// linked party's attribute, the alias whose party holds it.
type attrLookup func(entityName, attr string) (Kind, string, error)

// partyLookup resolves attributes inside a link-entity: the party's own.
func partyLookup(entityName, attr string) (Kind, string, error) {
	if entityName != "" {
		return 0, "", errf("A condition inside <link-entity> cannot name another entity ('%s').", truncate(entityName, 100))
	}
	k, ok := partyKinds[attr]
	if !ok {
		return 0, "", noAttribute("activityparty", attr)
	}
	return k, "\x00self", nil
}

// compileFilters and-s several filter elements.
func compileFilters(fs []*Filter, lookup attrLookup, env Env) (pred, error) {
	var parts []pred
	for _, f := range fs {
		p, err := compileFilter(f, lookup, env)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return func(row map[string]any, party map[string]*Party) bool {
		for _, p := range parts {
			if !p(row, party) {
				return false
			}
		}
		return true
	}, nil
}

func compileFilter(f *Filter, lookup attrLookup, env Env) (pred, error) {
	var parts []pred
	for _, c := range f.Conditions {
		p, err := compileCondition(c, lookup, env)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	for _, sub := range f.Filters {
		p, err := compileFilter(sub, lookup, env)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	or := f.Type == "or"
	return func(row map[string]any, party map[string]*Party) bool {
		if len(parts) == 0 {
			return true // an empty filter restricts nothing
		}
		for _, p := range parts {
			if p(row, party) == or {
				return or
			}
		}
		return !or
	}, nil
}

// partyValue reads an activityparty column of a linked party.
func partyValue(p *Party, attr string) any {
	if p == nil {
		return nil
	}
	switch attr {
	case "partyid":
		if p.PartyID == "" {
			return nil
		}
		return p.PartyID
	case "participationtypemask":
		return float64(p.Mask)
	case "addressused":
		if p.AddressUsed == "" {
			return nil
		}
		return p.AddressUsed
	case "activitypartyid":
		return p.ActivityPartyID
	}
	return nil
}

// compileCondition types the condition's values by the attribute's kind
// and returns its test. Comparisons with null are false, as in SQL: ne
// and not-in do not match rows where the attribute is null.
func compileCondition(c *Condition, lookup attrLookup, env Env) (pred, error) {
	kind, alias, err := lookup(c.EntityName, c.Attribute)
	if err != nil {
		return nil, err
	}
	get := func(row map[string]any, party map[string]*Party) any {
		switch alias {
		case "":
			return row[c.Attribute]
		case "\x00self":
			return partyValue(party["\x00self"], c.Attribute)
		}
		return partyValue(party[alias], c.Attribute)
	}
	op := c.Operator
	name := truncate(c.Attribute, 100)
	noValue := func() error {
		if c.HasValue || len(c.Values) > 0 {
			return errf("The operator '%s' takes no value, but the condition on '%s' has one.", op, name)
		}
		return nil
	}
	oneValue := func() (string, error) {
		if len(c.Values) > 1 || (len(c.Values) == 1 && c.HasValue) {
			return "", errf("The operator '%s' takes one value, but the condition on '%s' has %d.", op, name, len(c.Values)+boolInt(c.HasValue))
		}
		if len(c.Values) == 1 {
			return c.Values[0], nil
		}
		if !c.HasValue {
			return "", errf("The operator '%s' needs a value, but the condition on '%s' has none.", op, name)
		}
		return c.Value, nil
	}
	needKind := func(ok bool, what string) error {
		if !ok {
			return errf("The operator '%s' applies to %s, and '%s' is not one.", op, what, name)
		}
		return nil
	}
	switch op {
	case "null", "not-null":
		if err := noValue(); err != nil {
			return nil, err
		}
		want := op == "null"
		return func(r map[string]any, p map[string]*Party) bool { return (get(r, p) == nil) == want }, nil
	case "eq", "ne", "gt", "ge", "lt", "le":
		raw, err := oneValue()
		if err != nil {
			return nil, err
		}
		if op != "eq" && op != "ne" {
			if err := needKind(kind != KindBool && kind != KindGUID, "numbers, dates and text"); err != nil {
				return nil, err
			}
		}
		v, err := typed(kind, raw, name)
		if err != nil {
			return nil, err
		}
		return func(r map[string]any, p map[string]*Party) bool {
			x := get(r, p)
			if x == nil {
				return false
			}
			c, ok := compare(kind, x, v)
			if !ok {
				return false
			}
			switch op {
			case "eq":
				return c == 0
			case "ne":
				return c != 0
			case "gt":
				return c > 0
			case "ge":
				return c >= 0
			case "lt":
				return c < 0
			}
			return c <= 0
		}, nil
	case "in", "not-in":
		vals := c.Values
		if c.HasValue {
			if len(vals) > 0 {
				return nil, errf("The condition on '%s' has both a value attribute and <value> elements; use <value> elements for '%s'.", name, op)
			}
			vals = []string{c.Value}
		}
		if len(vals) == 0 {
			return nil, errf("The operator '%s' needs <value> elements, but the condition on '%s' has none.", op, name)
		}
		typedVals := make([]any, 0, len(vals))
		for _, raw := range vals {
			v, err := typed(kind, raw, name)
			if err != nil {
				return nil, err
			}
			typedVals = append(typedVals, v)
		}
		want := op == "in"
		return func(r map[string]any, p map[string]*Party) bool {
			x := get(r, p)
			if x == nil {
				return false
			}
			for _, v := range typedVals {
				if c, ok := compare(kind, x, v); ok && c == 0 {
					return want
				}
			}
			return !want
		}, nil
	case "like", "not-like":
		if err := needKind(kind == KindString, "text"); err != nil {
			return nil, err
		}
		raw, err := oneValue()
		if err != nil {
			return nil, err
		}
		m, err := odata.LikeMatcher(raw)
		if err != nil {
			return nil, errf("The like pattern '%s' of the condition on '%s' is not valid: %v.", truncate(raw, 100), name, err)
		}
		want := op == "like"
		return func(r map[string]any, p map[string]*Party) bool {
			s, ok := get(r, p).(string)
			return ok && m(s) == want
		}, nil
	case "eq-userid", "ne-userid":
		if err := noValue(); err != nil {
			return nil, err
		}
		if err := needKind(kind == KindGUID, "lookups to users (such as ownerid)"); err != nil {
			return nil, err
		}
		want := op == "eq-userid"
		user := strings.ToLower(env.UserID)
		return func(r map[string]any, p map[string]*Party) bool {
			s, ok := get(r, p).(string)
			return ok && (s == user) == want
		}, nil
	case "on", "on-or-after", "on-or-before", "today", "yesterday", "tomorrow",
		"last-x-days", "next-x-days", "olderthan-x-days":
		if err := needKind(kind == KindDateTime, "dates"); err != nil {
			return nil, err
		}
		return compileDate(c, op, name, get, env, noValue, oneValue)
	}
	return nil, errf("The condition operator '%s' on '%s' is not supported by this server; the supported operators are eq, ne, gt, ge, lt, le, null, not-null, like, not-like, in, not-in, eq-userid, ne-userid, on, on-or-after, on-or-before, today, yesterday, tomorrow, last-x-days, next-x-days and olderthan-x-days.",
		truncate(op, 40), name)
}

// compileDate handles the date operators. They compare whole days in UTC:
// a row's date is the UTC calendar day of its value; "today" is the UTC day
// of Env.Now. last-x-days X matches the days from today-X to today,
// next-x-days X those from today to today+X (both inclusive), and
// olderthan-x-days X the days before today-X.
func compileDate(c *Condition, op, name string, get func(map[string]any, map[string]*Party) any, env Env,
	noValue func() error, oneValue func() (string, error)) (pred, error) {
	today := day(env.Now)
	var lo, hi int // inclusive day range, as days since the epoch
	const far = 1 << 30
	switch op {
	case "today", "yesterday", "tomorrow":
		if err := noValue(); err != nil {
			return nil, err
		}
		d := today + map[string]int{"today": 0, "yesterday": -1, "tomorrow": 1}[op]
		lo, hi = d, d
	case "on", "on-or-after", "on-or-before":
		raw, err := oneValue()
		if err != nil {
			return nil, err
		}
		t, ok := parseDate(raw)
		if !ok {
			return nil, errf("The value '%s' of the condition on '%s' is not a date; write it as 2024-05-01.", truncate(raw, 100), name)
		}
		d := day(t)
		lo, hi = d, d
		if op == "on-or-after" {
			hi = far
		}
		if op == "on-or-before" {
			lo = -far
		}
	default:
		raw, err := oneValue()
		if err != nil {
			return nil, err
		}
		x, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || x < 0 || x > 100000 {
			return nil, errf("The value '%s' of the condition on '%s' must be a whole number of days from 0 to 100000.", truncate(raw, 100), name)
		}
		switch op {
		case "last-x-days":
			lo, hi = today-x, today
		case "next-x-days":
			lo, hi = today, today+x
		default: // olderthan-x-days
			lo, hi = -far, today-x-1
		}
	}
	return func(r map[string]any, p map[string]*Party) bool {
		s, ok := get(r, p).(string)
		if !ok {
			return false
		}
		t, ok := parseDate(s)
		if !ok {
			return false
		}
		d := day(t)
		return d >= lo && d <= hi
	}, nil
}

// day numbers a UTC calendar day.
func day(t time.Time) int {
	u := t.UTC()
	return int(time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// parseDate reads a date or date and time; without a zone it is UTC.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// typed converts a condition value to the attribute's kind.
func typed(kind Kind, raw, name string) (any, error) {
	raw = strings.TrimSpace(raw)
	switch kind {
	case KindInt, KindNumber:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || (kind == KindInt && f != float64(int64(f))) {
			return nil, errf("The value '%s' of the condition on '%s' is not a valid number.", truncate(raw, 100), name)
		}
		return f, nil
	case KindBool:
		switch strings.ToLower(raw) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, errf("The value '%s' of the condition on '%s' must be 0, 1, true or false.", truncate(raw, 100), name)
	case KindGUID:
		g := strings.TrimSuffix(strings.TrimPrefix(raw, "{"), "}")
		if !isGUID(g) {
			return nil, errf("The value '%s' of the condition on '%s' is not a GUID.", truncate(raw, 100), name)
		}
		return strings.ToLower(g), nil
	case KindDateTime:
		t, ok := parseDate(raw)
		if !ok {
			return nil, errf("The value '%s' of the condition on '%s' is not a date and time; write it as 2024-05-01T09:30:00Z.", truncate(raw, 100), name)
		}
		return t, nil
	}
	return raw, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// compare orders a row's value x against a typed value v (or another row
// value when v came from a row too); ok is false when they cannot be
// compared.
func compare(kind Kind, x, v any) (int, bool) {
	switch kind {
	case KindDateTime:
		xt, ok := asTime(x)
		vt, ok2 := asTime(v)
		if !ok || !ok2 {
			return 0, false
		}
		return xt.Compare(vt), true
	case KindString, KindGUID:
		xs, ok := x.(string)
		vs, ok2 := v.(string)
		if !ok || !ok2 {
			return 0, false
		}
		return strings.Compare(strings.ToLower(xs), strings.ToLower(vs)), true
	case KindBool:
		xb, ok := x.(bool)
		vb, ok2 := v.(bool)
		if !ok || !ok2 {
			return 0, false
		}
		return cmp.Compare(boolInt(xb), boolInt(vb)), true
	}
	xf, ok := x.(float64)
	vf, ok2 := v.(float64)
	if !ok || !ok2 {
		return 0, false
	}
	return cmp.Compare(xf, vf), true
}

func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case string:
		return parseDate(t)
	}
	return time.Time{}, false
}

// Match reports whether a row satisfies the query: for some combination
// of its linked parties (one per link-entity; none for an outer link
// without a matching party), the entity's filters hold.
func (q *Query) Match(row Row) bool {
	if len(q.links) == 0 {
		return q.where == nil || q.where(row.Attrs, nil)
	}
	chosen := map[string]*Party{}
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(q.links) {
			return q.where == nil || q.where(row.Attrs, chosen)
		}
		l := q.links[i]
		found := false
		for j := range row.Parties {
			p := &row.Parties[j]
			if l.where != nil && !l.where(nil, map[string]*Party{"\x00self": p}) {
				continue
			}
			found = true
			chosen[l.alias] = p
			if try(i + 1) {
				return true
			}
		}
		delete(chosen, l.alias)
		if !found && l.outer {
			return try(i + 1)
		}
		return false
	}
	return try(0)
}

// Result is one page of a query's answer.
type Result struct {
	Indexes []int // the rows of the page, as indexes into the rows given to Run
	Page    int   // the page number answered
	More    bool  // more rows match after this page
	Total   int   // rows matched in all
}

// Run filters, orders and pages rows (given in creation order, which
// breaks ties, so pages are stable). Each row is answered once, whatever
// the number of matching party combinations: the rows are records.
func (q *Query) Run(rows []Row) Result {
	var matched []int
	for i, r := range rows {
		if q.Match(r) {
			matched = append(matched, i)
		}
	}
	slices.SortStableFunc(matched, func(a, b int) int {
		for _, o := range q.orders {
			c := compareNullable(o.kind, rows[a].Attrs[o.attr], rows[b].Attrs[o.attr])
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	count := q.Fetch.Count
	if count == 0 {
		count = MaxCount
	}
	page := max(q.Fetch.Page, 1)
	res := Result{Page: page, Total: len(matched)}
	start := min((page-1)*count, len(matched))
	end := min(start+count, len(matched))
	res.Indexes = matched[start:end]
	res.More = end < len(matched)
	return res
}

// compareNullable sorts nulls first, as SQL Server does ascending.
func compareNullable(kind Kind, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, _ := compare(kind, a, b)
	return c
}

// PagingCookie writes the @Microsoft.Dynamics.CRM.fetchxmlpagingcookie
// value for the page after res, in the shape Dataverse answers ([PAD]
// fetchxml/page-results.md): a <cookie pagenumber=... pagingcookie=...
// istracking="False" /> element whose pagingcookie is the inner cookie
// URL-encoded twice. firstKey and lastKey are the keys of the page's first
// and last rows. This server pages by the page attribute alone; the
// cookie is accepted back and ignored.
func PagingCookie(key, firstKey, lastKey string, res Result) string {
	inner := `<cookie page="` + strconv.Itoa(res.Page) + `"><` + key + ` last="{` + strings.ToUpper(lastKey) +
		`}" first="{` + strings.ToUpper(firstKey) + `}" /></cookie>`
	enc := url.QueryEscape(url.QueryEscape(inner))
	return `<cookie pagenumber="` + strconv.Itoa(res.Page+1) + `" pagingcookie="` + enc + `" istracking="False" />`
}
