package item

import (
	"errors"
	"fmt"
	"strings"
)

// EncodeContact writes a contact as a vCard. prev is the card's current
// text on the server (nil for a new card): everything in it the codec does
// not own is kept, and of the fields only those in owned are written. A new
// card is vCard 4.0; an existing card keeps its VERSION (a 3.0 card stays
// valid 3.0). A field whose value did not change keeps its line as it was.
func EncodeContact(prev []byte, uid, crmID string, owned []string, v Values) ([]byte, error) {
	if err := checkSize(prev, "contact"); err != nil {
		return nil, err
	}
	var c *card
	if len(prev) == 0 {
		c = &card{props: []*vprop{
			{name: "VERSION", value: "4.0"},
			{name: "PRODID", value: prodID},
		}}
	} else {
		var err error
		if c, err = parseVCard(prev); err != nil {
			return nil, fmt.Errorf("item: encode contact: the contact on the server cannot be read, so it was left alone: %w", err)
		}
		if c.first("VERSION") == nil {
			// A card without VERSION predates 4.0; 3.0 is the reading
			// every app shares.
			c.props = append([]*vprop{{name: "VERSION", value: "3.0"}}, c.props...)
		}
	}
	e := &contactEncoder{
		c:      c,
		own:    ownedSet(owned),
		v:      v,
		prev:   contactItem(c).Values,
		legacy: !strings.HasPrefix(strings.TrimSpace(c.first("VERSION").value), "4"),
	}
	if err := e.ids(uid, crmID); err != nil {
		return nil, err
	}
	e.fullName()
	e.name()
	e.emails()
	e.phones()
	e.org()
	e.text(fJobTitle, "TITLE")
	return c.bytes(), nil
}

// contactEncoder carries one EncodeContact call.
type contactEncoder struct {
	c      *card
	own    map[string]bool
	v      Values
	prev   Values
	legacy bool // vCard 3.0 or older: preference is TYPE=pref, not PREF=1
}

func (e *contactEncoder) eff(key string) string { return effective(e.own, e.v, e.prev, key) }

func (e *contactEncoder) changed(key string) bool {
	return e.own[key] && canonField(key, e.v[key]) != e.prev[key]
}

// ids sets UID and X-CRM-ID. An empty uid keeps the card's own UID.
func (e *contactEncoder) ids(uid, crmID string) error {
	if uid = strings.TrimSpace(uid); uid != "" {
		if p := e.c.first("UID"); p == nil || canon(unescapeText(p.value)) != uid {
			e.c.set("UID", escapeText(uid))
		}
	} else if e.c.first("UID") == nil {
		return errors.New("item: encode contact: the contact has no UID; pass the UID the address book should know it by")
	}
	crmID = strings.TrimSpace(crmID)
	if crmID == "" {
		e.c.removeAll(propCRMID)
	} else if p := e.c.first(propCRMID); p == nil || canon(unescapeText(p.value)) != crmID {
		e.c.set(propCRMID, escapeText(crmID))
	}
	return nil
}

// fullName writes FN, which every vCard must have: the owned FullName,
// else the card's own, else one built from the name or the first email.
func (e *contactEncoder) fullName() {
	fn := e.eff(fFullName)
	if fn == "" {
		fn = strings.TrimSpace(e.eff(fGivenName) + " " + e.eff(fSurname))
	}
	if fn == "" {
		for _, k := range emailKeys {
			if fn = e.eff(k); fn != "" {
				break
			}
		}
	}
	if fn != e.prev[fFullName] || e.c.first("FN") == nil {
		e.c.set("FN", escapeText(fn))
	}
}

// name writes the family and given components of N, keeping the others
// (middle name, prefix, suffix) as they were.
func (e *contactEncoder) name() {
	p := e.c.first("N")
	if !e.changed(fGivenName) && !e.changed(fSurname) {
		if p == nil && e.legacy {
			e.c.add(&vprop{name: "N", value: ";;;;"}) // 3.0 requires N
		}
		return
	}
	comps := []string{"", "", "", "", ""}
	if p != nil {
		copy(comps, splitEscaped(p.value, ';'))
	}
	comps[0] = escapeText(e.eff(fSurname))
	comps[1] = escapeText(e.eff(fGivenName))
	value := strings.Join(comps, ";")
	switch {
	case p != nil:
		p.setValue(value)
	default:
		e.c.add(&vprop{name: "N", value: value})
	}
}

// emails writes Email1..3. When any slot changes, every slot is re-marked
// with its TYPE (and the first with the preference) so the next decode
// assigns the same addresses to the same slots.
func (e *contactEncoder) emails() {
	if !e.changed(fEmail1) && !e.changed(fEmail2) && !e.changed(fEmail3) {
		return
	}
	slots := emailSlots(e.c)
	drop := map[string]bool{"work": true, "home": true, "other": true, "pref": true}
	for i, p := range slots {
		val := e.eff(emailKeys[i])
		switch {
		case val == "" && p != nil:
			e.c.remove(p)
			continue
		case val == "":
			continue
		case p == nil:
			p = &vprop{name: "EMAIL"}
			e.c.add(p)
		}
		if canon(unescapeText(p.value)) != val {
			p.setValue(escapeText(val))
		}
		p.delParam("PREF")
		types := []string{emailTypes[i]}
		if i == 0 {
			if e.legacy {
				types = append(types, "pref")
			} else {
				p.setParam("PREF", "1")
			}
		}
		p.setType(drop, types...)
	}
}

// phones writes the business, mobile and home numbers, each replacing the
// line it was read from, keeping that line's other parameters.
func (e *contactEncoder) phones() {
	slots := phoneSlots(e.c)
	drop := map[string]bool{"work": true, "home": true, "cell": true, "voice": true, "pref": true}
	for i, ph := range phones {
		if !e.changed(ph.key) {
			continue
		}
		val, p := e.eff(ph.key), slots[i]
		switch {
		case val == "" && p != nil:
			e.c.remove(p)
			continue
		case val == "":
			continue
		case p == nil:
			p = &vprop{name: "TEL"}
			e.c.add(p)
		}
		p.delParam("VALUE") // the number is written as text, not a tel: URI
		p.setValue(escapeText(val))
		p.setType(drop, ph.write...)
	}
}

// org writes the first ORG component, keeping departments.
func (e *contactEncoder) org() {
	if !e.changed(fCompany) {
		return
	}
	val := e.eff(fCompany)
	p := e.c.first("ORG")
	if p == nil {
		if val != "" {
			e.c.add(&vprop{name: "ORG", value: escapeText(val)})
		}
		return
	}
	comps := splitEscaped(p.value, ';')
	comps[0] = escapeText(val)
	if strings.Join(comps, "") == "" {
		e.c.removeAll("ORG")
		return
	}
	p.setValue(strings.Join(comps, ";"))
}

// text writes a single-valued text property.
func (e *contactEncoder) text(key, name string) {
	if !e.changed(key) {
		return
	}
	if val := e.eff(key); val == "" {
		e.c.removeAll(name)
	} else {
		e.c.set(name, escapeText(val))
	}
}
