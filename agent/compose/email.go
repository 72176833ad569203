package compose

import (
	"bytes"
	"fmt"
	"time"
)

// Address is a display name and an address.
type Address struct{ Name, Addr string }

// Attachment is one file of an email, in memory only.
type Attachment struct {
	Filename string
	MIMEType string // "" = application/octet-stream
	Data     []byte
}

// Email is what the CRM holds of an outgoing email.
type Email struct {
	MessageID   string // without angle brackets; required; written as Message-ID: <...>
	Date        time.Time
	From        Address
	To, Cc      []Address // Bcc is never written into the message: the caller passes it to SMTP only
	Subject     string
	HTML        string // the CRM's description; may be plain text without tags
	Attachments []Attachment
	InReplyTo   string // optional, without brackets
	Invitation  []byte // optional iCalendar METHOD:REQUEST text, carried as a meeting request
}

// MaxSize bounds a built message (attachments included): 25 MiB, the usual
// submission limit; Build refuses a larger one with a sentence naming the
// size.
const MaxSize = 25 << 20

// now is the clock for DTSTAMP and for an Email without a Date; tests
// replace it.
var now = time.Now

// Build writes the message: RFC 5322 headers and a MIME body.
//
// Headers are From, To, Cc (when any), Subject, Date (now when e.Date is
// zero), Message-ID, In-Reply-To and References (when e.InReplyTo is set),
// MIME-Version and Content-Type. Names and subjects that are not printable
// ASCII are RFC 2047 encoded words. Header injection is impossible: in names
// and the subject, line breaks and other control characters are folded out
// (each run of them and of white space becomes one space); an address or
// message ID holding one is refused, as is anything that does not parse as
// a bare address.
//
// The body is multipart/alternative (text/plain rendered from HTML by
// mimetext.HTMLText, then text/html; both quoted-printable UTF-8). With an
// invitation the alternative gets a third part, text/calendar;
// charset=UTF-8; method=REQUEST, and the message becomes multipart/mixed
// with an application/ics copy named invite.ics after the attachments;
// attachments alone also make it multipart/mixed, each base64 with an
// RFC 2231 filename. An HTML without tags is plain text: it is wrapped in
// <html><body><pre> so both alternatives carry it.
//
// Lines end in CRLF and none is longer than 998 octets. A message larger
// than MaxSize is refused.
func Build(e Email) ([]byte, error) {
	msg, err := build(e)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return msg, nil
}

func build(e Email) ([]byte, error) {
	// Refuse oversized attachments before encoding them: the encoded copy
	// would cost a third more memory only to be thrown away.
	if n := attachedSize(e); n > MaxSize {
		return nil, tooLarge(n)
	}
	head, err := headerFields(e)
	if err != nil {
		return nil, err
	}
	ctype, body, err := mimeBody(e)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(head) + len(ctype) + len(body) + 64)
	b.WriteString(head)
	if err := writeField(&b, "Content-Type", splitMediaType(ctype)); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	b.Write(body)
	if b.Len() > MaxSize {
		return nil, tooLarge(int64(b.Len()))
	}
	return b.Bytes(), nil
}

// tooLarge is the error for a message over MaxSize.
func tooLarge(n int64) error {
	return fmt.Errorf("the message would be %.1f MiB with its attachments, more than the %d MiB mail servers accept; send the largest files another way, as a link for instance",
		float64(n)/(1<<20), MaxSize>>20)
}
