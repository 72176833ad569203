package maildir

import (
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// maxWordText bounds how far the scanner looks for the end of one encoded
// word. Real words are at most 75 bytes (some mailers write a few hundred);
// the bound keeps a header full of unterminated "=?" openers linear.
const maxWordText = 2048

// charsetAliases maps labels seen in real mail that the WHATWG index does not
// know to one it does. Read-only.
var charsetAliases = map[string]string{
	"cp932":             "shift_jis",
	"ms932":             "shift_jis",
	"sjis":              "shift_jis",
	"x-sjis":            "shift_jis",
	"shift-jis":         "shift_jis",
	"cp936":             "gbk",
	"ms936":             "gbk",
	"euc-cn":            "gbk",
	"x-gbk":             "gbk",
	"cp949":             "euc-kr",
	"ks_c_5601":         "euc-kr",
	"ksc5601":           "euc-kr",
	"ks_c_5601-1989":    "euc-kr",
	"iso-2022-jp-2":     "iso-2022-jp",
	"iso-2022-jp-3":     "iso-2022-jp",
	"csiso2022jp":       "iso-2022-jp",
	"tis620":            "windows-874",
	"iso-8859-11":       "windows-874",
	"iso8859-11":        "windows-874",
	"utf8":              "utf-8",
	"unicode-1-1-utf-8": "utf-8",
	"ascii":             "us-ascii",
	"cp1252":            "windows-1252",
	"cp1251":            "windows-1251",
	"cp1250":            "windows-1250",
	"big5-hkscs":        "big5",
	"cp950":             "big5",
}

// normCharset turns an encoded word's charset into a lookup label: lower
// case, without the RFC 2231 language suffix ("utf-8*en") and stray quotes.
func normCharset(label string) string {
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	return strings.ToLower(strings.Trim(label, " \t\"'"))
}

// lookupCharset returns the decoder for a normalised label. utf8 is true for
// the labels whose bytes are taken as UTF-8 (with the Latin-1 fallback of
// toValidUTF8 for invalid bytes); ok is false when Go cannot decode the label.
func lookupCharset(label string) (enc encoding.Encoding, utf8Like, ok bool) {
	if a, found := charsetAliases[label]; found {
		label = a
	}
	switch label {
	case "utf-8", "us-ascii", "ansi_x3.4-1968", "iso646-us", "":
		return nil, true, true
	case "utf-16":
		// RFC 2781: big-endian unless a byte order mark says otherwise.
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM), false, true
	case "utf-16be":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), false, true
	case "utf-16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), false, true
	case "gb2312", "gbk":
		// Mailers label GBK text as GB2312; GB18030 decodes both.
		return simplifiedchinese.GB18030, false, true
	case "iso-2022-jp":
		return japanese.ISO2022JP, false, true
	}
	if e, err := htmlindex.Get(label); err == nil && e != nil {
		return e, false, true
	}
	if e, err := ianaindex.MIME.Encoding(label); err == nil && e != nil {
		return e, false, true
	}
	return nil, false, false
}

// decodeCharset converts b from the charset label to valid UTF-8. known is
// false when the label is not one Go can decode; the bytes are then read as
// UTF-8 or Latin-1 so that the text stays readable.
func decodeCharset(label string, b []byte) (s string, known bool) {
	norm := normCharset(label)
	enc, utf8Like, ok := lookupCharset(norm)
	if !ok || utf8Like {
		return toValidUTF8(b), ok
	}
	if norm == "utf-16" && littleEndianGuess(b) {
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return toValidUTF8(b), true
	}
	return toValidUTF8(out), true
}

// littleEndianGuess reports whether UTF-16 text without a byte order mark
// looks little-endian: Windows mailers label UTF-16LE as plain "utf-16", and
// mostly-Latin text then has its zero bytes at odd offsets.
func littleEndianGuess(b []byte) bool {
	if len(b) < 2 || b[0] == 0xFE && b[1] == 0xFF || b[0] == 0xFF && b[1] == 0xFE {
		return false
	}
	even, odd := 0, 0
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 {
			even++
		}
		if b[i+1] == 0 {
			odd++
		}
	}
	return odd > even
}

// toValidUTF8 keeps valid UTF-8 sequences and reads every other byte as
// windows-1252, the charset of most raw 8-bit headers that are not UTF-8.
// NUL bytes are dropped. The result is always valid UTF-8.
func toValidUTF8(b []byte) string {
	if utf8.Valid(b) && !containsNUL(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			sb.WriteRune(charmap.Windows1252.DecodeByte(b[0]))
			n = 1
		case r == 0:
		default:
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

func containsNUL(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
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

// wordBytes decodes the transfer encoding of a word. ok is false for
// base64 that cannot be decoded even leniently.
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

func isWSPOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' {
			return false
		}
	}
	return true
}

// decodeWords decodes the RFC 2047 encoded words in s, which must already be
// valid UTF-8, and returns valid UTF-8. Whitespace between adjacent encoded
// words is dropped, and the bytes of adjacent words that share a charset are
// joined before the charset is decoded, so a character split across two
// words survives. A word that cannot be decoded is kept as written. One pass,
// no recursion: a field of thousands of words costs linear time.
func decodeWords(s string) string {
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
			d, _ := decodeCharset(pendCS, pending)
			out.WriteString(d)
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
		cs := normCharset(w.charset)
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

// cleanText makes decoded header text fit for display: control characters
// become spaces, runs of whitespace (folds included) collapse to one space,
// as mail clients show them, and the ends are trimmed.
func cleanText(s string) string {
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

// decodeText turns a raw unstructured field value into clean UTF-8 text.
func decodeText(raw []byte) string {
	return cleanText(decodeWords(toValidUTF8(raw)))
}
