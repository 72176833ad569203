package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
)

// maxReply bounds one reply of the server (a long EHLO is a few hundred
// bytes): a server that sends an endless line must not fill memory.
const maxReply = 64 << 10

// errTooLong reports a reply longer than maxReply.
var errTooLong = errors.New("the server's reply is too long")

// client is one SMTP session, used by one goroutine.
type client struct {
	a      Account
	raw    net.Conn // the TCP connection; closing it ends every call
	conn   net.Conn // raw, or the TLS connection over it
	text   *textproto.Conn
	limit  *capReader
	ext    map[string]string // EHLO keywords, upper case, to their parameters
	name   string            // the EHLO name
	secure *tls.ConnectionState
	// plain is set when STARTTLS was asked for and the server, on this
	// computer, offers none: the session goes on unencrypted.
	plain    bool
	greeting string      // the 220, in words
	stop     func() bool // ends the watch on ctx that closes raw
}

// tlsConfig returns the TLS settings for a: the system's roots plus the
// account's CA file, and the server name to check the certificate for.
func tlsConfig(a Account) (*tls.Config, error) {
	roots, err := transport.Roots(a.CAFile)
	if err != nil {
		return nil, &stepError{step: stepTLS, kind: ErrTLS, msg: "the CA file cannot be used", err: err}
	}
	return &tls.Config{ServerName: a.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// dial connects, secures the connection as the account says, reads the
// greeting and says EHLO. The connection's deadline is ctx's, and ctx's
// end closes it: the textproto calls take no context.
func dial(ctx context.Context, a Account, cfg *tls.Config, name string) (*client, error) {
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := nd.DialContext(ctx, "tcp", a.Addr())
	if err != nil {
		return nil, classifyDial(a.Addr(), err)
	}
	if d, ok := ctx.Deadline(); ok {
		raw.SetDeadline(d)
	}
	c := &client{a: a, raw: raw, name: name}
	c.stop = context.AfterFunc(ctx, func() { raw.Close() })
	if err := c.open(ctx, cfg); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// open does dial's work on the connected client.
func (c *client) open(ctx context.Context, cfg *tls.Config) error {
	c.setConn(c.raw)
	if c.a.Security == agent.SecurityTLS {
		if err := c.handshake(ctx, cfg); err != nil {
			return err
		}
	}
	code, msg, err := c.read(220)
	if err != nil {
		return classify(stepConnect, "the greeting", err)
	}
	c.greeting = words(code, msg)
	if err := c.hello(); err != nil {
		return err
	}
	if c.a.Security != agent.SecuritySTARTTLS {
		return nil
	}
	if _, ok := c.ext["STARTTLS"]; !ok {
		if !transport.IsLoopback(c.a.Host) {
			return &stepError{step: stepTLS, kind: ErrTLS,
				msg: "the server does not offer STARTTLS, so the password and the mail could only be sent unencrypted; use smtps:// if the server offers TLS on another port (usually 465)"}
		}
		// A server on this computer without STARTTLS: nothing crosses a
		// network, so plaintext is as safe as the machine itself.
		c.plain = true
		return nil
	}
	if _, _, err := c.cmd(220, "STARTTLS"); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && te.Code >= 500 {
			return &stepError{step: stepTLS, kind: ErrTLS, err: &serverError{code: te.Code, text: words(te.Code, te.Msg)},
				msg: "the server offers STARTTLS but refused to start it"}
		}
		return classify(stepTLS, "STARTTLS", err)
	}
	if err := c.handshake(ctx, cfg); err != nil {
		return err
	}
	// RFC 3207: what the server said before TLS is forgotten.
	return c.hello()
}

// handshake puts TLS over the connection.
func (c *client) handshake(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if isTLSErr(err) {
			return classifyTLS(err)
		}
		return &stepError{step: stepTLS, kind: ErrTemporary, err: err,
			msg: "the connection broke while starting TLS; check the port (465 is for smtps://, 587 for smtp:// with STARTTLS)"}
	}
	st := tc.ConnectionState()
	c.secure = &st
	c.setConn(tc)
	return nil
}

// setConn speaks SMTP over conn from now on. The reader is new, so
// anything the server sent after its STARTTLS answer, before TLS, is
// dropped rather than read as if it had come encrypted (CVE-2011-0411).
func (c *client) setConn(conn net.Conn) {
	c.conn = conn
	c.limit = &capReader{r: conn}
	c.text = textproto.NewConn(struct {
		io.Reader
		io.WriteCloser
	}{bufio.NewReader(c.limit), conn})
}

// hello says EHLO, or HELO to a server too old for it, and keeps the
// extensions the server lists.
func (c *client) hello() error {
	c.ext = map[string]string{}
	_, msg, err := c.cmd(250, "EHLO %s", c.name)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		_, _, err = c.cmd(250, "HELO %s", c.name)
		return classifyHello(err)
	}
	if err != nil {
		return classifyHello(err)
	}
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// classifyHello classifies a failed EHLO or HELO.
func classifyHello(err error) error {
	if err == nil {
		return nil
	}
	return classify(stepConnect, "EHLO", err)
}

// cmd sends one command and reads its reply, which must start with
// expect's digits (250, or 2 for any 2xx). A reply that does not is a
// *textproto.Error carrying the server's code and words.
func (c *client) cmd(expect int, format string, args ...any) (int, string, error) {
	if err := c.text.PrintfLine(format, args...); err != nil {
		return 0, "", err
	}
	return c.read(expect)
}

// read reads one reply, bounded by maxReply.
func (c *client) read(expect int) (int, string, error) {
	c.limit.n = maxReply
	return c.text.ReadResponse(expect)
}

// quit says goodbye and closes the connection. The answer does not
// matter: what was to be done is done.
func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	c.cmd(221, "QUIT")
	c.close()
}

// close drops the connection.
func (c *client) close() {
	c.stop()
	c.conn.Close()
	c.raw.Close()
}

// capReader reads at most n bytes until n is reset: the bound of one reply.
type capReader struct {
	r io.Reader
	n int
}

// Read reads from r, failing with errTooLong once n is spent.
func (l *capReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLong
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// describe says how the session is secured, for Probe.
func (c *client) describe() string {
	if c.secure == nil {
		return "not encrypted"
	}
	return fmt.Sprintf("encrypted with %s, and the certificate is valid for %s", tls.VersionName(c.secure.Version), c.a.Host)
}
