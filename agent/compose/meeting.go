package compose

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// Meeting is an appointment the user organises, to send as an invitation.
type Meeting struct {
	UID                            string // stable per appointment (the caller derives it from the CRM ID)
	Sequence                       int    // bumped when the appointment changes
	Organizer                      Address
	Required, Optional             []Address
	Subject, Location, Description string
	Start, End                     time.Time
	AllDay                         bool
}

// maxInvitation bounds an invitation: the agent's own readers (outbox,
// item) read no more of a meeting request, and neither should anyone need
// to.
const maxInvitation = 1 << 20

// iCalendar time layouts.
const (
	layoutUTC  = "20060102T150405Z"
	layoutDate = "20060102"
)

// Invitation writes an iCalendar METHOD:REQUEST for the meeting: one
// VEVENT with UID, SEQUENCE, DTSTAMP (now), DTSTART and DTEND (in UTC, or
// as dates for an all-day meeting), SUMMARY, LOCATION, DESCRIPTION,
// ORGANIZER, an ATTENDEE per required and optional attendee (NEEDS-ACTION,
// RSVP) and STATUS:CONFIRMED. Lines are CRLF and folded at 75 octets.
//
// An all-day meeting runs from the date of Start to the date of End as
// they read in their own time zone (pass them in the user's); an End that
// is not at midnight counts its whole day, and at least one day is sent.
// A missing UID, organizer or start, an end before the start, or an
// address that is not one is refused; names and texts are cleaned, as
// Build cleans headers.
func Invitation(m Meeting) ([]byte, error) {
	b, err := invitation(m)
	if err != nil {
		return nil, fmt.Errorf("compose: invitation: %w", err)
	}
	return b, nil
}

func invitation(m Meeting) ([]byte, error) {
	uid := strings.TrimSpace(m.UID)
	switch {
	case uid == "":
		return nil, errors.New("the meeting has no UID")
	case strings.ContainsFunc(uid, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, fmt.Errorf("the meeting's UID %q holds a control character", uid)
	case m.Sequence < 0:
		return nil, fmt.Errorf("the meeting's sequence %d is negative", m.Sequence)
	}
	ev := ical.NewComponent(ical.CompEvent)
	setValue(ev, ical.PropUID, escapeText(uid))
	setValue(ev, ical.PropSequence, strconv.Itoa(m.Sequence))
	setValue(ev, ical.PropDateTimeStamp, now().UTC().Format(layoutUTC))
	if err := setTimes(ev, m); err != nil {
		return nil, err
	}
	setValue(ev, ical.PropSummary, escapeText(cleanText(m.Subject)))
	setValue(ev, ical.PropLocation, escapeText(cleanText(m.Location)))
	setValue(ev, ical.PropDescription, escapeText(cleanBlock(m.Description)))
	setValue(ev, ical.PropStatus, "CONFIRMED")
	if strings.TrimSpace(m.Organizer.Addr) == "" {
		return nil, errors.New("the meeting has no organizer")
	}
	org, err := personProp(ical.PropOrganizer, m.Organizer)
	if err != nil {
		return nil, fmt.Errorf("the organizer: %w", err)
	}
	ev.Props.Set(org)
	if err := addAttendees(ev, m); err != nil {
		return nil, err
	}

	cal := ical.NewCalendar()
	setValue(cal.Component, ical.PropProductID, "-//crmsync//EN")
	setValue(cal.Component, ical.PropVersion, "2.0")
	setValue(cal.Component, ical.PropCalendarScale, "GREGORIAN")
	setValue(cal.Component, ical.PropMethod, "REQUEST")
	cal.Children = append(cal.Children, ev)
	out, err := encodeCalendar(cal)
	if err != nil {
		return nil, err
	}
	if len(out) > maxInvitation {
		return nil, fmt.Errorf("the invitation would be %d KiB, more than the %d KiB calendar apps are sure to read; shorten its description or attendee list",
			len(out)>>10, maxInvitation>>10)
	}
	return out, nil
}

// setTimes writes DTSTART and DTEND.
func setTimes(ev *ical.Component, m Meeting) error {
	switch {
	case m.Start.IsZero():
		return errors.New("the meeting has no start")
	case m.End.IsZero():
		return errors.New("the meeting has no end")
	case m.End.Before(m.Start):
		return fmt.Errorf("the meeting ends (%s) before it starts (%s)", m.End.Format(time.RFC3339), m.Start.Format(time.RFC3339))
	case !inRange(m.Start) || !inRange(m.End):
		return fmt.Errorf("the meeting's times (%s to %s) are not in years 1 to 9999", m.Start.Format(time.RFC3339), m.End.Format(time.RFC3339))
	}
	if !m.AllDay {
		setValue(ev, ical.PropDateTimeStart, m.Start.UTC().Format(layoutUTC))
		setValue(ev, ical.PropDateTimeEnd, m.End.UTC().Format(layoutUTC))
		return nil
	}
	start := dateOf(m.Start)
	end := dateOf(m.End)
	if !end.Equal(m.End) {
		end = end.AddDate(0, 0, 1) // DTEND is exclusive: the end's day is part of the meeting
	}
	if !end.After(start) {
		end = start.AddDate(0, 0, 1)
	}
	for name, t := range map[string]time.Time{ical.PropDateTimeStart: start, ical.PropDateTimeEnd: end} {
		p := ical.NewProp(name)
		p.Params.Set(ical.ParamValue, string(ical.ValueDate))
		p.Value = t.Format(layoutDate)
		ev.Props.Set(p)
	}
	return nil
}

// dateOf is midnight of t's date in t's own zone.
func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// inRange reports whether t can be written as an iCalendar time, in UTC
// and in its own zone (an all-day date), with four-digit years.
func inRange(t time.Time) bool {
	return t.Year() >= 1 && t.Year() <= 9999 && t.UTC().Year() >= 1 && t.UTC().Year() <= 9999
}

// addAttendees writes the attendees, required first. One address listed
// twice is invited once, in its first role, as calendar apps show it.
func addAttendees(ev *ical.Component, m Meeting) error {
	seen := map[string]bool{}
	for _, g := range []struct {
		role, what string
		list       []Address
	}{{"REQ-PARTICIPANT", "required attendee", m.Required}, {"OPT-PARTICIPANT", "optional attendee", m.Optional}} {
		for i, a := range g.list {
			p, err := personProp(ical.PropAttendee, a)
			if err != nil {
				return fmt.Errorf("%s %d: %w", g.what, i+1, err)
			}
			if key := strings.ToLower(p.Value); seen[key] {
				continue
			} else {
				seen[key] = true
			}
			p.Params.Set(ical.ParamRole, g.role)
			p.Params.Set(ical.ParamParticipationStatus, "NEEDS-ACTION")
			p.Params.Set(ical.ParamRSVP, "TRUE")
			ev.Props.Add(p)
		}
	}
	return nil
}
