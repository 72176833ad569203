package maildir

import (
	"net/mail"
	"strings"
	"time"
)

// dateLayouts are tried, in order, on a Date that net/mail refuses, after
// comments are removed and whitespace is collapsed. They cover what real
// mail gets wrong: no seconds, no zone, named zones, two-digit years,
// a missing day of week, upper-case names.
var dateLayouts = []string{
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04 MST",
	"2 Jan 2006 15:04",
	"2 Jan 06 15:04:05 -0700",
	"2 Jan 06 15:04:05 MST",
	"2 Jan 06 15:04:05",
	"2 Jan 06 15:04 -0700",
	"2 Jan 06 15:04 MST",
	"2 Jan 06 15:04",
	"2 Jan 06 03:04:05 PM",
	"2 Jan 2006 03:04:05 PM",
	"Jan 2 15:04:05 2006",
	"Jan 2 15:04:05 MST 2006",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

// parseDate parses a Date value; ok is false when nothing fits.
func parseDate(raw []byte) (time.Time, bool) {
	s := strings.TrimSpace(toValidUTF8(raw))
	if s == "" {
		return time.Time{}, false
	}
	if t, err := mail.ParseDate(s); err == nil {
		return fixZone(t), true
	}
	s = strings.Join(strings.Fields(stripComments(s)), " ")
	// The day of week adds nothing and is often wrong or misspelt.
	if i := strings.IndexByte(s, ','); i >= 0 && i <= 10 {
		s = strings.TrimSpace(s[i+1:])
	} else if f := strings.Fields(s); len(f) > 1 && isWeekday(f[0]) {
		s = strings.Join(f[1:], " ")
	}
	// Obsolete syntax allows whitespace around the colons of the time.
	s = strings.ReplaceAll(strings.ReplaceAll(s, " :", ":"), ": ", ":")
	s = titleMonth(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return fixZone(t), true
		}
	}
	return time.Time{}, false
}

// obsZones are the named zones of RFC 5322 section 4.3, in seconds east of
// UTC. time.Parse knows the names but not their offsets.
var obsZones = map[string]int{
	"UT": 0, "GMT": 0, "Z": 0, "UTC": 0,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
}

// fixZone gives a time parsed with an unknown-offset zone name its RFC 5322
// offset.
func fixZone(t time.Time) time.Time {
	name, off := t.Zone()
	if z, ok := obsZones[strings.ToUpper(name)]; ok && off == 0 && z != 0 {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.FixedZone(name, z))
	}
	return t
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// titleMonth rewrites upper- or lower-case month and zone words ("FEB",
// "gmt") into the case time.Parse expects for months.
func titleMonth(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		if len(w) == 3 && isLetters(w) {
			lw := strings.ToLower(w)
			switch lw {
			case "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec":
				f[i] = strings.ToUpper(lw[:1]) + lw[1:]
			}
		}
	}
	return strings.Join(f, " ")
}

func isWeekday(s string) bool {
	switch strings.ToLower(s) {
	case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
		return true
	}
	return false
}
