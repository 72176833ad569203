package item

import (
	"fmt"

	"github.com/emersion/go-ical"
)

// EncodeTask writes a task as iCalendar. prev is the task's current text
// on the server (nil for a new task): everything in it the codec does not
// own is kept, and of the fields only those in owned are written. A Status
// or PercentComplete the format cannot hold is an error, not a silent drop.
func EncodeTask(prev []byte, uid, crmID string, owned []string, v Values) ([]byte, error) {
	out, err := encodeTask(prev, uid, crmID, owned, v)
	if err != nil {
		return nil, fmt.Errorf("item: encode task: %w", err)
	}
	return out, nil
}

func encodeTask(prev []byte, uid, crmID string, owned []string, v Values) ([]byte, error) {
	if err := checkSize(prev, "task"); err != nil {
		return nil, err
	}
	e, err := openCalendar(prev, ical.CompToDo, "a task")
	if err != nil {
		return nil, err
	}
	e.own, e.v = ownedSet(owned), v
	if e.had {
		it, err := taskItem(e.cal, e.comp)
		if err != nil && !e.own[fDueDate] {
			return nil, fmt.Errorf("the task on the server cannot be read, so it was left alone: %w", err)
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
	e.text(fBody, ical.PropDescription)
	if e.changed(fStatus) {
		s := e.eff(fStatus)
		if taskStatus(s) == "" && s != "" {
			return nil, fmt.Errorf("%s %q is not one of NEEDS-ACTION, IN-PROCESS, COMPLETED, CANCELLED", fStatus, s)
		}
		setText(e.comp, ical.PropStatus, taskStatus(s))
	}
	if e.changed(fPercent) {
		s := e.eff(fPercent)
		if percent(s) == "" && s != "" {
			return nil, fmt.Errorf("%s %q is not a whole number from 0 to 100", fPercent, s)
		}
		if s = percent(s); s == "" {
			e.comp.Props.Del(ical.PropPercentComplete)
		} else {
			p := ical.NewProp(ical.PropPercentComplete)
			p.Value = s
			e.comp.Props.Set(p)
		}
	}
	if e.changed(fDueDate) {
		if err := e.due(); err != nil {
			return nil, err
		}
	}
	return e.bytes()
}

// due writes DUE; a DURATION (which counts from DTSTART) gives way to it.
func (e *calEncoder) due() error {
	s := e.eff(fDueDate)
	e.comp.Props.Del(ical.PropDuration)
	if s == "" {
		e.comp.Props.Del(ical.PropDue)
		return nil
	}
	t, date, err := parseCanonTime(fDueDate, s)
	if err != nil {
		return err
	}
	setTime(e.comp, ical.PropDue, t, date, goZoneName(e.comp.Props.Get(ical.PropDue)))
	return nil
}
