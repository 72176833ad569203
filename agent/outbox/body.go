package outbox

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"unicode/utf8"

	"crmsync/agent/mimetext"
)

// MaxBodyText bounds the text sent as an activity's description. Longer
// bodies are cut and marked, as Dataverse marks truncated bodies.
const MaxBodyText = 1 << 20

// maxParts bounds how many MIME parts are walked, so a hostile message
// cannot make the walk expensive.
const maxParts = 200

// BodyText extracts the readable text of a whole message: the first
// text/plain part, else the first text/html part rendered as plain text by
// mimetext.HTMLText. Charsets are decoded by mimetext.Decode, as the header
// parser decodes them. It is called only for a message being tracked.
func BodyText(r io.Reader) (text string, truncated bool, err error) {
	b, err := ReadBody(r)
	return b.Text, b.Truncated, err
}

// Body is what tracking reads of a message's body.
type Body struct {
	Text      string // as BodyText returns it
	Truncated bool
	// Invitation is the iCalendar text of a meeting request the message
	// carries (a text/calendar part with METHOD:REQUEST); nil when none.
	Invitation []byte
}

// ReadBody reads a whole message's text, as BodyText does, and the
// meeting request it carries, if any.
func ReadBody(r io.Reader) (Body, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return Body{}, fmt.Errorf("outbox: read message: %w", err)
	}
	w := walker{}
	w.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	text, truncated := w.plain.text, w.plain.cut
	if text == "" && w.html.text != "" {
		var cut bool
		text, cut = mimetext.HTMLText(w.html.text, MaxBodyText)
		truncated = cut || w.html.cut
	}
	text = dropControls(text)
	if len(text) > MaxBodyText {
		cut := MaxBodyText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, truncated = text[:cut], true
	}
	if truncated {
		text += "\n[…]"
	}
	return Body{Text: text, Truncated: truncated, Invitation: w.invite}, nil
}

// part is the decoded text of one MIME part.
type part struct {
	text string
	cut  bool // the part was longer than what was read
}

// readLimit is how much of a part is read: enough for MaxBodyText of
// text, and four times that of HTML, whose tags are stripped afterwards.
// Reading no more bounds the memory one large message costs.
func readLimit(mediaType string) int64 {
	if mediaType == "text/html" {
		return 4 * MaxBodyText
	}
	return MaxBodyText + utf8.UTFMax
}

// maxInvitation bounds the iCalendar text of a meeting request read.
const maxInvitation = 1 << 20

// walker finds, in one walk of a message, the first text/plain part, the
// first text/html part and the first meeting request.
type walker struct {
	parts       int
	plain, html part
	invite      []byte
}

// done reports whether nothing more is to be found.
func (w *walker) done() bool { return w.plain.text != "" && w.invite != nil }

// walk looks at one part and, for a multipart, at its parts in order.
func (w *walker) walk(ctype, cte string, body io.Reader) {
	w.parts++
	if w.parts > maxParts {
		return
	}
	mt, params, perr := mime.ParseMediaType(ctype)
	if perr != nil || ctype == "" {
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return
		}
		mr := multipart.NewReader(body, boundary)
		for !w.done() {
			p, err := mr.NextRawPart()
			if err != nil {
				return // a broken multipart still yields what was read so far
			}
			w.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	case mt == "text/plain" || mt == "text/html":
		if w.plain.text != "" || (mt == "text/html" && w.html.text != "") {
			return // the text is found; an HTML copy of it is not needed
		}
		limit := readLimit(mt)
		raw, err := io.ReadAll(io.LimitReader(decodeTransfer(cte, body), limit+1))
		if err != nil && len(raw) == 0 {
			return
		}
		cut := int64(len(raw)) > limit
		if cut {
			raw = raw[:limit]
		}
		p := part{text: mimetext.Decode(params["charset"], raw), cut: cut}
		if mt == "text/plain" {
			w.plain = p
		} else {
			w.html = p
		}
	case (mt == "text/calendar" || mt == "application/ics") && w.invite == nil:
		raw, err := io.ReadAll(io.LimitReader(decodeTransfer(cte, body), maxInvitation+1))
		if (err != nil && len(raw) == 0) || len(raw) > maxInvitation {
			return
		}
		if strings.EqualFold(params["method"], "REQUEST") || isRequest(raw) {
			w.invite = raw
		}
	}
}

// isRequest reports whether iCalendar text is a meeting request: its
// METHOD property, at the start of a line, is REQUEST.
func isRequest(ics []byte) bool {
	for _, line := range strings.Split(string(ics), "\n") {
		line = strings.TrimRight(line, "\r")
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "METHOD") {
			return strings.EqualFold(strings.TrimSpace(value), "REQUEST")
		}
	}
	return false
}

// dropControls removes control characters other than tab and line breaks:
// NUL bytes and terminal escapes are junk in a CRM description, and JSON
// would send each as six bytes.
func dropControls(s string) string {
	isJunk := func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f }
	if strings.IndexFunc(s, isJunk) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isJunk(r) {
			return -1
		}
		return r
	}, s)
}

func decodeTransfer(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &skipSpace{r: r})
	}
	return r
}

// skipSpace drops the line breaks and blanks inside base64 text.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
