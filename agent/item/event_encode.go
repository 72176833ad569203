package item

import (
	"fmt"
	"strconv"
	"time"

	"github.com/emersion/go-ical"
)

// EncodeEvent writes an event as iCalendar. prev is the event's current
// text on the server (nil for a new event): everything in it the codec
// does not own (alarms, VTIMEZONEs, other apps' properties, occurrence
// overrides) is kept, and of the fields only those in owned are written.
// DTSTAMP is set to the current time.
func EncodeEvent(prev []byte, uid, crmID string, owned []string, v Values) ([]byte, error) {
	out, err := encodeEvent(prev, uid, crmID, owned, v)
	if err != nil {
		return nil, fmt.Errorf("item: encode event: %w", err)
	}
	return out, nil
}

func encodeEvent(prev []byte, uid, crmID string, owned []string, v Values) ([]byte, error) {
	if err := checkSize(prev, "event"); err != nil {
		return nil, err
	}
	e, err := openCalendar(prev, ical.CompEvent, "an event")
	if err != nil {
		return nil, err
	}
	e.own, e.v = ownedSet(owned), v
	if e.had {
		it, err := eventItem(e.cal, e.comp)
		if err != nil && (!e.own[fStart] || !e.own[fEnd]) {
			return nil, fmt.Errorf("the event on the server cannot be read, so it was left alone: %w", err)
		}
		e.prev = it.Values
		if e.prev == nil {
			e.prev = Values{}
		}
	}
	if err := e.ids(uid, crmID); err != nil {
		return nil, err
	}
	e.text(fSubject, ical.PropSummary)
	e.text(fLocation, ical.PropLocation)
	e.text(fBody, ical.PropDescription)
	e.organizer()
	e.attendees(fRequired, "REQ-PARTICIPANT")
	e.attendees(fOptional, "OPT-PARTICIPANT")
	if err := e.eventTimes(); err != nil {
		return nil, err
	}
	return e.bytes()
}

// eventTimes writes DTSTART and DTEND when Start, End or IsAllDayEvent
// changed. A DURATION gives way to DTEND, so a new start does not move the
// end of an event whose End is not owned.
func (e *calEncoder) eventTimes() error {
	if !e.changed(fStart) && !e.changed(fEnd) && !e.changed(fAllDay) {
		if e.comp.Props.Get(ical.PropDateTimeStart) == nil {
			return fmt.Errorf("the event has no Start; an event needs one")
		}
		return nil
	}
	startS, endS := e.eff(fStart), e.eff(fEnd)
	if startS == "" {
		return fmt.Errorf("the event has no Start; an event needs one")
	}
	start, startDate, err := parseCanonTime(fStart, startS)
	if err != nil {
		return err
	}
	allDay := startDate
	if a := e.eff(fAllDay); a != "" {
		if allDay, err = strconv.ParseBool(a); err != nil {
			return fmt.Errorf("%s %q is neither true nor false", fAllDay, a)
		}
	}
	var end time.Time
	if endS != "" {
		if end, _, err = parseCanonTime(fEnd, endS); err != nil {
			return err
		}
	}
	if allDay {
		start = dateOf(start)
		if !end.IsZero() {
			end = dateOf(end)
		}
	}
	if !end.IsZero() && end.Before(start) {
		return fmt.Errorf("the event ends (%s) before it starts (%s); fix one of them", endS, startS)
	}
	startLoc := goZoneName(e.comp.Props.Get(ical.PropDateTimeStart))
	endLoc := goZoneName(e.comp.Props.Get(ical.PropDateTimeEnd))
	if endLoc == nil {
		endLoc = startLoc
	}
	setTime(e.comp, ical.PropDateTimeStart, start, allDay, startLoc)
	e.comp.Props.Del(ical.PropDuration)
	if end.IsZero() {
		// No end: RFC 5545 makes it one day, or the start instant.
		e.comp.Props.Del(ical.PropDateTimeEnd)
	} else {
		setTime(e.comp, ical.PropDateTimeEnd, end, allDay, endLoc)
	}
	return nil
}

// dateOf is the UTC calendar date of t, at midnight.
func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// organizer writes ORGANIZER, keeping the parameters (SENT-BY, ...) of an
// organizer with the same address.
func (e *calEncoder) organizer() {
	if !e.changed(fOrganizer) {
		return
	}
	ps := parsePeople(e.eff(fOrganizer))
	if len(ps) == 0 {
		e.comp.Props.Del(ical.PropOrganizer)
		return
	}
	p := ical.NewProp(ical.PropOrganizer)
	if old := e.comp.Props.Get(ical.PropOrganizer); old != nil {
		if o, ok := personOf(old); ok && o.addr == ps[0].addr {
			p.Params = copyParams(old.Params)
		}
	}
	personProp(p, ps[0])
	e.comp.Props.Set(p)
}

// attendees replaces the mailto: attendees of one role, keeping the
// parameters (PARTSTAT, RSVP, CUTYPE, ...) of any attendee with the same
// address; attendees of other roles and non-mailto attendees stay.
func (e *calEncoder) attendees(key, role string) {
	if !e.changed(key) {
		return
	}
	old := map[string]ical.Params{}
	var kept []ical.Prop
	for _, p := range e.comp.Props[ical.PropAttendee] {
		a, ok := personOf(&p)
		if ok {
			if _, seen := old[a.addr]; !seen {
				old[a.addr] = p.Params
			}
		}
		if !ok || roleOf(&p) != role {
			kept = append(kept, p)
		}
	}
	for _, a := range parsePeople(e.eff(key)) {
		p := ical.NewProp(ical.PropAttendee)
		if params, ok := old[a.addr]; ok {
			p.Params = copyParams(params)
		}
		p.Params.Set(ical.ParamRole, role)
		personProp(p, a)
		kept = append(kept, *p)
	}
	if len(kept) == 0 {
		e.comp.Props.Del(ical.PropAttendee)
	} else {
		e.comp.Props[ical.PropAttendee] = kept
	}
}

// personProp sets the address and CN of an ORGANIZER or ATTENDEE.
func personProp(p *ical.Prop, a person) {
	p.Value = "mailto:" + a.addr
	if a.name == "" {
		p.Params.Del(ical.ParamCommonName)
	} else {
		p.Params.Set(ical.ParamCommonName, safeParam(a.name))
	}
}

func copyParams(in ical.Params) ical.Params {
	out := make(ical.Params, len(in))
	for k, v := range in {
		out[k] = append([]string(nil), v...)
	}
	return out
}
