package item

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// maxObservances bounds the STANDARD/DAYLIGHT blocks read per zone: real
// zones have a handful, and each costs a little work per time resolved.
const maxObservances = 64

// vtimezoneOffset finds the UTC offset the calendar's VTIMEZONE tzid gives
// the wall clock time: the observance whose latest onset at or before the
// time is the latest wins. Fixed-offset zones and the yearly
// "nth weekday of a month" rules every real zone uses are understood.
func (z zones) vtimezoneOffset(tzid string, wall time.Time) (int, error) {
	unknown := fmt.Errorf("the time zone %q is unknown: the Go time zone database does not have it and the calendar has no usable VTIMEZONE for it; re-save the item in your calendar app or pick a standard zone", tzid)
	var vtz *ical.Component
	if z.cal != nil {
		for _, c := range z.cal.Children {
			if c.Name == ical.CompTimezone {
				if p := c.Props.Get(ical.PropTimezoneID); p != nil && strings.Trim(p.Value, `"`) == strings.Trim(tzid, `"`) {
					vtz = c
					break
				}
			}
		}
	}
	if vtz == nil {
		return 0, unknown
	}
	var (
		found     bool
		bestOn    time.Time
		bestOff   int
		earliest  time.Time
		beforeOff int
		seen      bool
	)
	n := 0
	for _, obs := range vtz.Children {
		if obs.Name != ical.CompTimezoneStandard && obs.Name != ical.CompTimezoneDaylight {
			continue
		}
		if n++; n > maxObservances {
			break
		}
		to, err := offsetProp(obs, ical.PropTimezoneOffsetTo)
		if err != nil {
			return 0, fmt.Errorf("time zone %q: %w", tzid, err)
		}
		from, err := offsetProp(obs, ical.PropTimezoneOffsetFrom)
		if err != nil {
			from = to
		}
		start := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
		if p := obs.Props.Get(ical.PropDateTimeStart); p != nil {
			v := strings.TrimSuffix(strings.TrimSpace(p.Value), "Z")
			if start, err = time.Parse(layoutDateTime, v); err != nil {
				return 0, fmt.Errorf("time zone %q: DTSTART %q is not a date-time", tzid, p.Value)
			}
		}
		if !seen || start.Before(earliest) {
			earliest, beforeOff, seen = start, from, true
		}
		on, ok, err := latestOnset(obs, start, wall)
		if err != nil {
			return 0, fmt.Errorf("time zone %q: %w", tzid, err)
		}
		if ok && (!found || on.After(bestOn)) {
			found, bestOn, bestOff = true, on, to
		}
	}
	if found {
		return bestOff, nil
	}
	if seen {
		return beforeOff, nil // before the zone's first onset
	}
	return 0, unknown
}

func offsetProp(c *ical.Component, name string) (int, error) {
	p := c.Props.Get(name)
	if p == nil {
		return 0, fmt.Errorf("an observance has no %s", name)
	}
	return parseOffset(p.Value)
}

// latestOnset is the last onset of the observance at or before wall: its
// DTSTART, its RRULE occurrences and its RDATEs.
func latestOnset(obs *ical.Component, start, wall time.Time) (time.Time, bool, error) {
	var best time.Time
	ok := false
	consider := func(t time.Time) {
		if !t.After(wall) && !t.Before(start) && (!ok || t.After(best)) {
			best, ok = t, true
		}
	}
	consider(start)
	for _, p := range obs.Props.Values(ical.PropRecurrenceDates) {
		for _, v := range strings.Split(p.Value, ",") {
			if t, err := time.Parse(layoutDateTime, strings.TrimSuffix(strings.TrimSpace(v), "Z")); err == nil {
				consider(t)
			}
		}
	}
	if p := obs.Props.Get(ical.PropRecurrenceRule); p != nil {
		r, err := parseYearlyRule(p.Value)
		if err != nil {
			return time.Time{}, false, err
		}
		// The onset this year or, if that is still ahead, last year.
		for _, y := range []int{wall.Year(), wall.Year() - 1} {
			if t, has := r.onset(y, start); has && (r.until.IsZero() || !t.After(r.until)) {
				consider(t)
			}
		}
	}
	return best, ok, nil
}

// yearlyRule is the RRULE shape time zones use:
// FREQ=YEARLY;BYMONTH=m;BYDAY=nXX (n may be negative), optionally with
// BYMONTHDAY (the older "second Sunday" form BYDAY=SU;BYMONTHDAY=8,...,14).
type yearlyRule struct {
	month     time.Month
	weekday   time.Weekday
	nth       int // 0: any, with monthDays
	monthDays []int
	until     time.Time
}

var weekdays = map[string]time.Weekday{"SU": time.Sunday, "MO": time.Monday, "TU": time.Tuesday,
	"WE": time.Wednesday, "TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday}

func parseYearlyRule(s string) (yearlyRule, error) {
	bad := fmt.Errorf("the time zone rule %q is not a yearly month-and-weekday rule, which is all this app understands", s)
	var r yearlyRule
	var haveDay bool
	for _, part := range strings.Split(strings.ToUpper(strings.TrimSpace(s)), ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "FREQ":
			if v != "YEARLY" {
				return r, bad
			}
		case "INTERVAL":
			if v != "1" {
				return r, bad
			}
		case "BYMONTH":
			m, err := strconv.Atoi(v)
			if err != nil || m < 1 || m > 12 {
				return r, bad
			}
			r.month = time.Month(m)
		case "BYDAY":
			if len(v) < 2 {
				return r, bad
			}
			wd, ok := weekdays[v[len(v)-2:]]
			if !ok {
				return r, bad
			}
			r.weekday, haveDay = wd, true
			if n := v[:len(v)-2]; n != "" {
				nth, err := strconv.Atoi(n)
				if err != nil || nth == 0 || nth < -5 || nth > 5 {
					return r, bad
				}
				r.nth = nth
			}
		case "BYMONTHDAY":
			for _, d := range strings.Split(v, ",") {
				n, err := strconv.Atoi(d)
				if err != nil || n < 1 || n > 31 || len(r.monthDays) > 31 {
					return r, bad
				}
				r.monthDays = append(r.monthDays, n)
			}
		case "UNTIL":
			t, err := time.Parse(layoutDateTime, strings.TrimSuffix(v, "Z"))
			if err != nil {
				if t, err = time.Parse(layoutDate, v); err != nil {
					return r, bad
				}
			}
			r.until = t
		case "WKST", "":
		default:
			return r, bad
		}
	}
	if r.month == 0 || !haveDay {
		return r, bad
	}
	return r, nil
}

// onset is the rule's occurrence in year y, at start's time of day.
func (r yearlyRule) onset(y int, start time.Time) (time.Time, bool) {
	h, m, s := start.Clock()
	last := time.Date(y, r.month+1, 0, 0, 0, 0, 0, time.UTC).Day()
	var days []int
	for d := 1; d <= last; d++ {
		if time.Date(y, r.month, d, 0, 0, 0, 0, time.UTC).Weekday() == r.weekday {
			days = append(days, d)
		}
	}
	day := 0
	switch {
	case len(r.monthDays) > 0:
		for _, d := range days {
			for _, md := range r.monthDays {
				if d == md && day == 0 {
					day = d
				}
			}
		}
	case r.nth > 0 && r.nth <= len(days):
		day = days[r.nth-1]
	case r.nth < 0 && -r.nth <= len(days):
		day = days[len(days)+r.nth]
	case r.nth == 0 && len(days) > 0:
		day = days[0]
	}
	if day == 0 {
		return time.Time{}, false
	}
	return time.Date(y, r.month, day, h, m, s, 0, time.UTC), true
}
