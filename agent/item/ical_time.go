package item

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

const (
	layoutDate     = "20060102"
	layoutDateTime = "20060102T150405"
	canonDate      = "2006-01-02"
)

// zones resolves the TZIDs of one calendar.
type zones struct {
	cal *ical.Component // the VCALENDAR, for its VTIMEZONEs
}

// timeOf reads a DATE or DATE-TIME property as an instant (UTC) and says
// whether it was a DATE.
func (z zones) timeOf(p *ical.Prop) (time.Time, bool, error) {
	v := strings.TrimSpace(p.Value)
	if strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE") || len(v) == len(layoutDate) {
		t, err := time.Parse(layoutDate, v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("%s %q is not a date (YYYYMMDD)", p.Name, v)
		}
		return t, true, nil
	}
	utc := strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z")
	if utc {
		v = v[:len(v)-1]
	}
	wall, err := time.Parse(layoutDateTime, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s %q is not a date-time (YYYYMMDDTHHMMSS)", p.Name, p.Value)
	}
	tzid := p.Params.Get(ical.ParamTimezoneID)
	if utc || tzid == "" {
		// UTC, or floating: a floating time means "this wall clock in
		// whatever zone the user is in", which a server-side sync cannot
		// know; UTC is the stable choice and matches what Exchange does
		// with floating times it imports.
		return wall, false, nil
	}
	t, err := z.resolve(tzid, wall)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: %w", p.Name, err)
	}
	return t.UTC(), false, nil
}

// resolve places a wall clock time in the zone tzid: by the Go time zone
// database when it knows the name, else by the calendar's VTIMEZONE (which
// is how Outlook's Windows names such as "W. Europe Standard Time" work).
func (z zones) resolve(tzid string, wall time.Time) (time.Time, error) {
	y, mo, d := wall.Date()
	h, mi, s := wall.Clock()
	if loc := goZone(tzid); loc != nil {
		return time.Date(y, mo, d, h, mi, s, 0, loc), nil
	}
	off, err := z.vtimezoneOffset(tzid, wall)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(y, mo, d, h, mi, s, 0, time.FixedZone(tzid, off)), nil
}

// goZone looks tzid up in the Go time zone database, also trying the tail
// of a prefixed name ("/mozilla.org/20050126_1/Europe/Berlin", RFC 5545's
// "/Europe/Berlin"). "Local" is refused: it would mean this computer's zone.
func goZone(tzid string) *time.Location {
	name := strings.Trim(strings.TrimSpace(tzid), `"`)
	for tries := 0; name != "" && len(name) < 256 && tries < 8; tries++ {
		if !strings.EqualFold(name, "local") {
			if loc, err := time.LoadLocation(name); err == nil {
				return loc
			}
		}
		i := strings.IndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return nil
}

// goZoneName is the TZID of a property if the Go database knows it, so an
// encoder can keep writing times in the zone the user's app chose.
func goZoneName(p *ical.Prop) *time.Location {
	if p == nil || p.Params.Get(ical.ParamTimezoneID) == "" {
		return nil
	}
	return goZone(p.Params.Get(ical.ParamTimezoneID))
}

// canonTime is the Values form of a time: a date, or UTC RFC 3339.
func canonTime(t time.Time, date bool) string {
	if date {
		return t.Format(canonDate)
	}
	return t.UTC().Format(time.RFC3339)
}

// parseCanonTime reads a Values time: "2026-12-03" or any RFC 3339 time.
func parseCanonTime(key, s string) (time.Time, bool, error) {
	if t, err := time.Parse(canonDate, s); err == nil {
		return t, true, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("item: %s %q is neither a date like 2026-12-03 nor a time like 2026-12-03T10:00:00Z", key, s)
	}
	return t.UTC(), false, nil
}

// setTime writes a DATE (date) or DATE-TIME property, in loc when the
// server's item used a zone Go knows (so a recurring event keeps following
// its zone's daylight saving), else in UTC.
func setTime(comp *ical.Component, name string, t time.Time, date bool, loc *time.Location) {
	p := ical.NewProp(name)
	switch {
	case date:
		p.SetDate(t)
	case loc != nil:
		p.Params.Set(ical.ParamTimezoneID, loc.String())
		p.Value = t.In(loc).Format(layoutDateTime)
	default:
		p.Value = t.UTC().Format(layoutDateTime) + "Z"
	}
	comp.Props.Set(p)
}

// parseOffset reads a UTC offset such as "+0100", "-0500" or "+053000".
func parseOffset(s string) (int, error) {
	s = strings.TrimSpace(s)
	if (len(s) != 5 && len(s) != 7) || (s[0] != '+' && s[0] != '-') {
		return 0, fmt.Errorf("UTC offset %q is not like +0100", s)
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("UTC offset %q is not like +0100", s)
	}
	if len(s) == 5 {
		n *= 100
	}
	h, m, sec := n/10000, n/100%100, n%100
	if h > 23 || m > 59 || sec > 59 {
		return 0, fmt.Errorf("UTC offset %q is out of range", s)
	}
	off := h*3600 + m*60 + sec
	if s[0] == '-' {
		off = -off
	}
	return off, nil
}
