package compose

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Header lines are folded at foldAt octets when they can be, as RFC 5322
// recommends, and must never pass maxLine.
const (
	foldAt  = 78
	maxLine = 998
)

// headerFields writes every header field but Content-Type, which the body
// decides.
func headerFields(e Email) (string, error) {
	if strings.TrimSpace(e.From.Addr) == "" {
		return "", errors.New("the email has no sender (From)")
	}
	from, err := addressList("From", []Address{e.From})
	if err != nil {
		return "", err
	}
	id, err := msgID("Message-ID", e.MessageID)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	fields := []struct {
		name string
		list []Address
	}{{"To", e.To}, {"Cc", e.Cc}}
	if err := writeField(&b, "From", from); err != nil {
		return "", err
	}
	for _, f := range fields {
		if len(f.list) == 0 {
			continue
		}
		tokens, err := addressList(f.name, f.list)
		if err != nil {
			return "", err
		}
		if err := writeField(&b, f.name, tokens); err != nil {
			return "", err
		}
	}
	if err := writeField(&b, "Subject", subjectTokens(e.Subject)); err != nil {
		return "", err
	}
	date := e.Date
	if date.IsZero() {
		date = now()
	}
	b.WriteString("Date: " + date.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: " + id + "\r\n")
	if strings.TrimSpace(e.InReplyTo) != "" {
		re, err := msgID("In-Reply-To", e.InReplyTo)
		if err != nil {
			return "", err
		}
		// Only the parent is known, so References names just it: enough
		// for clients to thread the reply.
		b.WriteString("In-Reply-To: " + re + "\r\n")
		b.WriteString("References: " + re + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	return b.String(), nil
}

// writeField writes one header field, its tokens separated by single
// spaces, folded before a token where the line would pass foldAt. A
// token is never split, so a line passes maxLine only if a token does,
// which the encoders here prevent; the check makes sure.
func writeField(b *bytes.Buffer, name string, tokens []string) error {
	line := len(name) + 1
	b.WriteString(name + ":")
	for _, t := range tokens {
		if line > len(name)+1 && line+1+len(t) > foldAt {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" " + t)
		line += 1 + len(t)
		if line > maxLine {
			return fmt.Errorf("the %s header cannot be written in lines of %d octets", name, maxLine)
		}
	}
	b.WriteString("\r\n")
	return nil
}

// msgID checks a message ID and writes it in angle brackets. Brackets the
// caller left on are tolerated; anything a msg-id cannot hold (white space,
// line breaks, other control characters, specials) is refused, which is
// what makes it safe to write as it is.
func msgID(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return "", fmt.Errorf("the email has no %s", field)
	}
	left, right, ok := strings.Cut(s, "@")
	switch {
	case !ok || left == "" || right == "" || strings.Contains(right, "@"):
		return "", fmt.Errorf("%s %q is not of the form left@right", field, s)
	case len(s) > 250:
		return "", fmt.Errorf("%s %q is longer than 250 characters", field, s[:40]+"…")
	case strings.IndexFunc(s, badIDRune) >= 0:
		return "", fmt.Errorf("%s %q holds a space, line break or character a message ID cannot hold", field, s)
	}
	return "<" + s + ">", nil
}

func badIDRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>()\",;:`, r)
}
