package maildir

import "crmsync/agent/mimetext"

// Text decoding lives in mimetext, which the body reader of outbox shares,
// so a charset reads the same in a header and in a body. These names keep
// the field parsers of this package short; each is a direct call, and adds
// no allocation to the header path.

// toValidUTF8 reads raw header bytes as UTF-8, with windows-1252 for bytes
// that are not (mimetext.Fallback). The result is always valid UTF-8.
func toValidUTF8(b []byte) string { return mimetext.UTF8(b) }

// decodeWords decodes the RFC 2047 encoded words in valid UTF-8 text.
func decodeWords(s string) string { return mimetext.DecodeWords(s) }

// cleanText collapses whitespace and control characters for display.
func cleanText(s string) string { return mimetext.Collapse(s) }

// decodeText turns a raw unstructured field value into clean UTF-8 text.
func decodeText(raw []byte) string { return mimetext.Header(raw) }

// isWSPOnly reports whether s holds nothing but blanks and line breaks.
func isWSPOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' {
			return false
		}
	}
	return true
}

// dropSpace is a strings.Map function that removes blanks and line breaks,
// as folds inside a message ID need.
func dropSpace(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}
