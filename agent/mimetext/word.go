package mimetext

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxWordText bounds how far the scanner looks for the end of one encoded
// word. Real words are at most 75 bytes (some mailers write a few hundred);
// the bound keeps a header full of unterminated "=?" openers linear.
const maxWordText = 2048

// Header turns the raw value of an unstructured header field (Subject, a
// display name) into display text: raw 8-bit bytes read as UTF8 reads them,
// encoded words decoded with DecodeWords, and the result Collapsed. Plain
// text costs one allocation, the string returned.
func Header(raw []byte) string {
	// Collapse trims the ends anyway; trimming them first lets the usual
	// value (" Subject text" after the colon) pass Collapse untouched.
	return Collapse(DecodeWords(UTF8(bytes.Trim(raw, " \t\r\n"))))
}

// encodedWord is one parsed RFC 2047 word.
type encodedWord struct {
	charset string // as written, language suffix included
	enc     byte   // 'B' or 'Q'
	text    string // the encoded text between the third '?' and "?="
	end     int    // index just past "?="
}

// parseWord parses an encoded word starting at s[p] ("=?"). It is lenient
// about what mailers get wrong: whitespace before the encoding letter and
// whitespace inside the encoded text.
func parseWord(s string, p int) (encodedWord, bool) {
	var w encodedWord
	i := p + 2
	start := i
	for i < len(s) && s[i] != '?' {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '=' || i-start > 64 {
			return w, false
		}
		i++
	}
	if i >= len(s) || i == start {
		return w, false
	}
	w.charset = s[start:i]
	i++ // '?'
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i+1 >= len(s) || s[i+1] != '?' {
		return w, false
	}
	switch s[i] {
	case 'b', 'B':
		w.enc = 'B'
	case 'q', 'Q':
		w.enc = 'Q'
	default:
		return w, false
	}
	i += 2
	limit := min(len(s), i+maxWordText)
	j := strings.Index(s[i:limit], "?=")
	if j < 0 {
		return w, false
	}
	w.text = s[i : i+j]
	w.end = i + j + 2
	return w, true
}

// wordBytes appends the transfer decoding of a word to buf. ok is false for
// base64 that cannot be decoded even leniently; buf is then returned as it
// was.
func wordBytes(w encodedWord, buf []byte) ([]byte, bool) {
	if w.enc == 'Q' {
		return qDecode(w.text, buf), true
	}
	t := strings.TrimRight(strings.Map(dropSpace, w.text), "=")
	if len(t)%4 == 1 {
		return buf, false
	}
	n := base64.RawStdEncoding.DecodedLen(len(t))
	start := len(buf)
	buf = slices.Grow(buf, n)[:start+n]
	m, err := base64.RawStdEncoding.Decode(buf[start:], []byte(t))
	if err != nil {
		return buf[:start], false
	}
	return buf[:start+m], true
}

func dropSpace(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}

// qDecode appends the RFC 2047 "Q" decoding of t to buf. A malformed escape
// is kept literally.
func qDecode(t string, buf []byte) []byte {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '_':
			buf = append(buf, ' ')
		case c == '=' && i+2 < len(t) && isHex(t[i+1]) && isHex(t[i+2]):
			buf = append(buf, unhex(t[i+1])<<4|unhex(t[i+2]))
			i += 2
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// isWSPOnly reports whether s holds nothing but blanks and line breaks.
func isWSPOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' {
			return false
		}
	}
	return true
}

// DecodeWords decodes the RFC 2047 encoded words in s, which must already be
// valid UTF-8 (see UTF8), and returns valid UTF-8. Whitespace between
// adjacent encoded words is dropped, and the bytes of adjacent words that
// share a charset are joined before the charset is decoded, so a character
// split across two words survives. A word that cannot be decoded is kept as
// written; a word in an unknown charset is decoded as Decode does it. One
// pass, no recursion: a field of thousands of words costs linear time. A
// string without "=?" is returned as it is, without allocating.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var (
		out      strings.Builder
		pending  []byte // decoded bytes of the current run of same-charset words
		pendCS   string // normalised charset of pending; "" when there is no run
		inRun    bool   // the last thing written was an encoded word
		lastEnd  int    // s[lastEnd:] has not been written yet
		scanFrom int
	)
	out.Grow(len(s))
	flush := func() {
		if pendCS != "" {
			out.WriteString(Decode(pendCS, pending))
		}
		pending, pendCS = pending[:0], ""
	}
	for {
		k := strings.Index(s[scanFrom:], "=?")
		if k < 0 {
			break
		}
		p := scanFrom + k
		w, ok := parseWord(s, p)
		if !ok {
			scanFrom = p + 2
			continue
		}
		between := s[lastEnd:p]
		joinable := inRun && isWSPOnly(between)
		cs := normLabel(w.charset)
		if cs == "" {
			cs = "us-ascii"
		}
		same := joinable && cs == pendCS
		var decoded []byte
		var good bool
		if same {
			mark := len(pending)
			if pending, good = wordBytes(w, pending); !good {
				pending = pending[:mark]
			}
		} else {
			decoded, good = wordBytes(w, nil)
		}
		if !good {
			// Keep the undecodable word as written.
			flush()
			out.WriteString(between)
			out.WriteString(s[p:w.end])
			inRun = false
			lastEnd, scanFrom = w.end, w.end
			continue
		}
		if !same {
			flush()
			if !joinable {
				out.WriteString(between)
			}
			pendCS = cs
			pending = append(pending, decoded...)
		}
		inRun = true
		lastEnd, scanFrom = w.end, w.end
	}
	flush()
	out.WriteString(s[lastEnd:])
	return out.String()
}

// Collapse makes decoded header text fit for one line of display: control
// characters become spaces, runs of whitespace (folds included) collapse to
// one space, as mail clients show them, and the ends are trimmed. Invalid
// UTF-8 becomes U+FFFD. Text that is already so is returned as it is,
// without allocating: most subjects and names are.
func Collapse(s string) string {
	if collapsed(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == ' ' {
			space = true
			continue
		}
		if space && sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		space = false
		sb.WriteRune(r)
	}
	return sb.String()
}

// collapsed reports whether Collapse would return s unchanged.
func collapsed(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace, high := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 || c == 0x7f:
			return false
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		default:
			prevSpace = false
			high = high || c >= utf8.RuneSelf
		}
	}
	return !high || utf8.ValidString(s)
}
