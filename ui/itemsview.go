package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"crmsync/agent"
)

// column is one column of the items list.
type column int

// The items list's columns, left to right.
const (
	colReceived column = iota
	colFrom
	colSubject
	colState
	colRegarding
	colWhy
	numColumns
)

// columnTitles are the header's words, indexed by column.
var columnTitles = [numColumns]string{"Received", "From", "Subject", "State", "Regarding", "Why"}

// itemSort is how the list is ordered: by one column, either way.
type itemSort struct {
	col  column
	desc bool
}

// defaultSort puts the newest mail first, as a mail client does.
var defaultSort = itemSort{col: colReceived, desc: true}

// next is the order after the user clicks col's header: the same column
// reverses; another starts newest first for dates and A to Z for text.
func (s itemSort) next(col column) itemSort {
	if col == s.col {
		return itemSort{col: col, desc: !s.desc}
	}
	return itemSort{col: col, desc: col == colReceived}
}

// cellText is what a row shows in col.
func cellText(it agent.Item, col column, now time.Time) string {
	switch col {
	case colReceived:
		return shortTime(it.Received, now)
	case colFrom:
		return orDash(it.From)
	case colSubject:
		return orDash(it.Subject)
	case colState:
		return it.Track.String()
	case colRegarding:
		return regardingText(it.Regarding)
	case colWhy:
		return it.Reason
	}
	return ""
}

// regardingText names the record a message is regarding, or "".
func regardingText(r *agent.RecordRef) string {
	if r == nil {
		return ""
	}
	if r.Name == "" {
		return entityName(r.Entity)
	}
	return r.Name
}

// sortKey is the text a text column sorts by, case folded so "alice"
// and "Bob" sort as a person expects.
func sortKey(it agent.Item, col column) string {
	switch col {
	case colFrom:
		return strings.ToLower(it.From)
	case colSubject:
		return strings.ToLower(it.Subject)
	case colState:
		return it.Track.String()
	case colRegarding:
		return strings.ToLower(regardingText(it.Regarding))
	case colWhy:
		return strings.ToLower(it.Reason)
	}
	return ""
}

// sortItems orders items by s. Ties fall back to newest first, then the
// key, so the order never flickers between reloads.
func sortItems(items []agent.Item, s itemSort) {
	slices.SortStableFunc(items, func(a, b agent.Item) int {
		var c int
		if s.col == colReceived {
			c = a.Received.Compare(b.Received)
		} else {
			c = cmp.Compare(sortKey(a, s.col), sortKey(b, s.col))
		}
		if s.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		if c = b.Received.Compare(a.Received); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
}

// matches reports whether it has query (already lower case) in its
// sender, subject, regarding record, reason or state.
func matches(it agent.Item, query string) bool {
	if query == "" {
		return true
	}
	for _, col := range []column{colFrom, colSubject, colRegarding, colWhy, colState} {
		if strings.Contains(sortKey(it, col), query) {
			return true
		}
	}
	return false
}

// view is the rows the list shows: the items that match query, in order s.
func view(all []agent.Item, query string, s itemSort) []agent.Item {
	query = strings.ToLower(strings.TrimSpace(query))
	rows := make([]agent.Item, 0, len(all))
	for _, it := range all {
		if matches(it, query) {
			rows = append(rows, it)
		}
	}
	sortItems(rows, s)
	return rows
}

// shortTime is a received time as a row shows it: the time of day for
// today, the day and time this year, the date before that.
func shortTime(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t, now = t.Local(), now.Local()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("2 Jan 15:04")
	}
	return t.Format("2 Jan 2006")
}

// longTime is a received time in full, for the detail pane.
func longTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("Monday 2 January 2006, 15:04")
}
