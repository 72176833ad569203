package item

import (
	"fmt"
	"strings"
)

// emailKeys are the email fields in slot order, with the TYPE each slot is
// marked with.
var (
	emailKeys  = [3]string{fEmail1, fEmail2, fEmail3}
	emailTypes = [3]string{"work", "home", "other"}
)

// phone describes one phone field: the TYPE that identifies it on decode
// and the TYPE values written for it.
type phone struct {
	key   string
	match string
	write []string
}

var phones = []phone{
	{fMobilePhone, "cell", []string{"cell"}},
	{fBusPhone, "work", []string{"work", "voice"}},
	{fHomePhone, "home", []string{"home", "voice"}},
}

// DecodeContact reads the first vCard (4.0, 3.0 or 2.1) of data.
func DecodeContact(data []byte) (Item, error) {
	if err := checkSize(data, "contact"); err != nil {
		return Item{}, err
	}
	c, err := parseVCard(data)
	if err != nil {
		return Item{}, fmt.Errorf("item: decode contact: %w", err)
	}
	return contactItem(c), nil
}

// contactItem extracts the synchronised fields of a card.
func contactItem(c *card) Item {
	it := Item{Values: Values{}}
	put := func(k, s string) {
		if s = canon(s); s != "" {
			it.Values[k] = s
		}
	}
	if p := c.first("UID"); p != nil {
		it.UID = canon(unescapeText(p.value))
	}
	if p := c.first(propCRMID); p != nil {
		it.CRMID = canon(unescapeText(p.value))
	}
	for _, p := range c.props {
		if p.name == "CATEGORIES" {
			it.Categories = append(it.Categories, textList(p.value)...)
		}
	}
	if p := c.first("FN"); p != nil {
		put(fFullName, unescapeText(p.value))
	}
	if p := c.first("N"); p != nil {
		n := splitEscaped(p.value, ';')
		put(fSurname, unescapeText(n[0]))
		if len(n) > 1 {
			put(fGivenName, unescapeText(n[1]))
		}
	}
	for i, p := range emailSlots(c) {
		if p != nil {
			put(emailKeys[i], unescapeText(p.value))
		}
	}
	for i, p := range phoneSlots(c) {
		if p != nil {
			put(phones[i].key, phoneValue(p))
		}
	}
	if p := c.first("ORG"); p != nil {
		put(fCompany, unescapeText(splitEscaped(p.value, ';')[0]))
	}
	if p := c.first("TITLE"); p != nil {
		put(fJobTitle, unescapeText(p.value))
	}
	return it
}

// phoneValue is a TEL's number, without the "tel:" of a 4.0 URI value.
func phoneValue(p *vprop) string {
	v := unescapeText(p.value)
	if len(v) > 4 && strings.EqualFold(v[:4], "tel:") {
		v = v[4:]
	}
	return v
}

// emailSlots assigns EMAIL properties to Email1..3: by TYPE first
// (work, home, other), then the rest in order into the free slots.
func emailSlots(c *card) [3]*vprop {
	var slots [3]*vprop
	var emails []*vprop
	for _, p := range c.props {
		if p.name == "EMAIL" && canon(unescapeText(p.value)) != "" {
			emails = append(emails, p)
		}
	}
	used := map[*vprop]bool{}
	for _, p := range emails {
		t := p.types()
		for i, typ := range emailTypes {
			if t[typ] && slots[i] == nil {
				slots[i], used[p] = p, true
				break
			}
		}
	}
	for _, p := range emails {
		if used[p] {
			continue
		}
		for i := range slots {
			if slots[i] == nil {
				slots[i], used[p] = p, true
				break
			}
		}
	}
	return slots
}

// phoneSlots assigns TEL properties to the phones fields: the first cell
// number is the mobile, the first other work or home number (not a fax or
// pager) the business or home phone.
func phoneSlots(c *card) [3]*vprop {
	var slots [3]*vprop
	for _, p := range c.props {
		if p.name != "TEL" || canon(phoneValue(p)) == "" {
			continue
		}
		t := p.types()
		if t["fax"] || t["pager"] {
			continue
		}
		for i, ph := range phones {
			if t[ph.match] {
				if slots[i] == nil {
					slots[i] = p
				}
				break
			}
		}
	}
	return slots
}
