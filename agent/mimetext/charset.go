// Package mimetext turns the bytes of mail into UTF-8 text: charset lookup
// and decoding, RFC 2047 encoded words in header fields, and HTML bodies
// rendered as the plain text a mail client shows. The header parser of
// maildir and the body reader of outbox both use it, so a charset label means
// the same thing in a message's header and in its body.
//
// Nothing here fails on input: text in a charset that cannot be decoded is
// kept readable (see Fallback), and every string returned is valid UTF-8.
package mimetext

import (
	"bytes"
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

// Fallback names the charset that bytes are read as when they are not valid
// UTF-8 and no known charset says otherwise: under an unknown label, under a
// UTF-8 or US-ASCII label that the bytes break, and in raw 8-bit header
// fields. Valid UTF-8 sequences are always kept as UTF-8, so mislabelled
// UTF-8 stays readable; the remaining bytes are windows-1252, the charset of
// most unlabelled 8-bit mail (and a superset of Latin-1's printable range).
const Fallback = "windows-1252"

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

// normLabel turns a charset label into a lookup key: lower case, without the
// RFC 2231 language suffix ("utf-8*en"), stray quotes and blanks.
func normLabel(label string) string {
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	return strings.ToLower(strings.Trim(label, " \t\"'"))
}

// lookup returns the decoder for a normalised label. utf8Like is true for
// the labels whose bytes are taken as UTF-8 (with the Fallback for invalid
// bytes); ok is false when Go cannot decode the label.
func lookup(label string) (enc encoding.Encoding, utf8Like, ok bool) {
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

// Known reports whether label names a charset that Decode converts, rather
// than one it reads with the Fallback. The empty label counts as US-ASCII.
func Known(label string) bool {
	_, _, ok := lookup(normLabel(label))
	return ok
}

// Decode converts b from the charset label (a MIME charset parameter or the
// charset of an encoded word, in any case, with or without an RFC 2231
// language suffix) to valid UTF-8. An unknown label, and bytes a decoder
// rejects, are read as UTF8 reads them. NUL bytes are dropped.
func Decode(label string, b []byte) string {
	norm := normLabel(label)
	enc, utf8Like, ok := lookup(norm)
	if !ok || utf8Like {
		return UTF8(b)
	}
	if norm == "utf-16" && littleEndianGuess(b) {
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return UTF8(b)
	}
	return UTF8(out)
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

// UTF8 returns bytes of no known charset as text: valid UTF-8 sequences are
// kept and every other byte is read as the Fallback, windows-1252. NUL bytes
// are dropped. The result is always valid UTF-8.
func UTF8(b []byte) string {
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

func containsNUL(b []byte) bool { return bytes.IndexByte(b, 0) >= 0 }
