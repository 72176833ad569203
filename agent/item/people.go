package item

import (
	"sort"
	"strings"

	"github.com/emersion/go-ical"
)

// person is an organizer or attendee: address (lower case) and name.
type person struct {
	addr, name string
}

// personOf reads an ORGANIZER or ATTENDEE with a mailto: address; other
// addresses (urn:uuid:, resources) are not synchronised.
func personOf(p *ical.Prop) (person, bool) {
	v := strings.TrimSpace(p.Value)
	if len(v) < 7 || !strings.EqualFold(v[:7], "mailto:") {
		return person{}, false
	}
	addr, ok := cleanAddr(v[7:])
	if !ok {
		return person{}, false
	}
	return person{addr, cleanName(p.Params.Get(ical.ParamCommonName))}, true
}

// cleanAddr lower-cases an address; one with space or control characters
// in it is no address and is not synchronised.
func cleanAddr(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", false
	}
	return s, true
}

// cleanName makes a display name fit one "address\tname" line.
func cleanName(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// attendees splits the mailto: attendees into required (ROLE absent or
// REQ-PARTICIPANT, RFC 5545's default) and optional; chairs and
// non-participants are not synchronised.
func attendees(c *ical.Component) (req, opt []person) {
	for i := range c.Props.Values(ical.PropAttendee) {
		p := &c.Props[ical.PropAttendee][i]
		a, ok := personOf(p)
		if !ok {
			continue
		}
		switch roleOf(p) {
		case "REQ-PARTICIPANT":
			req = append(req, a)
		case "OPT-PARTICIPANT":
			opt = append(opt, a)
		}
	}
	return req, opt
}

func roleOf(p *ical.Prop) string {
	r := strings.ToUpper(strings.TrimSpace(p.Params.Get(ical.ParamRole)))
	if r == "" {
		return "REQ-PARTICIPANT"
	}
	return r
}

// formatPeople is the canonical Values form: "address\tname" lines sorted
// by address, one per address.
func formatPeople(ps []person) string {
	ps = normPeople(ps)
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.addr + "\t" + p.name
	}
	return strings.Join(lines, "\n")
}

// parsePeople reads the Values form, tolerating stray space.
func parsePeople(s string) []person {
	var ps []person
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n") {
		addr, name, _ := strings.Cut(line, "\t")
		if a, ok := cleanAddr(addr); ok {
			ps = append(ps, person{a, cleanName(name)})
		}
	}
	return normPeople(ps)
}

// normPeople sorts by address and keeps the first entry of each address.
func normPeople(ps []person) []person {
	ps = append([]person(nil), ps...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].addr < ps[j].addr })
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p.addr != ps[i-1].addr {
			out = append(out, p)
		}
	}
	return out
}
