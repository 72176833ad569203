package mimetext

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTML rendering limits. Hostile markup may open lists without end; beyond
// these depths the text still comes out, just without deeper structure.
const (
	maxListDepth = 64 // list levels remembered for markers and numbers
	maxIndent    = 8  // list levels shown as indentation
)

// HTMLText renders an HTML document (already decoded to UTF-8, see Decode)
// as the plain text a mail client shows for it, at most limit bytes of it; cut
// is true when there was more. It reads the markup with the HTML tokenizer,
// as a browser does: tag names in any case, comments (tags inside them
// included), entities and '>' inside quoted attribute values need nothing
// special.
//
// Text is whitespace-collapsed as HTML collapses it, except inside <pre>.
// <br> is a line break; other block elements (<div>, <li>, <tr>, <table>,
// sections and the like) begin and end a line; <p>, headings, <blockquote>,
// <pre>, <hr> and outermost lists are set off by a blank line, as their
// margins set them off on screen. List items get "• " or "1. ", nested lists
// are indented, and the cells of a table row are joined by a space. The
// content of <script>, <style>, <title>, <template>, <noscript>, <iframe>,
// <noembed> and <noframes> is dropped, which is all a document head shows.
// A line of nothing but blanks and no-break spaces is an empty line, runs of
// empty lines become one, and the text is trimmed. Control characters are
// left to the caller.
func HTMLText(s string, limit int) (text string, cut bool) {
	if limit <= 0 {
		return "", s != ""
	}
	z := html.NewTokenizer(strings.NewReader(s))
	r := renderer{w: textWriter{
		b:      make([]byte, 0, min(len(s), limit)),
		max:    limit,
		nl:     2,
		lineNL: 2,
	}}
	for !r.w.full {
		tt := z.Next()
		if tt == html.ErrorToken {
			break // io.EOF: the tokenizer reads from memory and fails no other way
		}
		r.token(z, tt)
	}
	return r.w.finish()
}

// renderer holds the state of one HTMLText call between tokens.
type renderer struct {
	w        textWriter
	dropText bool      // the next text token is the content of a hidden raw-text element
	template int       // depth of <template> elements; their content is inert
	pre      int       // depth of preformatted elements; whitespace is kept inside
	lists    []listBox // open lists, outermost first, at most maxListDepth
	deep     int       // open lists beyond maxListDepth
	tightP   bool      // the open <p> has no margins (Word's classes)
}

// listBox is one open <ul> or <ol>.
type listBox struct {
	ordered bool
	n       int // items started so far
}

func (r *renderer) token(z *html.Tokenizer, tt html.TokenType) {
	if tt == html.TextToken {
		if !r.dropText && r.template == 0 {
			r.w.text(z.Text(), r.pre > 0)
		}
		return
	}
	r.dropText = false
	if tt != html.StartTagToken && tt != html.EndTagToken && tt != html.SelfClosingTagToken {
		return // comments and doctypes show nothing
	}
	name, hasAttr := z.TagName()
	a := atom.Lookup(name)
	if a == atom.Template {
		if tt == html.StartTagToken {
			r.template++
		} else if tt == html.EndTagToken && r.template > 0 {
			r.template--
		}
		return
	}
	if r.template > 0 {
		return
	}
	if tt == html.EndTagToken {
		r.end(a)
		return
	}
	r.start(z, a, hasAttr, tt == html.SelfClosingTagToken)
}

func (r *renderer) start(z *html.Tokenizer, a atom.Atom, hasAttr, selfClosing bool) {
	switch a {
	case atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Iframe, atom.Noembed, atom.Noframes:
		// The tokenizer reads their content as one raw text token, even
		// after "<script/>", as a browser does.
		r.dropText = true
	case atom.Br:
		r.w.newline()
	case atom.P:
		r.tightP = hasAttr && wordClass(z)
		r.w.breakLine(r.pGap())
	case atom.Pre, atom.Listing, atom.Xmp, atom.Plaintext:
		r.w.breakLine(2)
		if !selfClosing {
			r.pre++
		}
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		r.w.breakLine(r.listGap())
		if selfClosing {
			return
		}
		if len(r.lists) < maxListDepth {
			r.lists = append(r.lists, listBox{ordered: a == atom.Ol})
		} else {
			r.deep++
		}
	case atom.Li:
		r.w.breakLine(1)
		r.w.prefix = r.marker()
	case atom.Td, atom.Th:
		r.w.space = true
	default:
		if n := blockGap(a); n > 0 {
			r.w.breakLine(n)
		}
	}
}

func (r *renderer) end(a atom.Atom) {
	switch a {
	case atom.Br:
		r.w.newline() // "</br>" is a <br> to a browser
	case atom.P:
		r.w.breakLine(r.pGap())
		r.tightP = false
	case atom.Pre, atom.Listing, atom.Xmp, atom.Plaintext:
		if r.pre > 0 {
			r.pre--
		}
		r.w.breakLine(2)
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		if r.deep > 0 {
			r.deep--
		} else if len(r.lists) > 0 {
			r.lists = r.lists[:len(r.lists)-1]
		}
		r.w.breakLine(r.listGap())
	case atom.Li:
		r.w.prefix = "" // an empty item shows nothing
		r.w.breakLine(1)
	case atom.Td, atom.Th:
		r.w.space = true
	default:
		if n := blockGap(a); n > 0 {
			r.w.breakLine(n)
		}
	}
}

// pGap is the line breaks around the open paragraph: Word and Outlook write
// every line as <p class=MsoNormal> with its margins styled away, and a
// blank line after each would double-space their mail; their blank lines
// are paragraphs of a lone &nbsp;.
func (r *renderer) pGap() int {
	if r.tightP {
		return 1
	}
	return 2
}

// listGap is the line breaks around a list: an outermost list has margins,
// a nested one sits right under its item.
func (r *renderer) listGap() int {
	if len(r.lists)+r.deep > 0 {
		return 1
	}
	return 2
}

// marker returns the marker of the next item of the innermost list,
// indented by its depth.
func (r *renderer) marker() string {
	depth := len(r.lists) + r.deep
	indent := strings.Repeat("  ", min(max(depth-1, 0), maxIndent))
	if len(r.lists) == 0 || r.deep > 0 {
		return indent + "• "
	}
	l := &r.lists[len(r.lists)-1]
	l.n++
	if l.ordered {
		return indent + itoa(l.n) + ". "
	}
	return indent + "• "
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// blockGap is the line breaks that the start and the end of element a give:
// 2 for elements set off by margins, 1 for other blocks, 0 for inline ones.
func blockGap(a atom.Atom) int {
	switch a {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote, atom.Hr, atom.Dl, atom.Figure:
		return 2
	case atom.Div, atom.Tr, atom.Dt, atom.Dd, atom.Table, atom.Caption, atom.Section, atom.Article,
		atom.Header, atom.Footer, atom.Nav, atom.Aside, atom.Main, atom.Address, atom.Center, atom.Form,
		atom.Fieldset, atom.Legend, atom.Details, atom.Summary, atom.Figcaption, atom.Body, atom.Html,
		atom.Option, atom.Frameset, atom.Frame:
		return 1
	}
	return 0
}

// wordClass reports whether the current tag has a class of Word's ("Mso"
// followed by the style: MsoNormal, MsoListParagraph, MsoPlainText), whose
// paragraphs Word styles without margins. Outlook on the web prefixes the
// classes of quoted mail with "x_", once per reply. It reads the attributes
// of <p> tags only.
func wordClass(z *html.Tokenizer) bool {
	for {
		key, val, more := z.TagAttr()
		if string(key) == "class" {
			for _, c := range bytes.Fields(val) {
				for len(c) > 2 && c[0]|0x20 == 'x' && c[1] == '_' {
					c = c[2:]
				}
				if len(c) > 3 && c[0]|0x20 == 'm' && c[1]|0x20 == 's' && c[2]|0x20 == 'o' {
					return true
				}
			}
		}
		if !more {
			return false
		}
	}
}

// textWriter builds the rendered text. It writes blanks lazily, so no line
// starts or ends with a collapsed space, and caps runs of line breaks at
// one blank line.
type textWriter struct {
	b         []byte
	max       int    // len(b) never exceeds it
	full      bool   // something did not fit; the rest is dropped
	nl        int    // line breaks at the end of b, at most 2; 2 at the start so nothing leads
	space     bool   // a collapsed blank is due before the next character on this line
	prefix    string // list marker due before the first character of this line
	lineStart int    // offset of the current line in b
	lineNL    int    // nl when the current line started
	visible   bool   // the current line holds a character other than a blank or U+00A0
}

// text writes the content of a text token; pre keeps its blanks and line
// breaks. Invalid UTF-8 becomes U+FFFD.
func (w *textWriter) text(s []byte, pre bool) {
	for len(s) > 0 && !w.full {
		c, n := rune(s[0]), 1
		if c >= utf8.RuneSelf {
			c, n = utf8.DecodeRune(s)
		}
		s = s[n:]
		switch {
		case c == '\n' && pre:
			w.newline()
		case (c == ' ' || c == '\t') && pre:
			w.char(c, false)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			w.space = true
		default:
			w.char(c, c != '\u00a0')
		}
	}
}

// char writes one character; visible is false for blanks that a line of
// nothing else should not keep.
func (w *textWriter) char(c rune, visible bool) {
	if len(w.b) == w.lineStart {
		if w.prefix != "" {
			w.write(w.prefix)
			w.prefix = ""
		}
	} else if w.space {
		w.write(" ")
	}
	w.space = false
	if c == utf8.RuneError {
		w.write("\uFFFD")
	} else {
		w.b = utf8.AppendRune(w.b, c)
		if len(w.b) > w.max {
			w.b = w.b[:len(w.b)-utf8.RuneLen(c)]
			w.full = true
		}
	}
	if !w.full {
		w.nl = 0
		w.visible = w.visible || visible
	}
}

func (w *textWriter) write(s string) {
	if w.full || len(w.b)+len(s) > w.max {
		w.full = true
		return
	}
	w.b = append(w.b, s...)
}

// endLine tidies the current line before a line break: trailing blanks go,
// and a line of nothing but blanks is emptied. It reports whether the line
// was such a blank line, which shows on screen as an empty line.
func (w *textWriter) endLine() (blank bool) {
	w.space = false
	if len(w.b) == w.lineStart {
		return false
	}
	if !w.visible {
		w.b, w.nl = w.b[:w.lineStart], w.lineNL
		return true
	}
	w.b = bytes.TrimRight(w.b, " \t")
	return false
}

// breakLine ends the current line if it holds anything and makes sure at
// least n (1 or 2) line breaks end the text so far.
func (w *textWriter) breakLine(n int) {
	if w.endLine() {
		w.lf()
	}
	for w.nl < n && !w.full {
		w.lf()
	}
	w.startLine()
}

// newline is a hard line break, as <br> gives.
func (w *textWriter) newline() {
	w.endLine()
	w.lf()
	w.startLine()
}

func (w *textWriter) lf() {
	if w.nl >= 2 {
		return
	}
	w.write("\n")
	if !w.full {
		w.nl++
	}
}

func (w *textWriter) startLine() {
	w.lineStart, w.lineNL, w.visible = len(w.b), w.nl, false
}

func (w *textWriter) finish() (string, bool) {
	if !w.full {
		w.endLine()
	}
	return string(bytes.TrimRight(w.b, " \t\n")), w.full
}
