package item

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"
)

// parseCalendar decodes iCalendar text with go-ical. go-ical's decoder
// panics on some malformed parameter lists (a line that ends inside the
// parameters, such as "X;A=b", indexes past the end of the line;
// "X;A="b"c:v" reaches an explicit panic), see TestGoICalPanics; the
// recover turns that into an error, and is the only one in the package.
func parseCalendar(data []byte) (cal *ical.Calendar, err error) {
	if err := checkParamLength(data); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("the calendar text is malformed (%v)", r)
		}
	}()
	cal, err = ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, fmt.Errorf("the calendar text is malformed: %w", err)
	}
	return cal, nil
}

// maxParamValue bounds one parameter value of a content line. go-ical
// builds parameter values a byte at a time by string concatenation, so its
// time grows with the square of their length: one 100 KB value takes about
// 2 s, a 1 MiB one minutes (TestGoICalQuadraticParams). Real values (a CN,
// one address of a DELEGATED-TO list) are far shorter.
const maxParamValue = 1 << 10

// checkParamLength refuses a text with a parameter value longer than
// maxParamValue. A folded line counts as one: folding must not dodge it.
//
// A byte that is not UTF-8 counts as the three bytes of the U+FFFD it
// becomes when the item is written again: what is accepted here must fit
// the limit once encoded, or the item's own output would be refused.
func checkParamLength(data []byte) error {
	n, quoted, inParam, inValue, skip := 0, false, false, false, 0
	for i, c := range data {
		switch {
		case c == '\n':
			if i+1 < len(data) && (data[i+1] == ' ' || data[i+1] == '\t') {
				continue // a fold: the logical line goes on
			}
			n, quoted, inParam, inValue, skip = 0, false, false, false, 0
			continue
		case inValue:
			continue
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ':':
			inValue = true // the rest of the line is the value
			continue
		case c == ';':
			n, inParam = 0, false // a parameter name follows: go-ical finds its end cheaply
			continue
		case c == '=' || c == ',':
			n, inParam = 0, true
			continue
		}
		if !inParam {
			continue
		}
		w := 1
		switch {
		case skip > 0:
			skip-- // a later byte of a character already counted
		case c >= utf8.RuneSelf:
			if r, size := utf8.DecodeRune(data[i:]); r == utf8.RuneError && size == 1 {
				w = 3
			} else {
				skip = size - 1
			}
		}
		if n += w; n > maxParamValue {
			return fmt.Errorf("a line of the calendar has a parameter longer than %d bytes, which no calendar app writes", maxParamValue)
		}
	}
	return nil
}

// master finds the component of the kind: the first without RECURRENCE-ID
// (a recurring item's master), else the first. Overrides of single
// occurrences are not synchronised; they stay on the server as they are.
func master(cal *ical.Calendar, kind string) *ical.Component {
	var first *ical.Component
	for _, c := range cal.Children {
		if c.Name != kind {
			continue
		}
		if c.Props.Get(ical.PropRecurrenceID) == nil {
			return c
		}
		if first == nil {
			first = c
		}
	}
	return first
}

// readCalendar checks the size, decodes and finds the item of the kind.
func readCalendar(data []byte, kind, what string) (*ical.Calendar, *ical.Component, error) {
	if err := checkSize(data, what); err != nil {
		return nil, nil, err
	}
	cal, err := parseCalendar(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s must be iCalendar text (BEGIN:VCALENDAR with a %s inside), and this is not: %w", what, kind, err)
	}
	comp := master(cal, kind)
	if comp == nil {
		return nil, nil, fmt.Errorf("the calendar has no %s, and %s must be one", kind, what)
	}
	return cal, comp, nil
}

// DecodeEvent reads the first VEVENT of data: a recurring event's master
// (overrides of single occurrences are ignored).
func DecodeEvent(data []byte) (Item, error) {
	cal, ev, err := readCalendar(data, ical.CompEvent, "an event")
	if err != nil {
		return Item{}, fmt.Errorf("item: decode event: %w", err)
	}
	it, err := eventItem(cal, ev)
	if err != nil {
		return Item{}, fmt.Errorf("item: decode event: %w", err)
	}
	return it, nil
}

// DecodeTask reads the first VTODO of data.
func DecodeTask(data []byte) (Item, error) {
	cal, td, err := readCalendar(data, ical.CompToDo, "a task")
	if err != nil {
		return Item{}, fmt.Errorf("item: decode task: %w", err)
	}
	it, err := taskItem(cal, td)
	if err != nil {
		return Item{}, fmt.Errorf("item: decode task: %w", err)
	}
	return it, nil
}

// commonItem reads what events and tasks share.
func commonItem(c *ical.Component) Item {
	it := Item{Values: Values{}}
	if p := c.Props.Get(ical.PropUID); p != nil {
		it.UID = canon(unescapeText(p.Value))
	}
	if p := c.Props.Get(propCRMID); p != nil {
		it.CRMID = canon(unescapeText(p.Value))
	}
	for _, p := range c.Props.Values(ical.PropCategories) {
		it.Categories = append(it.Categories, textList(p.Value)...)
	}
	putText(it.Values, c, fSubject, ical.PropSummary)
	putText(it.Values, c, fBody, ical.PropDescription)
	return it
}

func putText(v Values, c *ical.Component, key, prop string) {
	if p := c.Props.Get(prop); p != nil {
		if s := canon(unescapeText(p.Value)); s != "" {
			v[key] = s
		}
	}
}

func eventItem(cal *ical.Calendar, ev *ical.Component) (Item, error) {
	it := commonItem(ev)
	putText(it.Values, ev, fLocation, ical.PropLocation)
	if p := ev.Props.Get(ical.PropOrganizer); p != nil {
		if o, ok := personOf(p); ok {
			it.Values[fOrganizer] = formatPeople([]person{o})
		}
	}
	req, opt := attendees(ev)
	if s := formatPeople(req); s != "" {
		it.Values[fRequired] = s
	}
	if s := formatPeople(opt); s != "" {
		it.Values[fOptional] = s
	}
	start, end, allDay, err := eventTimes(zones{cal.Component}, ev)
	if err != nil {
		return Item{}, err
	}
	it.Values[fStart] = canonTime(start, allDay)
	it.Values[fEnd] = canonTime(end, allDay)
	it.Values[fAllDay] = strconv.FormatBool(allDay)
	return it, nil
}

// eventTimes reads DTSTART and DTEND, or DURATION, or the RFC 5545
// defaults: an all-day event lasts a day, a timed one ends as it starts.
func eventTimes(z zones, ev *ical.Component) (start, end time.Time, allDay bool, err error) {
	sp := ev.Props.Get(ical.PropDateTimeStart)
	if sp == nil {
		return start, end, false, fmt.Errorf("the event has no start time (DTSTART); give it one in your calendar app")
	}
	if start, allDay, err = z.timeOf(sp); err != nil {
		return start, end, false, err
	}
	switch ep, dp := ev.Props.Get(ical.PropDateTimeEnd), ev.Props.Get(ical.PropDuration); {
	case ep != nil:
		if end, _, err = z.timeOf(ep); err != nil {
			return start, end, false, err
		}
	case dp != nil:
		d, err := dp.Duration()
		if err != nil {
			return start, end, false, fmt.Errorf("DURATION %q is not a duration like PT1H: %w", dp.Value, err)
		}
		end = start.Add(d)
	case allDay:
		end = start.AddDate(0, 0, 1)
	default:
		end = start
	}
	if allDay {
		end = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	}
	return start, end, allDay, nil
}

func taskItem(cal *ical.Calendar, td *ical.Component) (Item, error) {
	it := commonItem(td)
	z := zones{cal.Component}
	if dp := td.Props.Get(ical.PropDue); dp != nil {
		due, date, err := z.timeOf(dp)
		if err != nil {
			return Item{}, err
		}
		it.Values[fDueDate] = canonTime(due, date)
	} else if sp, dur := td.Props.Get(ical.PropDateTimeStart), td.Props.Get(ical.PropDuration); sp != nil && dur != nil {
		// A task may give DTSTART and DURATION instead of DUE.
		start, date, err := z.timeOf(sp)
		if err != nil {
			return Item{}, err
		}
		d, err := dur.Duration()
		if err != nil {
			return Item{}, fmt.Errorf("DURATION %q is not a duration like PT1H: %w", dur.Value, err)
		}
		it.Values[fDueDate] = canonTime(start.Add(d), date)
	}
	if p := td.Props.Get(ical.PropStatus); p != nil {
		if s := taskStatus(p.Value); s != "" {
			it.Values[fStatus] = s
		}
	}
	if p := td.Props.Get(ical.PropPercentComplete); p != nil {
		if s := percent(p.Value); s != "" {
			it.Values[fPercent] = s
		}
	}
	return it, nil
}

// taskStatus is the canonical STATUS of a task, "" for anything RFC 5545
// does not allow on a VTODO.
func taskStatus(s string) string {
	switch s = strings.ToUpper(strings.TrimSpace(s)); s {
	case "NEEDS-ACTION", "IN-PROCESS", "COMPLETED", "CANCELLED":
		return s
	}
	return ""
}

// percent is the canonical PERCENT-COMPLETE, "" when not 0..100.
func percent(s string) string {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 100 {
		return ""
	}
	return strconv.Itoa(n)
}
