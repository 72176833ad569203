package crm

import (
	"context"
	"encoding/json"
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
// contains q, at most limit of each. Results are live: never cached.
func (c *HTTPClient) Search(ctx context.Context, q string, limit int) ([]agent.RecordRef, error) {
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
	var out []agent.RecordRef
	for _, s := range searchables {
		op := "search " + s.set
		terms := []string{"contains(" + s.name + "," + quote(q) + ")"}
		for _, col := range s.also {
			terms = append(terms, "contains("+col+","+quote(q)+")")
		}
		path := s.set + query("$select", s.key+","+s.name, "$filter", strings.Join(terms, " or "),
			"$orderby", s.name+" asc", "$top", strconv.Itoa(limit))
		err := c.queryAll(ctx, op, path, 0, func(row json.RawMessage) error {
			var m map[string]any
			if err := json.Unmarshal(row, &m); err != nil {
				return &Error{Op: op, Kind: KindBadResponse, Message: "a row is malformed", Err: err}
			}
			id, _ := m[s.key].(string)
			if !IsGUID(id) {
				return &Error{Op: op, Kind: KindBadResponse, Message: "a row has no valid " + s.key}
			}
			name, _ := m[s.name].(string)
			out = append(out, agent.RecordRef{Entity: s.entity, ID: strings.ToLower(id), Name: name})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
