package crm

import (
	"context"
	"net/http"
	"strings"

	"crmsync/agent"
)

// maxNamesPerTable bounds the IDs asked of one table in one GET, so the
// URL stays far below Dataverse's limit.
const maxNamesPerTable = 50

// RecordNames returns the display names of refs, keyed by lower-case ID,
// with one $batch holding a GET per table and 50 IDs. Names are for
// display only: the caller keeps them in memory. A record that is gone or
// that the user may not read is simply absent.
func (c *HTTPClient) RecordNames(ctx context.Context, refs []agent.RecordRef) (map[string]string, error) {
	const op = "read record names"
	byTable := map[string][]string{}
	for _, r := range refs {
		if IsGUID(r.ID) {
			byTable[r.Entity] = append(byTable[r.Entity], strings.ToLower(r.ID))
		}
	}
	var tables []searchable
	var items []batchItem
	for _, s := range searchables {
		ids := dedupe(byTable[s.entity])
		for start := 0; start < len(ids); start += maxNamesPerTable {
			var terms []string
			for _, id := range ids[start:min(start+maxNamesPerTable, len(ids))] {
				terms = append(terms, s.key+" eq "+id)
			}
			path := s.set + query("$select", s.key+","+s.name, "$filter", strings.Join(terms, " or "))
			tables = append(tables, s)
			items = append(items, batchItem{ops: []batchOp{{name: "names " + s.set, method: http.MethodGet, path: path}}})
		}
	}
	out := map[string]string{}
	if len(items) == 0 {
		return out, nil
	}
	answers, err := c.batch(ctx, op, items)
	if err != nil {
		return nil, err
	}
	for i, s := range tables {
		var rows []agent.RecordRef
		if err := searchRows(s, answers[i][0], &rows); err != nil {
			if KindOf(err) == KindNotFound || KindOf(err) == KindForbidden {
				continue // a table the environment lacks, or may not read
			}
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.Name
		}
	}
	return out, nil
}

// dedupe returns ids without repeats, in their first order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
