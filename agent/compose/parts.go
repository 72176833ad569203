package compose

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Base64 lines are 76 characters, the most RFC 2045 allows.
const base64Line = 76

// maxFilename bounds an attachment's name in octets: RFC 2231 may triple
// it, and the Content-Type and Content-Disposition lines, which are not
// folded, must stay under 998 octets. Names this long are rare (and too
// long for many file systems anyway).
const maxFilename = 180

// header is a part header with one field.
func header(key, value string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set(key, value)
	return h
}

// writeQP writes a quoted-printable text part. The writer turns each line
// break into CRLF and keeps lines to 76 characters with soft breaks.
func writeQP(w *multipart.Writer, ctype, text string) error {
	h := header("Content-Type", ctype)
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	qw := quotedprintable.NewWriter(pw)
	if _, err := io.WriteString(qw, text); err != nil {
		return err
	}
	return qw.Close()
}

// writeBase64 writes a base64 part: any bytes, line breaks and all, come
// back as they were.
func writeBase64(w *multipart.Writer, h textproto.MIMEHeader, data []byte) error {
	h.Set("Content-Transfer-Encoding", "base64")
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	lw := &lineWriter{w: pw}
	enc := base64.NewEncoder(base64.StdEncoding, lw)
	if _, err := enc.Write(data); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return lw.end()
}

// writeAttachment writes one file as a base64 attachment, named in both
// Content-Type (for old clients) and Content-Disposition.
func writeAttachment(w *multipart.Writer, a Attachment) error {
	name := fileName(a.Filename)
	ctype := mime.FormatMediaType(mediaType(a.MIMEType), map[string]string{"name": name})
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if ctype == "" || disp == "" {
		return fmt.Errorf("the file name %q cannot be written in a header", name)
	}
	h := header("Content-Type", ctype)
	h.Set("Content-Disposition", disp)
	return writeBase64(w, h, a.Data)
}

// mediaType is the type (and charset, the one parameter that changes how
// the file reads) of an attachment's MIME type; anything that does not
// parse, or is too long for a header, is application/octet-stream, which
// still delivers the file.
func mediaType(s string) string {
	const fallback = "application/octet-stream"
	mt, params, err := mime.ParseMediaType(s)
	if err != nil || len(mt) > 255 || !strings.Contains(mt, "/") {
		return fallback
	}
	if cs := params["charset"]; cs != "" && len(cs) <= 40 {
		if t := mime.FormatMediaType(mt, map[string]string{"charset": cs}); t != "" {
			return t
		}
	}
	if mime.FormatMediaType(mt, nil) == "" {
		return fallback
	}
	return mt
}

// fileName makes an attachment's name writable: valid UTF-8, control
// characters as spaces, at most maxFilename octets (cut before its
// extension, so the file still opens with the right app), and
// "attachment" when nothing is left.
func fileName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
	if s == "" {
		return "attachment"
	}
	if len(s) <= maxFilename {
		return s
	}
	ext := path.Ext(s)
	if len(ext) > 16 {
		ext = ""
	}
	base := s[:maxFilename-len(ext)]
	for len(base) > 0 && !utf8.ValidString(base) {
		base = base[:len(base)-1]
	}
	return base + ext
}

// lineWriter breaks base64 text into lines of base64Line characters.
type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), base64Line-l.col)
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
		if l.col += k; l.col == base64Line {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// end finishes the last line.
func (l *lineWriter) end() error {
	if l.col == 0 {
		return nil
	}
	l.col = 0
	_, err := io.WriteString(l.w, "\r\n")
	return err
}

// attachedSize is the encoded size of the attachments and the two copies
// of the invitation: a lower bound of the message's size.
func attachedSize(e Email) int64 {
	n := 2 * base64Size(len(e.Invitation))
	for _, a := range e.Attachments {
		n += base64Size(len(a.Data))
	}
	return n
}

// base64Size is the length of n bytes in base64 lines.
func base64Size(n int) int64 {
	enc := int64(n+2) / 3 * 4
	return enc + (enc+base64Line-1)/base64Line*2
}
