package compose

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"strings"

	nethtml "golang.org/x/net/html"

	"crmsync/agent/mimetext"
)

// mimeBody writes the body and returns its Content-Type: the alternative
// alone, or, with attachments or an invitation, a multipart/mixed holding
// the alternative first.
func mimeBody(e Email) (ctype string, body []byte, err error) {
	text, htm := alternatives(e.HTML)
	invite := e.Invitation
	if len(invite) == 0 {
		invite = nil // an empty invitation is none
	}
	var b bytes.Buffer
	if len(e.Attachments) == 0 && invite == nil {
		w := multipart.NewWriter(&b)
		if err := writeAlternative(w, text, htm, nil); err != nil {
			return "", nil, err
		}
		return multipartType("alternative", w.Boundary()), b.Bytes(), nil
	}
	w := multipart.NewWriter(&b)
	inner := multipart.NewWriter(io.Discard).Boundary()
	pw, err := w.CreatePart(header("Content-Type", multipartType("alternative", inner)))
	if err != nil {
		return "", nil, fmt.Errorf("write the text: %w", err)
	}
	aw := multipart.NewWriter(pw)
	if err := aw.SetBoundary(inner); err != nil {
		return "", nil, fmt.Errorf("write the text: %w", err)
	}
	if err := writeAlternative(aw, text, htm, invite); err != nil {
		return "", nil, err
	}
	for i, a := range e.Attachments {
		if err := writeAttachment(w, a); err != nil {
			return "", nil, fmt.Errorf("attachment %d (%q): %w", i+1, a.Filename, err)
		}
	}
	if invite != nil {
		// Clients that do not read a text/calendar alternative (and
		// people who forward the message) still get the invitation as a
		// file, as Gmail sends it.
		ics := Attachment{Filename: "invite.ics", MIMEType: "application/ics", Data: invite}
		if err := writeAttachment(w, ics); err != nil {
			return "", nil, fmt.Errorf("the invitation file: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", nil, fmt.Errorf("write the body: %w", err)
	}
	return multipartType("mixed", w.Boundary()), b.Bytes(), nil
}

// writeAlternative writes the text, the HTML and, when there is one, the
// meeting request, simplest first as RFC 2046 orders alternatives.
func writeAlternative(w *multipart.Writer, text, htm string, invite []byte) error {
	if err := writeQP(w, "text/plain; charset=UTF-8", text); err != nil {
		return fmt.Errorf("write the text: %w", err)
	}
	if err := writeQP(w, "text/html; charset=UTF-8", htm); err != nil {
		return fmt.Errorf("write the HTML: %w", err)
	}
	if invite != nil {
		ctype := mime.FormatMediaType("text/calendar", map[string]string{"charset": "UTF-8", "method": "REQUEST"})
		if err := writeBase64(w, header("Content-Type", ctype), invite); err != nil {
			return fmt.Errorf("write the invitation: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write the text: %w", err)
	}
	return nil
}

// alternatives returns the plain text and the HTML of a CRM description.
// Dataverse keeps an email's body as HTML, but one written by a flow or
// an integration may be plain text: that is taken as it is and wrapped
// in <pre>, so its line breaks survive in the HTML alternative.
func alternatives(s string) (text, htm string) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if hasMarkup(s) {
		text, _ = mimetext.HTMLText(s, MaxSize)
		return text, s
	}
	text = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	// pre-wrap and the inherited font make it read like any other mail
	// rather than like code, with long lines wrapped to the window.
	return text, `<html><body><pre style="white-space: pre-wrap; font-family: inherit">` +
		html.EscapeString(text) + "</pre></body></html>"
}

// hasMarkup reports whether s holds a tag, comment or doctype as an HTML
// parser reads them; "a < b" or "<3" are text.
func hasMarkup(s string) bool {
	if !strings.Contains(s, "<") {
		return false
	}
	z := nethtml.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case nethtml.ErrorToken:
			return false
		case nethtml.StartTagToken, nethtml.EndTagToken, nethtml.SelfClosingTagToken,
			nethtml.CommentToken, nethtml.DoctypeToken:
			return true
		}
	}
}

// multipartType is the Content-Type of a multipart with the boundary.
func multipartType(sub, boundary string) string {
	return mime.FormatMediaType("multipart/"+sub, map[string]string{"boundary": boundary})
}

// splitMediaType is the tokens of a Content-Type header, folded at the
// spaces after its semicolons.
func splitMediaType(ctype string) []string { return strings.Fields(ctype) }
