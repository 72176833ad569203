package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// MaxHeaderBytes is the largest header block ParseHeader accepts. Real
// header blocks stay well under 1 MiB even with long DKIM and Received
// chains; the cap keeps a file without an empty line from being read whole.
const MaxHeaderBytes = 4 << 20

// ErrNotMessage reports a file that holds no header field at all: an empty
// file, or text without a header.
var ErrNotMessage = errors.New("not a mail message")

// ErrHeaderTooLarge reports a header block longer than MaxHeaderBytes.
var ErrHeaderTooLarge = errors.New("header block too large")

// Envelope is what the agent learns from a message's header block: enough to
// decide whether to track it, and nothing from the body.
type Envelope struct {
	// MessageID is the first Message-ID without angle brackets, whitespace or
	// comments, or a synthetic ID (see Synthetic). Never empty.
	MessageID string
	// Synthetic is true when the message had no usable Message-ID and
	// MessageID was derived from Date, From, To, Cc and Subject instead. It is
	// the same on every scan of the same message.
	Synthetic bool
	// From is the first mailbox of the first From field that holds one; the
	// zero Address when there is none.
	From Address
	// To holds the mailboxes of every To field, in order.
	To []Address
	// Cc holds the mailboxes of every Cc field, in order.
	Cc []Address
	// Subject is the first non-empty Subject, decoded to UTF-8, with
	// whitespace runs collapsed to one space.
	Subject string
	// Date is the first Date that parses; zero when none does.
	Date time.Time
	// InReplyTo is the first message ID of the first In-Reply-To field,
	// without angle brackets; empty when there is none.
	InReplyTo string
	// References lists the message IDs of the first References field, in
	// order and without angle brackets.
	References []string
}

// headerField is one unfolded field of the header block.
type headerField struct {
	name  string // lower case, without trailing whitespace
	value []byte // raw bytes after the colon, folds joined without CR/LF
}

// ParseHeader reads the header block of a message from r and returns its
// Envelope. It stops at the first empty line and never reads the body. It
// fails only on a read error, on a header block longer than MaxHeaderBytes
// (ErrHeaderTooLarge) and on input without any header field (ErrNotMessage);
// everything else is parsed leniently, keeping what can be understood.
func ParseHeader(r io.Reader) (Envelope, error) {
	block, err := readHeaderBlock(r)
	if err != nil {
		return Envelope{}, err
	}
	fields := splitFields(block)
	if len(fields) == 0 {
		if len(bytes.TrimSpace(block)) == 0 {
			return Envelope{}, fmt.Errorf("maildir: parse header: %w: the message starts with an empty line or is empty", ErrNotMessage)
		}
		return Envelope{}, fmt.Errorf("maildir: parse header: %w: no line before the first empty line is a header field", ErrNotMessage)
	}
	return envelopeOf(fields), nil
}

// readHeaderBlock returns the bytes up to, not including, the empty line
// that ends the header block. A whitespace-only line ends the block too when
// the next line does not continue a field: some mailers write " " as the
// separator, and reading on would take the body for header fields.
func readHeaderBlock(r io.Reader) ([]byte, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil) // let go of the file
		readers.Put(br)
	}()
	var block []byte
	lineStart := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(block)+len(chunk) > MaxHeaderBytes {
			return nil, fmt.Errorf("maildir: read header: %w: no empty line within the first %d bytes", ErrHeaderTooLarge, MaxHeaderBytes)
		}
		block = append(block, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("maildir: read header: %w", err)
		}
		line := block[lineStart:]
		content := bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && len(content) == 0 {
			return block[:lineStart], nil
		}
		if lineStart > 0 && len(content) > 0 && isWSPOnly(string(content)) {
			next, perr := br.Peek(1)
			if perr != nil || (next[0] != ' ' && next[0] != '\t') {
				return block[:lineStart], nil
			}
		}
		if err != nil { // io.EOF: the header runs to the end of the file
			return block, nil
		}
		lineStart = len(block)
	}
}

// readers recycles the buffers of readHeaderBlock: every message decided
// and every one tracked is read through one, and a fresh 4 KB each time
// was the agent's largest single allocation while mail arrived.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// splitFields unfolds the header block into fields. Lines that are not
// fields (an mbox "From " line, junk, invalid field names, a leading
// continuation line) are skipped together with their continuation lines;
// NUL bytes are dropped.
func splitFields(block []byte) []headerField {
	block = bytes.TrimPrefix(block, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(block, 0) >= 0 {
		block = bytes.ReplaceAll(block, []byte{0}, nil)
	}
	var (
		fields []headerField
		cur    = -1 // index of the field continuation lines extend; -1 = none
		orphan string
	)
	for len(block) > 0 {
		var line []byte
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			line, block = block, nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if cur >= 0 {
				fields[cur].value = append(fields[cur].value, line...)
				continue
			}
			// "From\n : value": a field name alone on a line, its colon on the
			// continuation.
			if orphan != "" {
				if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == ':' {
					fields = append(fields, headerField{name: orphan, value: append([]byte(nil), t[1:]...)})
					cur = len(fields) - 1
				}
			}
			orphan = ""
			continue
		}
		cur, orphan = -1, ""
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			if validFieldName(line) {
				orphan = strings.ToLower(string(line))
			}
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if !validFieldName(name) {
			continue
		}
		fields = append(fields, headerField{
			name:  strings.ToLower(string(name)),
			value: append([]byte(nil), line[colon+1:]...),
		})
		cur = len(fields) - 1
	}
	return fields
}

// validFieldName reports whether b is an RFC 5322 field name: printable
// US-ASCII without colon or space.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// envelopeOf builds the Envelope from the unfolded fields.
func envelopeOf(fields []headerField) Envelope {
	var e Envelope
	var haveFrom, haveSubject, haveDate, haveIRT, haveRefs bool
	for _, f := range fields {
		switch f.name {
		case "from":
			if !haveFrom {
				if l := parseAddressList(f.value); len(l) > 0 {
					e.From, haveFrom = l[0], true
				}
			}
		case "to":
			e.To = append(e.To, parseAddressList(f.value)...)
		case "cc":
			e.Cc = append(e.Cc, parseAddressList(f.value)...)
		case "subject":
			if !haveSubject {
				if s := decodeText(f.value); s != "" {
					e.Subject, haveSubject = s, true
				}
			}
		case "date":
			if !haveDate {
				if d, ok := parseDate(f.value); ok {
					e.Date, haveDate = d, true
				}
			}
		case "message-id":
			if e.MessageID == "" {
				if ids := msgIDs(f.value); len(ids) > 0 {
					e.MessageID = ids[0]
				}
			}
		case "in-reply-to":
			if !haveIRT {
				if ids := msgIDs(f.value); len(ids) > 0 {
					e.InReplyTo, haveIRT = ids[0], true
				}
			}
		case "references":
			if !haveRefs {
				if ids := msgIDs(f.value); len(ids) > 0 {
					e.References, haveRefs = ids, true
				}
			}
		}
	}
	if e.MessageID == "" {
		e.MessageID, e.Synthetic = syntheticID(fields), true
	}
	return e
}

// maxMsgIDLen bounds a usable message ID; longer values are junk, not IDs.
const maxMsgIDLen = 998

// msgIDs extracts the message IDs of a Message-ID, In-Reply-To or References
// value: comments and whitespace removed (folds inside an ID included),
// angle brackets stripped. Without any angle bracket, a value of one token,
// or the tokens of the form left@right, are taken as IDs, as some mailers
// write them bare; the words of a sentence are junk, and taking them would
// give unrelated messages the same ID.
func msgIDs(raw []byte) []string {
	s := stripComments(toValidUTF8(raw))
	var ids []string
	if strings.IndexByte(s, '<') >= 0 {
		for {
			i := strings.IndexByte(s, '<')
			if i < 0 {
				break
			}
			s = s[i+1:]
			j := strings.IndexByte(s, '>')
			var id string
			if j < 0 {
				id, s = s, ""
			} else {
				id, s = s[:j], s[j+1:]
			}
			if id = strings.Map(dropSpace, id); id != "" && len(id) <= maxMsgIDLen {
				ids = append(ids, id)
			}
		}
		return ids
	}
	fields := strings.Fields(s)
	for _, f := range fields {
		f = strings.Trim(f, ",;")
		at := strings.IndexByte(f, '@')
		if (len(fields) == 1 || at > 0 && at < len(f)-1) && f != "" && len(f) <= maxMsgIDLen {
			ids = append(ids, f)
		}
	}
	return ids
}

// stripComments removes RFC 5322 comments (nested, with escapes) outside
// quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var sb strings.Builder
	depth, quote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth > 0:
			switch c {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					sb.WriteByte(' ')
				}
			}
		case quote:
			if c == '\\' && i+1 < len(s) {
				sb.WriteByte(c)
				i++
				c = s[i]
			} else if c == '"' {
				quote = false
			}
			sb.WriteByte(c)
		case c == '(':
			depth++
		default:
			if c == '"' {
				quote = true
			}
			sb.WriteByte(c)
		}
	}
	return sb.String()
}
