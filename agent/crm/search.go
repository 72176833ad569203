package crm

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"crmsync/agent"
)

// searchable describes one table "set regarding" can search by name.
type searchable struct {
	entity, set, key, name string
	also                   []string // further columns matched with contains
}

// searchables lists the tables in the order results are shown.
var searchables = []searchable{
	{"contact", "contacts", "contactid", "fullname", []string{"emailaddress1"}},
	{"account", "accounts", "accountid", "name", nil},
	{"opportunity", "opportunities", "opportunityid", "name", nil},
	{"incident", "incidents", "incidentid", "title", []string{"ticketnumber"}},
}

// maxSearchQuery bounds the search text; Dataverse allows long URLs but no
// name needs more.
const maxSearchQuery = 200

// Search finds contacts, accounts, opportunities and cases whose name
// contains q, at most limit of each, with one $batch of GETs, one per
// table. A table the environment does not have (plain Dataverse has no
// opportunities or incidents) is skipped, and remembered as missing for
// the client's lifetime. Results are live: never cached.
func (c *HTTPClient) Search(ctx context.Context, q string, limit int) ([]agent.RecordRef, error) {
	const op = "search"
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	if len(q) > maxSearchQuery {
		q = clip(q, maxSearchQuery)
	}
	if limit <= 0 || limit > 50 {
		limit = 10
	}
	lit := quote(likeLiteral(q))
	// A server that refuses the whole batch for a missing table (rather
	// than the one part) names it; each such answer removes one table.
	for range len(searchables) + 1 {
		var tables []searchable
		var items []batchItem
		for _, s := range searchables {
			if c.isMissing(s.set) {
				continue
			}
			terms := []string{"contains(" + s.name + "," + lit + ")"}
			for _, col := range s.also {
				terms = append(terms, "contains("+col+","+lit+")")
			}
			path := s.set + query("$select", s.key+","+s.name, "$filter", strings.Join(terms, " or "),
				"$orderby", s.name+" asc", "$top", strconv.Itoa(limit))
			tables = append(tables, s)
			items = append(items, batchItem{ops: []batchOp{{name: "search " + s.set, method: http.MethodGet, path: path}}})
		}
		if len(items) == 0 {
			return nil, nil
		}
		answers, err := c.batch(ctx, op, items)
		if seg, ok := missingSegment(err); ok && c.markMissing(seg) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var out []agent.RecordRef
		for i, s := range tables {
			a := answers[i][0]
			if seg, ok := missingSegment(a.err); ok && (seg == "" || seg == s.set) {
				c.markMissing(s.set)
				continue
			}
			if err := searchRows(s, a, &out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, &Error{Op: op, Kind: KindBadResponse, Message: "the CRM keeps refusing the search batch"}
}

// searchRows adds the records of one table's answer to out. $top bounds
// the rows, so a next page is never followed.
func searchRows(s searchable, a batchAnswer, out *[]agent.RecordRef) error {
	op := "search " + s.set
	if a.err != nil {
		return a.err
	}
	var col collection
	if err := decode(op, a.response(), &col); err != nil {
		return err
	}
	for _, row := range col.Value {
		var m map[string]any
		if err := json.Unmarshal(row, &m); err != nil {
			return &Error{Op: op, Kind: KindBadResponse, Message: "a row is malformed", Err: err}
		}
		id, _ := m[s.key].(string)
		if !IsGUID(id) {
			return &Error{Op: op, Kind: KindBadResponse, Message: "a row has no valid " + s.key}
		}
		name, _ := m[s.name].(string)
		*out = append(*out, agent.RecordRef{Entity: s.entity, ID: strings.ToLower(id), Name: name})
	}
	return nil
}

// isMissing reports whether the environment was found to lack set.
func (c *HTTPClient) isMissing(set string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.missing[set]
}

// markMissing remembers that the environment lacks set, if it is one the
// client searches; it reports whether that is news.
func (c *HTTPClient) markMissing(set string) bool {
	known := false
	for _, s := range searchables {
		known = known || s.set == set
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !known || c.missing[set] {
		return false
	}
	if c.missing == nil {
		c.missing = map[string]bool{}
	}
	c.missing[set] = true
	c.log.Debug("crm: table missing in this environment; not searched again", "set", set)
	return true
}

// likeLiteral makes s match literally inside contains, startswith and
// endswith, which treat %, _ and [ as wildcards: each is enclosed in
// brackets ([PAD] wildcard-characters.md). OData quoting comes on top.
func likeLiteral(s string) string {
	if !strings.ContainsAny(s, "%_[") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '%', '_', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
