package item

import (
	"strings"
)

// canon is the canonical form of a text value: line breaks as "\n", no
// surrounding space, so equal values compare equal whichever app wrote them.
func canon(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// unescapeText undoes the TEXT escapes vCard and iCalendar share. An
// unknown escape is kept as written: some apps write Windows paths
// unescaped, and dropping their backslashes would corrupt them.
func unescapeText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		case '\\', ',', ';':
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// escapeText applies the TEXT escapes (backslash, comma, semicolon, line
// break) of RFC 6350 section 3.4 and RFC 5545 section 3.3.11.
func escapeText(s string) string {
	return textEscaper.Replace(s)
}

var textEscaper = strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`, "\r", "")

// splitEscaped splits an escaped value on sep where sep is not escaped.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// textList decodes an escaped comma-separated list such as CATEGORIES,
// dropping empty entries.
func textList(raw string) []string {
	var out []string
	for _, p := range splitEscaped(raw, ',') {
		if t := canon(unescapeText(p)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// safeParam makes a parameter value writable: a parameter value cannot hold
// a double quote or a control character in either format, so they become
// an apostrophe and a space.
func safeParam(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, s)
}
