package compose

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPlainWord is the longest run without a space written as it is in a
// header; a longer one is encoded, so that it can be split across lines.
const maxPlainWord = 76

// cleanText makes a name or subject fit one header line: invalid UTF-8
// becomes U+FFFD, and each run of spaces, control characters (CR, LF, tab
// and NEL among them) and Unicode line separators one space. This is what
// folds line breaks out. A no-break space is kept: it is text.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, isBreak), " ")
}

func isBreak(r rune) bool {
	return r == ' ' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// plainOK reports whether cleaned text may be written without encoding:
// printable ASCII, no "=?" that a reader would take for an encoded word,
// and no word too long to fold.
func plainOK(s string) bool {
	if strings.Contains(s, "=?") {
		return false
	}
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' {
			return false
		}
		if run++; c == ' ' {
			run = 0
		}
		if run > maxPlainWord {
			return false
		}
	}
	return true
}

// subjectTokens is the Subject's tokens: its words, or encoded words.
func subjectTokens(subject string) []string {
	s := cleanText(subject)
	if s == "" {
		return nil
	}
	if plainOK(s) {
		return strings.Split(s, " ")
	}
	return encodedWords(s)
}

// nameTokens is a display name's tokens: a quoted string split at its
// spaces (folding white space is allowed inside one), or encoded words,
// which may hold the commas and quotes a name has too.
func nameTokens(name string) []string {
	if name == "" {
		return nil
	}
	if !plainOK(name) {
		return encodedWords(name)
	}
	name = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name)
	tokens := strings.Split(name, " ")
	tokens[0] = `"` + tokens[0]
	tokens[len(tokens)-1] += `"`
	return tokens
}

// encodedWords writes cleaned text as RFC 2047 "Q" encoded words of at
// most 75 characters, each holding whole characters (a reader may decode
// each word alone). Only letters, digits and "!*+-/" stay as they are, the
// characters Q may leave unencoded in a display name as in a subject.
func encodedWords(s string) []string {
	const prefix, suffix = "=?UTF-8?Q?", "?="
	const room = 75 - len(prefix) - len(suffix)
	var words []string
	var w strings.Builder
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			var b []byte
			for _, c := range buf[:n] {
				b = append(b, '=', hexDigits[c>>4], hexDigits[c&15])
			}
			enc = string(b)
		}
		if w.Len()+len(enc) > room {
			words = append(words, prefix+w.String()+suffix)
			w.Reset()
		}
		w.WriteString(enc)
	}
	if w.Len() > 0 {
		words = append(words, prefix+w.String()+suffix)
	}
	return words
}

const hexDigits = "0123456789ABCDEF"

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
