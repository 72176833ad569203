package compose

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"crmsync/agent/internal/contentline"
)

// maxParam bounds a CN parameter in octets. The agent's iCalendar reader
// refuses parameters over 1 KiB (go-ical parses them in quadratic time),
// and no one's name is that long.
const maxParam = 256

// setValue sets a property to an already escaped value; "" leaves it out.
// Not Props.SetText: it writes VALUE=TEXT on properties it has no default
// type for, which is noise.
func setValue(c *ical.Component, name, value string) {
	if value == "" {
		return
	}
	p := ical.NewProp(name)
	p.Value = value
	c.Props.Set(p)
}

// personProp is an ORGANIZER or ATTENDEE: mailto: the checked address,
// with the cleaned name as CN.
func personProp(name string, a Address) (*ical.Prop, error) {
	addr, err := checkAddr(a.Addr)
	if err != nil {
		return nil, err
	}
	p := ical.NewProp(name)
	p.Value = "mailto:" + addr
	if cn := paramText(a.Name); cn != "" {
		p.Params.Set(ical.ParamCommonName, cn)
	}
	return p, nil
}

// paramText makes a name a parameter value, which cannot hold a double
// quote or a control character: quotes become apostrophes, and the value
// is cut to maxParam octets.
func paramText(s string) string {
	s = strings.ReplaceAll(cleanText(s), `"`, "'")
	if len(s) <= maxParam {
		return s
	}
	s = s[:maxParam]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimSpace(s)
}

// cleanBlock cleans multi-line text (a description): valid UTF-8, line
// breaks as "\n", no control characters but tab, which iCalendar TEXT
// cannot hold, and no blank lines at either end.
func cleanBlock(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// escapeText applies the TEXT escapes of RFC 5545 section 3.3.11.
func escapeText(s string) string { return textEscaper.Replace(s) }

var textEscaper = strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`)

// encodeCalendar encodes with go-ical and folds the lines its encoder
// leaves whole.
func encodeCalendar(cal *ical.Calendar) ([]byte, error) {
	var raw bytes.Buffer
	if err := ical.NewEncoder(&raw).Encode(cal); err != nil {
		return nil, fmt.Errorf("encode the calendar: %w", err)
	}
	var out bytes.Buffer
	out.Grow(raw.Len() + raw.Len()/32)
	for _, line := range strings.SplitAfter(raw.String(), "\r\n") {
		if line != "" {
			contentline.Fold(&out, strings.TrimSuffix(line, "\r\n"))
		}
	}
	return out.Bytes(), nil
}
