package imap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
)

// dialer opens signed-in connections to one account. Run, the IDLE
// watchers, Folders and Probe all connect through it.
type dialer struct {
	a        agent.IMAPAccount
	tls      *tls.Config
	password string
	token    func(ctx context.Context) (string, error)
	timeout  time.Duration
}

// dialer returns the Source's dialer.
func (s *Source) dialer() dialer {
	return dialer{a: s.o.Account, tls: s.tls, password: s.o.Password, token: s.o.Token, timeout: s.o.DialTimeout}
}

// connect opens a connection, secures it and signs in. handler receives
// the server's unilateral data (EXISTS, EXPUNGE); it may be nil.
func (d dialer) connect(ctx context.Context, handler *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	c, err := d.open(ctx, handler)
	if err != nil {
		return nil, err
	}
	if err := d.login(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// open connects and secures the connection as the account says, and
// waits for the server's greeting.
func (d dialer) open(ctx context.Context, handler *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	opts := &imapclient.Options{UnilateralDataHandler: handler, TLSConfig: d.tls}
	raw, err := d.dialTCP(ctx)
	if err != nil {
		return nil, err
	}
	// The library's calls take no context: closing the connection is
	// what ends them when ctx does.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	var c *imapclient.Client
	switch d.a.Security {
	case agent.SecurityTLS:
		tc := tls.Client(raw, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, d.failed(ctx, classifyTLS(err))
		}
		c = imapclient.New(tc, opts)
	case agent.SecuritySTARTTLS:
		c, err = imapclient.NewStartTLS(raw, opts)
		if err != nil {
			raw.Close()
			if !isRefusal(err) {
				if isTLSErr(err) {
					return nil, d.failed(ctx, classifyTLS(err))
				}
				return nil, d.failed(ctx, &stepError{step: stepConnect, msg: "the connection broke while starting TLS", err: err})
			}
			if !transport.IsLoopback(d.a.Host) {
				return nil, &stepError{step: stepTLS, kind: ErrTLS, err: err,
					msg: "the server does not offer STARTTLS, so the password could only be sent unencrypted; use imaps:// if the server offers TLS on another port"}
			}
			// A server on this computer without STARTTLS: nothing crosses
			// a network, so plaintext is as safe as the machine itself.
			if raw, err = d.dialTCP(ctx); err != nil {
				return nil, err
			}
			stop2 := context.AfterFunc(ctx, func() { raw.Close() })
			defer stop2()
			c = imapclient.New(raw, opts)
		}
	default:
		c = imapclient.New(raw, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, d.failed(ctx, &stepError{step: stepConnect, msg: "the server did not greet as an IMAP server should; check the port", err: err})
	}
	return c, nil
}

// failed returns err, or a timeout in its place when ctx ended first: a
// connection closed by the deadline fails with a less telling error.
func (d dialer) failed(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	var se *stepError
	if errors.As(err, &se) {
		return &stepError{step: se.step, msg: fmt.Sprintf("the server at %s did not answer in time (check the port and the security setting: imaps:// for TLS, imap:// for STARTTLS)", d.a.Addr()), err: ctx.Err()}
	}
	return ctx.Err()
}

// dialTCP opens the TCP connection.
func (d dialer) dialTCP(ctx context.Context) (net.Conn, error) {
	nd := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := nd.DialContext(ctx, "tcp", d.a.Addr())
	if err != nil {
		return nil, classifyDial(d.a.Addr(), err)
	}
	return raw, nil
}

// isTLSErr reports whether err came from a TLS handshake.
func isTLSErr(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &record) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// login signs in with the token (XOAUTH2) or the password.
func (d dialer) login(ctx context.Context, c *imapclient.Client) error {
	if c.State() == goimap.ConnStateAuthenticated {
		return nil // PREAUTH: the connection is already someone's
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var err error
	switch {
	case d.token != nil:
		tok, terr := d.token(ctx)
		if terr != nil {
			return &stepError{step: stepLogin, msg: "could not get an access token for the mail server", err: terr}
		}
		err = c.Authenticate(&xoauth2{user: d.a.Username, token: tok})
	case c.Caps().Has(goimap.CapLoginDisabled):
		err = c.Authenticate(&plain{user: d.a.Username, password: d.password})
	default:
		err = c.Login(d.a.Username, d.password).Wait()
	}
	if err != nil {
		if ctx.Err() != nil && !isRefusal(err) {
			return d.failed(ctx, &stepError{step: stepLogin, err: err})
		}
		return classifyLogin(err)
	}
	return nil
}

// xoauth2 is the SASL XOAUTH2 mechanism that Microsoft 365 and Gmail
// accept with an OAuth access token. It follows Microsoft's and Google's
// published descriptions; it has been tried against Dovecot-style servers
// only, not against Microsoft 365 itself.
type xoauth2 struct{ user, token string }

// Start returns the initial response: the user and the bearer token.
func (x *xoauth2) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's challenge, which on XOAUTH2 only ever carries
// an error description: the empty answer lets the server finish with NO.
func (x *xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }

// plain is SASL PLAIN, for servers that disable the LOGIN command.
type plain struct{ user, password string }

// Start returns the initial response: no authorisation identity, the
// user and the password.
func (p *plain) Start() (mech string, ir []byte, err error) {
	return "PLAIN", []byte("\x00" + p.user + "\x00" + p.password), nil
}

// Next refuses a challenge: PLAIN has none.
func (p *plain) Next(challenge []byte) ([]byte, error) {
	return nil, errors.New("imap: unexpected challenge to AUTHENTICATE PLAIN")
}
