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
	msg, err := mail.ReadMessage(bufio.NewReader(r))
	if err != nil {
		return "", false, fmt.Errorf("outbox: read message: %w", err)
	}
	parts := 0
	plain, htmlText, err := walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &parts)
	if err != nil {
		return "", false, err
	}
	text, truncated = plain.text, plain.cut
	if text == "" && htmlText.text != "" {
		var cut bool
		text, cut = mimetext.HTMLText(htmlText.text, MaxBodyText)
		truncated = cut || htmlText.cut
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
		return text + "\n[…]", true, nil
	}
	return text, false, nil
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

// walk returns the first text/plain and text/html content under one part.
func walk(ctype, cte string, body io.Reader, parts *int) (plain, htmlText part, err error) {
	*parts++
	if *parts > maxParts {
		return part{}, part{}, nil
	}
	mt, params, perr := mime.ParseMediaType(ctype)
	if perr != nil || ctype == "" {
		mt, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return part{}, part{}, nil
		}
		mr := multipart.NewReader(body, boundary)
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				// A broken multipart still yields what was read so far.
				return plain, htmlText, nil
			}
			pl, ht, _ := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, parts)
			if plain.text == "" {
				plain = pl
			}
			if htmlText.text == "" {
				htmlText = ht
			}
			if plain.text != "" {
				return plain, htmlText, nil
			}
		}
	case mt == "text/plain" || mt == "text/html":
		limit := readLimit(mt)
		raw, err := io.ReadAll(io.LimitReader(decodeTransfer(cte, body), limit+1))
		if err != nil && len(raw) == 0 {
			return part{}, part{}, nil
		}
		cut := int64(len(raw)) > limit
		if cut {
			raw = raw[:limit]
		}
		p := part{text: mimetext.Decode(params["charset"], raw), cut: cut}
		if mt == "text/plain" {
			return p, part{}, nil
		}
		return part{}, p, nil
	}
	return part{}, part{}, nil
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
