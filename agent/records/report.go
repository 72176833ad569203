package records

import (
	"fmt"
	"strings"
	"time"
)

// Count is how many items or records a pass created, updated and deleted
// on one side.
type Count struct{ Created, Updated, Deleted int }

// Total is the sum of the three.
func (c Count) Total() int { return c.Created + c.Updated + c.Deleted }

// KindReport is what a pass did with one kind.
type KindReport struct {
	ToItems   Count // in the user's address book or calendar
	ToCRM     Count // in the CRM
	Conflicts int   // fields changed on both sides; the CRM's value kept
	Kept      int   // records in the filters, in step after the pass
}

// Report is what one pass did.
type Report struct {
	Started, Finished time.Time
	Kinds             map[Kind]*KindReport
	// Notices are sentences for the user: conflicts, edits that could not
	// be sent, items put back.
	Notices []string
	Err     string // why the pass failed; "" when it did not
}

// maxNotices bounds the sentences one report keeps.
const maxNotices = 50

func newReport(now time.Time) Report {
	r := Report{Started: now, Kinds: map[Kind]*KindReport{}}
	for _, k := range AllKinds {
		r.Kinds[k] = &KindReport{}
	}
	return r
}

func (r *Report) notice(format string, args ...any) {
	if len(r.Notices) == maxNotices {
		r.Notices = append(r.Notices, "More changes need your attention; see the log.")
	}
	if len(r.Notices) > maxNotices {
		return
	}
	r.Notices = append(r.Notices, fmt.Sprintf(format, args...))
}

// Changed reports whether the pass wrote anything.
func (r Report) Changed() bool {
	for _, k := range r.Kinds {
		if k.ToItems.Total()+k.ToCRM.Total() > 0 {
			return true
		}
	}
	return false
}

// String says what the pass did, one line per kind, counts by direction.
func (r Report) String() string {
	var b strings.Builder
	for _, k := range AllKinds {
		kr := r.Kinds[k]
		if kr == nil {
			continue
		}
		where := "calendar"
		if k == Contacts {
			where = "address book"
		}
		fmt.Fprintf(&b, "%s: %d kept in step; to your %s %s; to the CRM %s", k, kr.Kept, where, kr.ToItems, kr.ToCRM)
		if kr.Conflicts > 0 {
			fmt.Fprintf(&b, "; %d conflicting edits (the CRM's kept)", kr.Conflicts)
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notices {
		b.WriteString("  " + n + "\n")
	}
	if r.Err != "" {
		b.WriteString("failed: " + r.Err + "\n")
	}
	return b.String()
}

// String writes a count as "1 created, 2 updated, 0 deleted".
func (c Count) String() string {
	return fmt.Sprintf("%d created, %d updated, %d deleted", c.Created, c.Updated, c.Deleted)
}
