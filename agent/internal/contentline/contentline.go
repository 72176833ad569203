// Package contentline writes the content lines vCard (RFC 6350) and
// iCalendar (RFC 5545) share, folded as both ask.
package contentline

import "unicode/utf8"

// Writer is where a folded line goes: a strings.Builder or a
// bytes.Buffer.
type Writer interface {
	WriteString(s string) (int, error)
}

// Fold writes one content line to w folded at 75 octets, a continuation
// starting with a space, never inside a UTF-8 sequence, and ends it with
// CRLF.
func Fold(w Writer, line string) {
	limit := 75
	for len(line) > limit {
		i := limit
		for i > 1 && !utf8.RuneStart(line[i]) {
			i--
		}
		w.WriteString(line[:i])
		w.WriteString("\r\n ")
		line = line[i:]
		limit = 74 // the leading space of a continuation counts
	}
	w.WriteString(line)
	w.WriteString("\r\n")
}
