package localcrm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxPage is the most rows one answer holds, as in Dataverse.
const maxPage = 5000

// querySpec is a parsed set of query options for one entity set.
type querySpec struct {
	sel       []string // properties to return; nil = all
	filter    node     // nil = every row
	orderBy   []orderKey
	top       int  // -1 = no limit
	count     bool // add @odata.count
	parties   *partyExpand
	skipToken string
}

type orderKey struct {
	prop string
	desc bool
}

// partyExpand is $expand=email_activity_parties(...).
type partyExpand struct {
	sel []string // nil = all party columns
}

// parseSpec parses the query options; collection says whether the target
// is a set (all options) or a single record ($select and $expand only).
func (c *call) parseSpec(ent *entity, collection bool) (*querySpec, error) {
	q := &querySpec{top: -1}
	for k := range c.options {
		switch k {
		case "$select", "$expand":
		default:
			if !collection {
				return nil, badRequest("The query option %s is only allowed on a collection, not on a single record.", k)
			}
		}
	}
	if v, ok := c.options["$select"]; ok {
		sel, err := parseSelect(v, ent.typeName(), ent.property)
		if err != nil {
			return nil, err
		}
		q.sel = sel
	}
	if v, ok := c.options["$expand"]; ok {
		pe, err := parseExpand(v, ent)
		if err != nil {
			return nil, err
		}
		q.parties = pe
	}
	if v, ok := c.options["$filter"]; ok {
		n, err := parseFilter(v, c.aliases)
		if err != nil {
			return nil, badRequest("Invalid $filter: %v", err)
		}
		if err := checkFilter(n, ent.edmType, ent.typeName()); err != nil {
			return nil, badRequest("%v", err)
		}
		q.filter = n
	}
	if v, ok := c.options["$orderby"]; ok {
		keys, err := parseOrderBy(v, ent, c.aliases)
		if err != nil {
			return nil, err
		}
		q.orderBy = keys
	}
	if v, ok := c.options["$top"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > maxPage {
			return nil, badRequest("The value '%s' of $top is not valid; use a whole number from 0 to %d.", v, maxPage)
		}
		q.top = n
	}
	if v, ok := c.options["$count"]; ok {
		switch v {
		case "true":
			q.count = true
		case "false":
		default:
			return nil, badRequest("The value '%s' of $count is not valid; use true or false.", v)
		}
	}
	q.skipToken = c.options["$skiptoken"]
	return q, nil
}

// splitTop splits s on sep outside parentheses and quotes.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func parseSelect(v, typeName string, known func(string) bool) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "*" {
			return nil, nil
		}
		if p == "" {
			return nil, badRequest("The $select value '%s' has an empty property name.", v)
		}
		if !known(p) {
			return nil, badRequest("Could not find a property named '%s' on type '%s'.", p, typeName)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func parseExpand(v string, ent *entity) (*partyExpand, error) {
	var pe *partyExpand
	for _, item := range splitTop(v, ',') {
		item = strings.TrimSpace(item)
		name, opts, hasOpts := strings.Cut(item, "(")
		name = strings.TrimSpace(name)
		if ent.set != "emails" || name != "email_activity_parties" {
			if _, _, ok := ent.nav(name); ok {
				return nil, badRequest("Expanding '%s' is not supported by this server; read %s and its FormattedValue annotation instead.",
					name, "_"+strings.SplitN(name, "_", 2)[0]+"_value")
			}
			return nil, badRequest("Could not find a property named '%s' on type '%s'.", name, ent.typeName())
		}
		pe = &partyExpand{}
		if !hasOpts {
			continue
		}
		if !strings.HasSuffix(opts, ")") {
			return nil, badRequest("The $expand value '%s' has unbalanced parentheses.", item)
		}
		for _, o := range strings.Split(strings.TrimSuffix(opts, ")"), ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(o), "=")
			switch k {
			case "":
			case "$select":
				sel, err := parseSelect(val, "Microsoft.Dynamics.CRM.activityparty", isPartyColumn)
				if err != nil {
					return nil, err
				}
				pe.sel = sel
			default:
				return nil, badRequest("The option '%s' inside $expand is not supported by this server; only $select is.", k)
			}
		}
	}
	return pe, nil
}

func parseOrderBy(v string, ent *entity, aliases map[string]string) ([]orderKey, error) {
	var keys []orderKey
	for _, part := range strings.Split(v, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, badRequest("The $orderby value '%s' is not valid; write 'column [asc|desc]', separated by commas.", v)
		}
		prop := fields[0]
		if strings.HasPrefix(prop, "@") {
			a, ok := aliases[prop]
			if !ok {
				return nil, badRequest("The parameter alias '%s' is used in $orderby but has no value in the query string.", prop)
			}
			prop = strings.TrimSpace(a)
		}
		if !ent.property(prop) {
			return nil, badRequest("Could not find a property named '%s' on type '%s'.", prop, ent.typeName())
		}
		k := orderKey{prop: prop}
		if len(fields) == 2 {
			switch fields[1] {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, badRequest("The $orderby direction '%s' is not valid; use asc or desc.", fields[1])
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// row is a record together with its column map, the form filters and
// sorting work on.
type row struct {
	rec  *record
	view map[string]any
}

// compareRows orders by the $orderby keys, then by creation order, so
// paging is stable. Nulls sort first, as in SQL Server.
func compareRows(keys []orderKey, a, b map[string]any, seqA, seqB int64) int {
	for _, k := range keys {
		c := compareNullable(a[k.prop], b[k.prop])
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case seqA < seqB:
		return -1
	case seqA > seqB:
		return 1
	}
	return 0
}

func compareNullable(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	c, ok := compareValues(a, b)
	if !ok {
		return 0
	}
	return c
}

// pageCookie is what an opaque $skiptoken carries: the sort position of
// the last row sent, and a fingerprint of the query it belongs to. Keyset
// paging keeps pages correct when rows are added or removed in between.
type pageCookie struct {
	Values []any  `json:"v"`
	Seq    int64  `json:"s"`
	Query  string `json:"q"`
}

func (c *call) queryFingerprint() string {
	h := sha256.Sum256([]byte(c.options["$filter"] + "\x00" + c.options["$orderby"] + "\x00" + aliasText(c.aliases)))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

func aliasText(a map[string]string) string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + a[k] + "\x00")
	}
	return b.String()
}

func encodeCookie(pc pageCookie) string {
	b, _ := json.Marshal(pc)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCookie(tok string) (pageCookie, bool) {
	var pc pageCookie
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || json.Unmarshal(b, &pc) != nil {
		return pc, false
	}
	return pc, true
}

// page applies filter, order, $top and paging to all rows of the set. It
// returns the rows of this page, the total matched (for $count) and the
// next link ("" on the last page).
func (c *call) page(ent *entity, q *querySpec, rows []row) ([]row, int, string, error) {
	matched := rows[:0:0]
	for _, r := range rows {
		if q.filter == nil || evalFilter(q.filter, r.view) {
			matched = append(matched, r)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		return compareRows(q.orderBy, matched[i].view, matched[j].view, matched[i].rec.seq, matched[j].rec.seq) < 0
	})
	total := len(matched)
	size := maxPage
	paged := c.prefer.maxPageSize > 0
	if paged {
		size = min(c.prefer.maxPageSize, maxPage)
		c.applied = append(c.applied, "odata.maxpagesize="+strconv.Itoa(size))
	} else if q.top >= 0 {
		// $top limits the whole result and turns paging off; with
		// maxpagesize it is ignored, as Dataverse documents.
		if q.top < len(matched) {
			matched = matched[:q.top]
		}
	}
	start := 0
	if q.skipToken != "" {
		pc, ok := decodeCookie(q.skipToken)
		if !ok || pc.Query != c.queryFingerprint() || len(pc.Values) != len(q.orderBy) {
			return nil, 0, "", badRequest("The $skiptoken is not valid for this query; follow @odata.nextLink exactly as returned.")
		}
		cookie := map[string]any{}
		for i, k := range q.orderBy {
			cookie[k.prop] = pc.Values[i]
		}
		start = len(matched)
		for i, r := range matched {
			if compareRows(q.orderBy, r.view, cookie, r.rec.seq, pc.Seq) > 0 {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(matched))
	out := matched[start:end]
	next := ""
	if end < len(matched) && len(out) > 0 {
		last := out[len(out)-1]
		pc := pageCookie{Seq: last.rec.seq, Query: c.queryFingerprint(), Values: []any{}}
		for _, k := range q.orderBy {
			pc.Values = append(pc.Values, last.view[k.prop])
		}
		next = c.nextLink(ent, encodeCookie(pc))
	}
	return out, total, next, nil
}

// nextLink repeats the request URL with a new $skiptoken.
func (c *call) nextLink(ent *entity, token string) string {
	var parts []string
	for _, p := range strings.Split(c.r.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(p, "=")
		if p == "" || k == "$skiptoken" || k == "%24skiptoken" {
			continue
		}
		parts = append(parts, p)
	}
	parts = append(parts, "$skiptoken="+url.QueryEscape(token))
	return c.base + ent.set + "?" + strings.Join(parts, "&")
}

// contextURL is the @odata.context of a set or record answer.
func (c *call) contextURL(ent *entity, q *querySpec, single bool) string {
	s := c.base + "$metadata#" + ent.set
	var cols []string
	if q != nil {
		cols = append(cols, q.sel...)
		if q.parties != nil {
			cols = append(cols, "email_activity_parties("+strings.Join(q.parties.sel, ",")+")")
		}
	}
	if len(cols) > 0 {
		s += "(" + strings.Join(cols, ",") + ")"
	}
	if single {
		s += "/$entity"
	}
	return s
}
