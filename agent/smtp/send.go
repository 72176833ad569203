package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeout bounds one connection, from dialling to QUIT, when
// Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Options tune sending.
type Options struct {
	// Password signs in with AUTH PLAIN or LOGIN, whichever the server
	// offers (PLAIN preferred).
	Password string
	// Token, when set, returns an OAuth access token, and the client
	// signs in with AUTH XOAUTH2 instead of the password (Microsoft 365).
	// This follows Microsoft's documentation but is unconfirmed against
	// Exchange Online.
	Token func(ctx context.Context) (string, error)
	// Timeout bounds the whole connection; zero means DefaultTimeout.
	Timeout time.Duration
	// LocalName is the name said in EHLO; "" means "localhost", which
	// says nothing about the computer.
	LocalName string
}

// Send submits one message: MAIL FROM from, RCPT TO each of rcpts (the
// Bcc recipients included; the message itself must carry no Bcc field),
// then DATA msg, whose line endings become CRLF and whose lines starting
// with "." are dot-stuffed here. It returns the server's answer to the
// message, as "250 2.0.0 Ok: queued as 4ABC".
//
// If the server refuses any recipient, nothing is sent: the error is a
// *RefusedError naming the first refused one, since a message delivered
// to some of its recipients and marked failed would be worse. Errors
// are classified: errors.Is(err, ErrTemporary) means try again later;
// a *RefusedError, ErrAuth or ErrTLS means not with these settings or
// this message; any other error is the caller's (a bad address, a Bcc
// field) or the server's refusal to talk at all, and is permanent too.
func Send(ctx context.Context, a Account, o Options, from string, rcpts []string, msg []byte) (string, error) {
	if err := checkSend(a, o, from, rcpts, msg); err != nil {
		return "", err
	}
	cfg, err := tlsConfig(a)
	if err != nil {
		return "", err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := o.LocalName
	if name == "" {
		name = "localhost"
	}
	c, err := dial(ctx, a, cfg, name)
	if err != nil {
		return "", ended(ctx, a.Addr(), false, err)
	}
	defer c.close()
	if _, err := c.auth(ctx, o); err != nil {
		return "", ended(ctx, a.Addr(), false, err)
	}
	answer, sent, err := c.send(from, rcpts, msg)
	if err != nil {
		return "", ended(ctx, a.Addr(), sent, err)
	}
	c.quit()
	return answer, nil
}

// checkSend refuses, before connecting, what no server should see.
func checkSend(a Account, o Options, from string, rcpts []string, msg []byte) error {
	if err := CheckAccount(a); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if a.Username != "" && o.Password == "" && o.Token == nil {
		return errors.New("smtp: no password for the outgoing mail account")
	}
	if strings.ContainsAny(o.LocalName, " \t\r\n\x00") {
		return fmt.Errorf("smtp: %q is not a host name for EHLO", o.LocalName)
	}
	if err := checkAddr("sender", from); err != nil {
		return err
	}
	if len(rcpts) == 0 {
		return errors.New("smtp: the message has no recipients")
	}
	for _, r := range rcpts {
		if err := checkAddr("recipient", r); err != nil {
			return err
		}
	}
	if hasBcc(msg) {
		return errors.New("smtp: the message carries a Bcc field, which would show every recipient the hidden ones; " +
			"remove it and pass those addresses as recipients only")
	}
	return nil
}

// checkAddr refuses an address that would break the command it goes in:
// a line break would let an address add commands of its own.
func checkAddr(role, addr string) error {
	switch {
	case addr == "":
		return fmt.Errorf("smtp: the %s address is empty", role)
	case strings.ContainsAny(addr, "\r\n\x00"):
		return fmt.Errorf("smtp: the %s address %q holds a line break", role, addr)
	case strings.ContainsAny(addr, "<>"):
		return fmt.Errorf("smtp: the %s address %q must be the bare address, like someone@example.com, without a name or angle brackets", role, addr)
	}
	return nil
}

// hasBcc reports whether msg's header holds a Bcc field.
func hasBcc(msg []byte) bool {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return false // the end of the header
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && line[0] != ' ' && line[0] != '\t' && strings.EqualFold(strings.TrimSpace(string(name)), "Bcc") {
			return true
		}
	}
	return false
}

// send runs the transaction. sent reports whether the whole message had
// gone to the server when it failed: the server may then have queued it.
func (c *client) send(from string, rcpts []string, msg []byte) (answer string, sent bool, err error) {
	params := c.mailParams(from, rcpts, msg)
	if _, _, err := c.cmd(250, "MAIL FROM:<%s>%s", from, params); err != nil {
		return "", false, classify(stepSend, "MAIL FROM", err)
	}
	for _, r := range rcpts {
		// 251 (will forward) is acceptance too, hence any 2xx.
		if _, _, err := c.cmd(2, "RCPT TO:<%s>", r); err != nil {
			// Nothing goes out unless every recipient is taken; RSET is
			// not needed, QUIT ends the transaction.
			c.quit()
			return "", false, classify(stepSend, "RCPT TO <"+r+">", err)
		}
	}
	if _, _, err := c.cmd(354, "DATA"); err != nil {
		return "", false, classify(stepSend, "DATA", err)
	}
	w := c.text.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return "", false, classify(stepSend, "DATA", err)
	}
	// Close writes the final "." and flushes: from here the server may
	// queue the message even if its answer never arrives.
	if err := w.Close(); err != nil {
		return "", true, classify(stepSend, "DATA", err)
	}
	code, text, err := c.read(250)
	if err != nil {
		err = classify(stepSend, "DATA", err)
		var se *stepError
		if errors.As(err, &se) && se.kind == ErrTemporary && se.err != nil && !errors.As(se.err, new(*serverError)) {
			se.msg += "; the server may have accepted the message all the same"
		}
		return "", true, err
	}
	return words(code, text), true, nil
}

// mailParams are MAIL FROM's parameters for what the server offers: the
// size, so that a server refuses a message too big before taking it,
// 8BITMIME for 8-bit text and SMTPUTF8 for addresses or header fields
// in UTF-8.
func (c *client) mailParams(from string, rcpts []string, msg []byte) string {
	var p strings.Builder
	if _, ok := c.ext["SIZE"]; ok {
		fmt.Fprintf(&p, " SIZE=%d", len(msg))
	}
	if _, ok := c.ext["8BITMIME"]; ok && !ascii(string(msg)) {
		p.WriteString(" BODY=8BITMIME")
	}
	if _, ok := c.ext["SMTPUTF8"]; ok && (!ascii(from) || !ascii(strings.Join(rcpts, "")) || !ascii(string(header(msg)))) {
		p.WriteString(" SMTPUTF8")
	}
	return p.String()
}

// header returns msg's header section.
func header(msg []byte) []byte {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(msg, []byte(sep)); i >= 0 {
			return msg[:i]
		}
	}
	return msg
}

// ascii reports whether s is 7-bit.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
