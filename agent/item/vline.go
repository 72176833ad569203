package item

import (
	"errors"
	"strings"

	"crmsync/agent/internal/contentline"
)

// The vCard side uses its own content-line layer instead of go-vcard's
// Decoder/Encoder, because go-vcard cannot carry a property over unchanged:
// its decoder forgets which commas were escaped (CATEGORIES:a,b and
// CATEGORIES:a\,b decode alike), and its encoder escapes every comma
// (a PHOTO data: URI becomes "base64\,...", a two-category list becomes one
// category), writes parameter values unquoted (an ADR LABEL with a colon
// breaks the line) and never folds. TestGoVcardLosesData shows each.
// Keeping the server's lines verbatim is the only way to keep what the
// codec does not own "as it was".

// vprop is one vCard content line.
type vprop struct {
	raw    string // the line as the server wrote it (folds included); "" once the codec changes it
	group  string
	name   string // upper case; "" for a line that does not parse, which is kept verbatim
	params []vparam
	value  string // still escaped
}

// vparam is one parameter, its values without quotes.
type vparam struct {
	name   string
	values []string
}

// card is the content lines between BEGIN:VCARD and END:VCARD.
type card struct {
	props []*vprop
}

// logicalLine is an unfolded line and the folded text it came from.
type logicalLine struct {
	text, raw string
}

// unfold joins folded lines (RFC 6350 section 3.2). It builds each line
// once, so a hostile text of many tiny folds costs linear time.
func unfold(s string) []logicalLine {
	phys := strings.Split(s, "\n")
	var out []logicalLine
	for i := 0; i < len(phys); {
		first := strings.TrimSuffix(phys[i], "\r")
		j := i + 1
		for j < len(phys) {
			p := strings.TrimSuffix(phys[j], "\r")
			if p == "" || (p[0] != ' ' && p[0] != '\t') {
				break
			}
			j++
		}
		if first == "" && j == i+1 {
			i = j
			continue
		}
		var text, raw strings.Builder
		text.WriteString(first)
		raw.WriteString(first)
		for k := i + 1; k < j; k++ {
			p := strings.TrimSuffix(phys[k], "\r")
			text.WriteString(p[1:])
			raw.WriteString("\r\n")
			raw.WriteString(p)
		}
		out = append(out, logicalLine{text.String(), raw.String()})
		i = j
	}
	return out
}

// parseVCard reads the first vCard of data. A card without END:VCARD is
// accepted with the lines it has: a truncated card still says who it is.
func parseVCard(data []byte) (*card, error) {
	var c *card
	for _, l := range unfold(string(data)) {
		if c == nil {
			if isMarker(l.text, "BEGIN") {
				c = &card{}
			}
			continue
		}
		if isMarker(l.text, "END") {
			return c, nil
		}
		p := parseVLine(l.text)
		p.raw = l.raw
		c.props = append(c.props, p)
	}
	if c == nil {
		return nil, errors.New("the text has no BEGIN:VCARD line, and a contact must be a vCard")
	}
	return c, nil
}

func isMarker(line, word string) bool {
	return strings.EqualFold(strings.TrimSpace(line), word+":VCARD")
}

// parseVLine splits "group.NAME;P=a,"b";Q=c:value". A line that does not
// follow that shape gets an empty name, so it is ignored and kept.
func parseVLine(s string) *vprop {
	p := &vprop{}
	i := strings.IndexAny(s, ";:")
	if i < 0 {
		return p
	}
	head := s[:i]
	if dot := strings.LastIndexByte(head, '.'); dot >= 0 {
		p.group, head = head[:dot], head[dot+1:]
	}
	name := strings.ToUpper(strings.TrimSpace(head))
	rest := s[i:]
	for len(rest) > 0 && rest[0] == ';' {
		rest = rest[1:]
		j := strings.IndexAny(rest, "=;:")
		if j < 0 {
			return &vprop{}
		}
		pname := strings.ToUpper(strings.TrimSpace(rest[:j]))
		if rest[j] != '=' {
			// vCard 2.1 style bare type ("TEL;WORK;VOICE:"), still
			// written by some apps into 3.0 cards.
			if pname != "" {
				p.params = append(p.params, vparam{"TYPE", []string{rest[:j]}})
			}
			rest = rest[j:]
			continue
		}
		rest = rest[j+1:]
		var vals []string
		for {
			var v string
			if len(rest) > 0 && rest[0] == '"' {
				k := strings.IndexByte(rest[1:], '"')
				if k < 0 {
					return &vprop{}
				}
				v, rest = rest[1:1+k], rest[k+2:]
			} else {
				k := strings.IndexAny(rest, ",;:")
				if k < 0 {
					return &vprop{}
				}
				v, rest = rest[:k], rest[k:]
			}
			vals = append(vals, v)
			if len(rest) > 0 && rest[0] == ',' {
				rest = rest[1:]
				continue
			}
			break
		}
		p.params = append(p.params, vparam{pname, vals})
	}
	if len(rest) == 0 || rest[0] != ':' {
		return &vprop{}
	}
	p.name = name
	p.value = rest[1:]
	return p
}

// types lists the TYPE values of p, lower case, "a,b" split.
func (p *vprop) types() map[string]bool {
	t := map[string]bool{}
	for _, prm := range p.params {
		if prm.name != "TYPE" {
			continue
		}
		for _, v := range prm.values {
			for _, s := range strings.Split(v, ",") {
				t[strings.ToLower(strings.TrimSpace(s))] = true
			}
		}
	}
	return t
}

// setType replaces the TYPE values the codec decides (drop) with typ,
// keeping any other type (INTERNET, X-...) the line had.
func (p *vprop) setType(drop map[string]bool, typ ...string) {
	var kept []string
	var out []vparam
	for _, prm := range p.params {
		if prm.name != "TYPE" {
			out = append(out, prm)
			continue
		}
		for _, v := range prm.values {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" && !drop[strings.ToLower(s)] {
					kept = append(kept, s)
				}
			}
		}
	}
	if all := append(append([]string(nil), typ...), kept...); len(all) > 0 {
		out = append(out, vparam{"TYPE", all})
	}
	p.params = out
	p.raw = ""
}

// delParam removes a parameter.
func (p *vprop) delParam(name string) {
	out := p.params[:0]
	for _, prm := range p.params {
		if prm.name != name {
			out = append(out, prm)
		}
	}
	p.params = out
	p.raw = ""
}

// setParam sets a parameter to one value.
func (p *vprop) setParam(name, value string) {
	p.delParam(name)
	p.params = append(p.params, vparam{name, []string{value}})
}

// setValue replaces the (escaped) value.
func (p *vprop) setValue(escaped string) {
	p.value = escaped
	p.raw = ""
}

// write appends the line: verbatim if untouched, else formatted and folded.
func (p *vprop) write(b *strings.Builder) {
	if p.raw != "" {
		b.WriteString(p.raw)
		b.WriteString("\r\n")
		return
	}
	var l strings.Builder
	if p.group != "" {
		l.WriteString(p.group)
		l.WriteByte('.')
	}
	l.WriteString(p.name)
	for _, prm := range p.params {
		l.WriteByte(';')
		l.WriteString(prm.name)
		l.WriteByte('=')
		for i, v := range prm.values {
			if i > 0 {
				l.WriteByte(',')
			}
			v = safeParam(v)
			if strings.ContainsAny(v, ",;:") {
				v = `"` + v + `"`
			}
			l.WriteString(v)
		}
	}
	l.WriteByte(':')
	l.WriteString(p.value)
	contentline.Fold(b, l.String())
}

// first returns the first property with the name, or nil.
func (c *card) first(name string) *vprop {
	for _, p := range c.props {
		if p.name == name {
			return p
		}
	}
	return nil
}

// remove deletes the given property.
func (c *card) remove(x *vprop) {
	out := c.props[:0]
	for _, p := range c.props {
		if p != x {
			out = append(out, p)
		}
	}
	c.props = out
}

// removeAll deletes every property with the name.
func (c *card) removeAll(name string) {
	out := c.props[:0]
	for _, p := range c.props {
		if p.name != name {
			out = append(out, p)
		}
	}
	c.props = out
}

// add inserts p after the last property of the same name, so a new email
// sits with the others, or at the end.
func (c *card) add(p *vprop) {
	at := len(c.props)
	for i, q := range c.props {
		if q.name == p.name {
			at = i + 1
		}
	}
	c.props = append(c.props, nil)
	copy(c.props[at+1:], c.props[at:])
	c.props[at] = p
}

// set gives the first property with the name the escaped value, adding it
// when missing; other properties of that name (other languages) stay.
func (c *card) set(name, escaped string) {
	if p := c.first(name); p != nil {
		if p.value != escaped {
			p.setValue(escaped)
		}
		return
	}
	c.add(&vprop{name: name, value: escaped})
}

// bytes writes the card. VERSION goes first, as RFC 6350 requires.
func (c *card) bytes() []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\n")
	if v := c.first("VERSION"); v != nil {
		v.write(&b)
	}
	for _, p := range c.props {
		if p.name != "VERSION" {
			p.write(&b)
		}
	}
	b.WriteString("END:VCARD\r\n")
	return []byte(b.String())
}
