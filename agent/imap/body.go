package imap

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// MaxBodyPart caps what Body fetches of a message's text part. It is four
// times what the CRM keeps of a description, so that HTML, whose tags
// are stripped, still yields a full one.
const MaxBodyPart = 4 << 20

// maxParts bounds the MIME parts looked at, as the outbox bounds its walk.
const maxParts = 200

// Body returns message k's readable text as a minimal message: the text
// part's Content-Type and Content-Transfer-Encoding, a blank line and the
// part as the server stores it, at most MaxBodyPart bytes of it. The part
// is the first text/plain one, else the first text/html one; a message
// without either yields an empty text/plain body. When the message
// carries a meeting request (a text/calendar part), the text and the
// request come together as a multipart/mixed message. It is meant for
// messages being tracked only: nothing of a body is fetched otherwise.
// Fetches are BODY.PEEK on a read-only mailbox, so \Seen is never set.
func (s *Source) Body(k agent.MessageKey) (io.ReadCloser, error) {
	m, ok := s.lookup(k)
	if !ok {
		return nil, fmt.Errorf("imap: body of %s: %w: the key is not in the index", k, maildir.ErrGone)
	}
	b, err := s.fetchBody(m)
	if err != nil {
		return nil, fmt.Errorf("imap: body of %s: %w", k, err)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// fetchBody fetches m's structure, then its text part.
func (s *Source) fetchBody(m msg) ([]byte, error) {
	ss, err := s.session()
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := ss.ensure(m.mailbox, m.validity); err != nil {
		return nil, err
	}
	msgs, err := ss.c.Fetch(goimap.UIDSetNum(m.uid), &goimap.FetchOptions{
		UID: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
	}).Collect()
	if err != nil {
		return nil, fetchErr("fetch the structure", err)
	}
	var bs goimap.BodyStructure
	for _, f := range msgs {
		if f.UID == m.uid {
			bs = f.BodyStructure
		}
	}
	if bs == nil {
		return nil, fmt.Errorf("%w: the server no longer has UID %d", maildir.ErrGone, m.uid)
	}
	parts := findParts(bs)
	path, part, calPath, cal := parts.textPath, parts.text, parts.calPath, parts.cal
	if part == nil && cal == nil {
		return []byte("Content-Type: text/plain; charset=utf-8\r\n\r\n"), nil
	}
	var sections []*goimap.FetchItemBodySection
	if part != nil {
		sections = append(sections, &goimap.FetchItemBodySection{Part: path, Peek: true, Partial: &goimap.SectionPartial{Offset: 0, Size: MaxBodyPart}})
	}
	if cal != nil {
		sections = append(sections, &goimap.FetchItemBodySection{Part: calPath, Peek: true, Partial: &goimap.SectionPartial{Offset: 0, Size: MaxBodyPart}})
	}
	cmd := ss.c.Fetch(goimap.UIDSetNum(m.uid), &goimap.FetchOptions{UID: true, BodySection: sections})
	got := map[string][]byte{} // by part number
	var (
		found bool
		rerr  error
	)
	for {
		f := cmd.Next()
		if f == nil {
			break
		}
		var uid goimap.UID
		for {
			item := f.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if uid != m.uid {
					continue
				}
				found = true
				if it.Literal != nil {
					b, err := io.ReadAll(io.LimitReader(it.Literal, MaxBodyPart+1))
					if err != nil {
						rerr = err
					}
					got[partKey(it.Section.Part)] = b
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fetchErr("fetch the text", err)
	}
	if rerr != nil {
		return nil, offlineError{rerr}
	}
	if !found {
		return nil, fmt.Errorf("%w: the server no longer has UID %d", maildir.ErrGone, m.uid)
	}
	var text, calendar []byte
	if part != nil {
		text = clipAtLine(got[partKey(path)])
	}
	if cal != nil {
		calendar = got[partKey(calPath)]
		if len(calendar) > MaxBodyPart {
			calendar = nil // a cut meeting request is no meeting request
		}
	}
	var b bytes.Buffer
	b.Grow(len(text) + len(calendar) + 256)
	if calendar == nil {
		writePart(&b, part, text)
		return b.Bytes(), nil
	}
	// The text and the meeting request, as a message that holds both.
	const boundary = "crmsync-part-boundary-7d1f0e"
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")
	if part != nil {
		b.WriteString("--" + boundary + "\r\n")
		writePart(&b, part, text)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "\r\n")
	writePart(&b, cal, calendar)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// partKey names a part number as a map key.
func partKey(p []int) string { return fmt.Sprint(p) }

// clipAtLine cuts a part read to MaxBodyPart at its last line break, so
// that a base64 or quoted-printable text decodes cleanly up to the cut.
func clipAtLine(body []byte) []byte {
	if len(body) >= MaxBodyPart {
		body = body[:MaxBodyPart]
		if i := bytes.LastIndexByte(body, '\n'); i > 0 {
			body = body[:i+1]
		}
	}
	return body
}

// writePart writes one part: its Content-Type and Content-Transfer-
// Encoding, a blank line and the part as the server stores it.
func writePart(b *bytes.Buffer, part *goimap.BodyStructureSinglePart, body []byte) {
	b.WriteString("Content-Type: " + contentType(part) + "\r\n")
	if cte := transferEncoding(part.Encoding); cte != "" {
		b.WriteString("Content-Transfer-Encoding: " + cte + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
}

// bodyParts holds the parts of a message the outbox reads: its text and
// its meeting request, each with its IMAP part number.
type bodyParts struct {
	textPath, calPath []int
	text, cal         *goimap.BodyStructureSinglePart
}

// findParts walks a message's structure depth-first, as the outbox walks
// a whole message, for the first text/plain part (else the first
// text/html one) and the first text/calendar or application/ics part.
// Attached messages (message/rfc822) are not entered, as the outbox does
// not enter them.
func findParts(bs goimap.BodyStructure) bodyParts {
	var (
		p                   bodyParts
		plain, html         *goimap.BodyStructureSinglePart
		plainPath, htmlPath []int
		seen                int
	)
	var visit func(bs goimap.BodyStructure, path []int)
	visit = func(bs goimap.BodyStructure, path []int) {
		seen++
		if (plain != nil && p.cal != nil) || seen > maxParts {
			return
		}
		switch x := bs.(type) {
		case *goimap.BodyStructureSinglePart:
			switch x.MediaType() {
			case "text/plain":
				if plain == nil {
					plain, plainPath = x, path
				}
			case "text/html":
				if html == nil {
					html, htmlPath = x, path
				}
			case "text/calendar", "application/ics":
				if p.cal == nil {
					p.cal, p.calPath = x, path
				}
			}
		case *goimap.BodyStructureMultiPart:
			for i, c := range x.Children {
				visit(c, append(path[:len(path):len(path)], i+1))
			}
		}
	}
	if _, single := bs.(*goimap.BodyStructureSinglePart); single {
		visit(bs, []int{1})
	} else {
		visit(bs, nil)
	}
	p.text, p.textPath = plain, plainPath
	if plain == nil {
		p.text, p.textPath = html, htmlPath
	}
	return p
}

// fetchErr wraps a failed fetch: a refusal is the server's answer, any
// other failure a lost connection.
func fetchErr(what string, err error) error {
	if isRefusal(err) {
		return fmt.Errorf("%s: %s", what, logErr(err))
	}
	return offlineError{err}
}

// contentType is the part's media type with its charset, the only
// parameter the text needs.
func contentType(p *goimap.BodyStructureSinglePart) string {
	mt := p.MediaType()
	for k, v := range p.Params {
		if strings.EqualFold(k, "charset") {
			if ct := mime.FormatMediaType(mt, map[string]string{"charset": v}); ct != "" {
				return ct
			}
		}
	}
	return mt
}

// transferEncoding returns the part's encoding if it is one the outbox
// decodes or passes through, "" otherwise: the value comes from the
// server and goes into a header line.
func transferEncoding(enc string) string {
	switch e := strings.ToLower(strings.TrimSpace(enc)); e {
	case "7bit", "8bit", "binary", "quoted-printable", "base64":
		return e
	}
	return ""
}
