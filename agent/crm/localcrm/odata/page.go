package odata

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// Row is a record as queries see it: its column map and its creation
// order, which breaks ties so that paging is stable. Index is the caller's,
// to find its record again.
type Row struct {
	Seq   int64
	View  map[string]any
	Index int
}

// Paged is one page of a query's answer.
type Paged struct {
	Rows  []Row
	Total int // rows matched, for @odata.count
	// Next is the $skiptoken of the next page; "" on the last page.
	Next string
	// Applied is the Preference-Applied value for odata.maxpagesize; ""
	// when the client did not ask for a page size.
	Applied string
}

// compareRows orders by the $orderby keys, then by creation order. Nulls
// sort first, as in SQL Server.
func compareRows(keys []OrderKey, a, b map[string]any, seqA, seqB int64) int {
	for _, k := range keys {
		c := compareNullable(a[k.Prop], b[k.Prop])
		if k.Desc {
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
	c, ok := CompareValues(a, b)
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

// Page applies the filter, the order, $top and paging to all rows of a
// set. maxPageSize is the client's odata.maxpagesize (0 = none).
func (sp *Spec) Page(rows []Row, maxPageSize int) (Paged, error) {
	matched := rows[:0:0]
	for _, r := range rows {
		if sp.Filter == nil || EvalFilter(sp.Filter, r.View) {
			matched = append(matched, r)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		return compareRows(sp.OrderBy, matched[i].View, matched[j].View, matched[i].Seq, matched[j].Seq) < 0
	})
	res := Paged{Total: len(matched)}
	size := MaxPage
	if maxPageSize > 0 {
		size = min(maxPageSize, MaxPage)
		res.Applied = "odata.maxpagesize=" + strconv.Itoa(size)
	} else if sp.Top >= 0 && sp.Top < len(matched) {
		// $top limits the whole result and turns paging off; with
		// maxpagesize it is ignored, as Dataverse documents.
		matched = matched[:sp.Top]
	}
	fp := sp.query.fingerprint()
	start := 0
	if sp.SkipToken != "" {
		pc, ok := decodeCookie(sp.SkipToken)
		if !ok || pc.Query != fp || len(pc.Values) != len(sp.OrderBy) {
			return Paged{}, wire.BadRequest("The $skiptoken is not valid for this query; follow @odata.nextLink exactly as returned.")
		}
		cookie := map[string]any{}
		for i, k := range sp.OrderBy {
			cookie[k.Prop] = pc.Values[i]
		}
		start = len(matched)
		for i, r := range matched {
			if compareRows(sp.OrderBy, r.View, cookie, r.Seq, pc.Seq) > 0 {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(matched))
	res.Rows = matched[start:end]
	if end < len(matched) && len(res.Rows) > 0 {
		last := res.Rows[len(res.Rows)-1]
		pc := pageCookie{Seq: last.Seq, Query: fp, Values: []any{}}
		for _, k := range sp.OrderBy {
			pc.Values = append(pc.Values, last.View[k.Prop])
		}
		res.Next = encodeCookie(pc)
	}
	return res, nil
}
