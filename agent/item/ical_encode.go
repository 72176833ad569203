package item

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-ical"

	"crmsync/agent/internal/contentline"
)

// calEncoder carries one EncodeEvent or EncodeTask call.
type calEncoder struct {
	cal  *ical.Calendar
	comp *ical.Component
	own  map[string]bool
	v    Values
	prev Values
	had  bool // the item existed on the server
}

// openCalendar starts an encode: prev's calendar and item of the kind, or
// a new calendar holding a new item.
func openCalendar(prev []byte, kind, what string) (*calEncoder, error) {
	if len(prev) == 0 {
		cal := ical.NewCalendar()
		cal.Props.SetText(ical.PropProductID, prodID)
		cal.Props.SetText(ical.PropVersion, "2.0")
		comp := ical.NewComponent(kind)
		cal.Children = append(cal.Children, comp)
		return &calEncoder{cal: cal, comp: comp, prev: Values{}}, nil
	}
	cal, comp, err := readCalendar(prev, kind, what)
	if err != nil {
		return nil, fmt.Errorf("the %s on the server cannot be read, so it was left alone: %w", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), err)
	}
	if cal.Props.Get(ical.PropProductID) == nil {
		cal.Props.SetText(ical.PropProductID, prodID) // required; some servers drop it
	}
	if cal.Props.Get(ical.PropVersion) == nil {
		cal.Props.SetText(ical.PropVersion, "2.0")
	}
	return &calEncoder{cal: cal, comp: comp, had: true}, nil
}

// ids sets UID, X-CRM-ID and DTSTAMP. An empty uid keeps the item's UID.
func (e *calEncoder) ids(uid, crmID string) error {
	if uid = strings.TrimSpace(uid); uid != "" {
		if p := e.comp.Props.Get(ical.PropUID); p == nil || canon(unescapeText(p.Value)) != uid {
			setText(e.comp, ical.PropUID, uid)
		}
	} else if e.comp.Props.Get(ical.PropUID) == nil {
		return errors.New("the item has no UID; pass the UID the calendar should know it by")
	}
	if crmID = strings.TrimSpace(crmID); crmID == "" {
		e.comp.Props.Del(propCRMID)
	} else if p := e.comp.Props.Get(propCRMID); p == nil || canon(unescapeText(p.Value)) != crmID {
		setText(e.comp, propCRMID, crmID)
	}
	stamp := ical.NewProp(ical.PropDateTimeStamp)
	stamp.Value = now().UTC().Format(layoutDateTime) + "Z"
	e.comp.Props.Set(stamp)
	return nil
}

func (e *calEncoder) eff(key string) string { return effective(e.own, e.v, e.prev, key) }

func (e *calEncoder) changed(key string) bool {
	return e.own[key] && canonField(key, e.v[key]) != e.prev[key]
}

// text writes an owned text property that changed.
func (e *calEncoder) text(key, name string) {
	if e.changed(key) {
		setText(e.comp, name, e.eff(key))
	}
}

// setText writes a TEXT property, keeping the parameters (LANGUAGE, ALTREP)
// of the first existing one; "" removes it.
func setText(c *ical.Component, name, text string) {
	l := c.Props[name]
	switch {
	case text == "":
		delete(c.Props, name)
	case len(l) == 0:
		// Not Props.SetText: it adds VALUE=TEXT to any property it has no
		// default type for (X-CRM-ID;VALUE=TEXT:...), which is noise.
		p := ical.NewProp(name)
		p.Value = escapeText(text)
		c.Props.Set(p)
	default:
		l[0].Value = escapeText(text)
		c.Props[name] = l[:1]
	}
	if name == ical.PropDescription {
		// Outlook shows X-ALT-DESC (an HTML copy of DESCRIPTION) in
		// preference to DESCRIPTION; a stale copy would hide the change.
		delete(c.Props, "X-ALT-DESC")
	}
}

// bytes encodes the calendar and folds its long lines, which go-ical's
// encoder leaves unfolded.
func (e *calEncoder) bytes() ([]byte, error) {
	var buf strings.Builder
	if err := ical.NewEncoder(&buf).Encode(e.cal); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(buf.Len() + buf.Len()/32)
	for _, line := range strings.SplitAfter(buf.String(), "\r\n") {
		if line != "" {
			contentline.Fold(&b, strings.TrimSuffix(line, "\r\n"))
		}
	}
	out := []byte(b.String())
	// Never write what this package would refuse to read: a malformed
	// parameter kept from the item on the server can grow past the limit
	// once written again. Such an item is left as it is.
	if err := checkParamLength(out); err != nil {
		return nil, fmt.Errorf("the item on the server has a malformed parameter, so it was left as it is: %w", err)
	}
	return out, nil
}
