package maildir

import (
	"net/mail"
	"strings"
)

// Address is one mailbox from an address field.
type Address struct {
	// Name is the display name decoded to UTF-8 with whitespace collapsed;
	// empty when the mailbox has none.
	Name string
	// Addr is the addr-spec, trimmed, without comments or route, with the
	// domain part lower-cased (the local part keeps its case, which RFC 5321
	// leaves to the receiving host). Never empty in a parsed Address.
	Addr string
}

// netmailLimit is the largest field given to net/mail. Longer fields go to
// the lenient parser, whose cost is linear in the field length.
const netmailLimit = 64 << 10

// wordGuard stands in for "=?" while net/mail parses a field. net/mail
// decodes each encoded word on its own and not at all inside quoted strings;
// hiding the words lets decodeWords handle them all the same way afterwards
// (adjacent words joined, quoted words decoded, unknown charsets kept
// readable). U+FDD0 is a noncharacter that no mailer writes.
const wordGuard = "\uFDD0?"

// parseAddressList parses the raw value of an address field (From, To, Cc).
// It never fails: mailboxes that parse are kept, the rest is dropped.
func parseAddressList(raw []byte) []Address {
	s := toValidUTF8(raw)
	if isWSPOnly(s) {
		return nil
	}
	guarded := strings.ReplaceAll(s, "=?", wordGuard)
	if len(guarded) <= netmailLimit {
		if list, err := mail.ParseAddressList(guarded); err == nil {
			return fromNetMail(list, nil)
		}
	}
	out := parseLenient(s)
	if len(out) == 0 && strings.Contains(s, `"`) {
		// An unbalanced quote swallows the rest of the field; try again
		// as if the quotes were not there.
		out = parseLenient(strings.ReplaceAll(s, `"`, " "))
	}
	return out
}

// parseLenient parses the list element by element, with net/mail where it
// accepts the element and lenientMailboxes where it does not.
func parseLenient(s string) []Address {
	var out []Address
	for _, piece := range splitList(s) {
		if isWSPOnly(piece) {
			continue
		}
		g := strings.ReplaceAll(piece, "=?", wordGuard)
		if len(g) <= netmailLimit {
			if a, err := mail.ParseAddress(g); err == nil {
				out = fromNetMail([]*mail.Address{a}, out)
				continue
			}
		}
		out = append(out, lenientMailboxes(piece)...)
	}
	return out
}

func fromNetMail(list []*mail.Address, out []Address) []Address {
	for _, a := range list {
		addr := normAddr(strings.ReplaceAll(a.Address, wordGuard, "=?"))
		if addr == "" {
			continue
		}
		name := strings.ReplaceAll(a.Name, wordGuard, "=?")
		out = append(out, Address{Name: cleanText(decodeWords(name)), Addr: addr})
	}
	return out
}

// splitList cuts an address list at top-level commas and semicolons, and
// drops group display names ("team:"), honouring quoted strings, comments
// and angle brackets. Unbalanced quotes or brackets run to the end.
func splitList(s string) []string {
	var (
		pieces []string
		start  int
		quote  bool
		depth  int // comment nesting
		angle  bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quote || depth > 0):
			i++
		case quote:
			if c == '"' {
				quote = false
			}
		case depth > 0:
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '"':
			quote = true
		case c == '(':
			depth++
		case angle:
			if c == '>' {
				angle = false
			}
		case c == '<':
			angle = true
		case c == ',' || c == ';':
			pieces = append(pieces, s[start:i])
			start = i + 1
		case c == ':':
			// A group starts: what came before is its display name.
			start = i + 1
		}
	}
	return append(pieces, s[start:])
}

// tokKind classifies the lexical pieces the lenient parser looks at.
type tokKind int

const (
	tokWord    tokKind = iota // a run of non-special text, '@' included
	tokQuoted                 // a quoted string, unescaped
	tokComment                // a comment's text, unescaped
	tokAngle                  // what stood between < and >
)

type token struct {
	kind tokKind
	text string
}

// tokenize splits one list element for the lenient parser.
func tokenize(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' || c == ':':
			i++
		case c == '"':
			text, n := readDelimited(s[i+1:], '"', 0)
			toks = append(toks, token{tokQuoted, text})
			i += 1 + n
		case c == '(':
			text, n := readDelimited(s[i+1:], ')', '(')
			toks = append(toks, token{tokComment, text})
			i += 1 + n
		case c == '<':
			j := strings.IndexByte(s[i+1:], '>')
			if j < 0 {
				toks = append(toks, token{tokAngle, s[i+1:]})
				i = len(s)
			} else {
				toks = append(toks, token{tokAngle, s[i+1 : i+1+j]})
				i += j + 2
			}
		case c == '>':
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n\"(<>,;:", rune(s[j])) {
				j++
			}
			toks = append(toks, token{tokWord, s[i:j]})
			i = j
		}
	}
	return toks
}

// joinDotted joins words that whitespace split at a dot or an at sign
// (obsolete syntax: "jdoe@test . example").
func joinDotted(toks []token) []token {
	out := toks[:0]
	for _, t := range toks {
		if n := len(out); n > 0 && t.kind == tokWord && out[n-1].kind == tokWord {
			p := out[n-1].text
			if strings.HasSuffix(p, ".") || strings.HasSuffix(p, "@") || t.text[0] == '.' || t.text[0] == '@' {
				out[n-1].text = p + t.text
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

// readDelimited reads up to the closing byte, handling backslash escapes
// and, when open is non-zero, nesting. It returns the unescaped text and how
// many bytes it consumed, the closing byte included.
func readDelimited(s string, closing, open byte) (string, int) {
	var sb strings.Builder
	depth := 1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			sb.WriteByte(s[i])
		case open != 0 && c == open:
			depth++
			sb.WriteByte(c)
		case c == closing:
			depth--
			if depth == 0 {
				return sb.String(), i + 1
			}
			sb.WriteByte(c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), len(s)
}

// lenientMailboxes recovers the mailboxes of one list element that net/mail
// refused: missing commas between mailboxes, unquoted specials in display
// names, route addresses, addresses without brackets.
func lenientMailboxes(piece string) []Address {
	toks := joinDotted(tokenize(piece))
	hasAngle := false
	for _, t := range toks {
		if t.kind == tokAngle {
			hasAngle = true
			break
		}
	}
	var (
		out     []Address
		phrase  []string
		comment string
	)
	name := func() string {
		n := strings.Join(phrase, " ")
		if strings.TrimSpace(n) == "" {
			n = comment
		}
		phrase, comment = phrase[:0], ""
		return cleanText(decodeWords(n))
	}
	for i, t := range toks {
		switch t.kind {
		case tokComment:
			if comment == "" {
				comment = t.text
			}
			// "addr (Name)": the comment names the bare address before it.
			if !hasAngle && len(out) > 0 && out[len(out)-1].Name == "" && i > 0 && toks[i-1].kind == tokWord {
				out[len(out)-1].Name = cleanText(decodeWords(t.text))
				comment = ""
			}
		case tokQuoted:
			phrase = append(phrase, t.text)
		case tokAngle:
			n := name()
			if a := normAddr(t.text); a != "" {
				out = append(out, Address{Name: n, Addr: a})
			}
		case tokWord:
			if !hasAngle && strings.Contains(t.text, "@") {
				if a := normAddr(t.text); a != "" {
					out = append(out, Address{Name: name(), Addr: a})
				}
				continue
			}
			phrase = append(phrase, t.text)
		}
	}
	// Bare addresses after the last angle address ("<a@x> b@y").
	if hasAngle {
		for _, w := range phrase {
			if strings.Contains(w, "@") {
				if a := normAddr(w); a != "" {
					out = append(out, Address{Addr: a})
				}
			}
		}
	}
	return out
}

// normAddr cleans an addr-spec: comments, whitespace and an obsolete route
// ("@relay,@relay2:") go, the domain is lower-cased. A result without any
// usable text is "".
func normAddr(s string) string {
	var sb strings.Builder
	var parts []string
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '(':
			depth++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '<' || c == '>':
			if sb.Len() > 0 {
				parts = append(parts, sb.String())
				sb.Reset()
			}
		default:
			sb.WriteByte(c)
		}
	}
	if sb.Len() > 0 {
		parts = append(parts, sb.String())
	}
	a := pickAddrPart(parts)
	if strings.HasPrefix(a, "@") {
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			a = a[i+1:]
		}
	}
	a = strings.Trim(a, ".,;:")
	if a == "" || a == "@" {
		return ""
	}
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[:i+1] + strings.ToLower(a[i+1:])
	}
	return toValidUTF8([]byte(a))
}

// pickAddrPart rebuilds an addr-spec that whitespace cut into parts. Parts
// meeting at a dot or an at sign belong together (obsolete syntax allows
// "jdoe@test . example"); otherwise the parts are separate words and the
// last one holding an '@' is the address ("<junk addr@host>").
func pickAddrPart(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	var groups []string
	for _, p := range parts {
		if n := len(groups); n > 0 {
			g := groups[n-1]
			if strings.HasSuffix(g, ".") || strings.HasSuffix(g, "@") || p[0] == '.' || p[0] == '@' {
				groups[n-1] = g + p
				continue
			}
		}
		groups = append(groups, p)
	}
	for i := len(groups) - 1; i >= 0; i-- {
		if strings.Contains(groups[i], "@") {
			return groups[i]
		}
	}
	return strings.Join(groups, "")
}
