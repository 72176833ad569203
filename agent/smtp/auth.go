package smtp

import (
	"context"
	"encoding/base64"
	"errors"
	"net/textproto"
	"strings"

	"crmsync/agent/internal/transport"
)

// mechanism is one SASL mechanism, as AUTH runs it.
type mechanism interface {
	// name is the mechanism's name after AUTH.
	name() string
	// initial is the initial response sent with AUTH; nil sends none and
	// waits for the server's first challenge.
	initial() []byte
	// next answers a challenge (decoded).
	next(challenge []byte) ([]byte, error)
}

// plainAuth is SASL PLAIN (RFC 4616): no authorisation identity, the
// user, the password.
type plainAuth struct{ user, password string }

func (p plainAuth) name() string { return "PLAIN" }
func (p plainAuth) initial() []byte {
	return []byte("\x00" + p.user + "\x00" + p.password)
}
func (p plainAuth) next([]byte) ([]byte, error) {
	return nil, errors.New("unexpected challenge to AUTH PLAIN")
}

// loginAuth is the LOGIN mechanism, never standardised but the only one
// some servers (older Exchange among them) offer: the server asks
// "Username:" then "Password:". The prompts are answered by their order,
// not their words, which some servers spell differently.
type loginAuth struct {
	user, password string
	asked          *int
}

func (l loginAuth) name() string    { return "LOGIN" }
func (l loginAuth) initial() []byte { return nil }
func (l loginAuth) next([]byte) ([]byte, error) {
	*l.asked++
	switch *l.asked {
	case 1:
		return []byte(l.user), nil
	case 2:
		return []byte(l.password), nil
	}
	return nil, errors.New("AUTH LOGIN asked for more than a user name and a password")
}

// xoauth2Auth is SASL XOAUTH2 with an OAuth bearer token, as Microsoft
// 365 and Gmail take it. It follows Microsoft's published description
// for SMTP (AUTH XOAUTH2, an empty 334, then the encoded response), so
// the response is not sent as an initial response, whose length could
// break a server's line limit. This has NOT been tried against
// Exchange Online itself, only written from its documentation.
type xoauth2Auth struct{ user, token string }

func (x xoauth2Auth) name() string    { return "XOAUTH2" }
func (x xoauth2Auth) initial() []byte { return nil }
func (x xoauth2Auth) next(challenge []byte) ([]byte, error) {
	if len(challenge) > 0 {
		// A challenge after the response is the server's error, as
		// JSON; the empty answer lets it finish with 535.
		return []byte{}, nil
	}
	return []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// maxAuthRounds bounds the challenges of one AUTH: a server that keeps
// asking is broken or hostile.
const maxAuthRounds = 5

// auth signs in as the options say: with the token (XOAUTH2) when there
// is one, otherwise with the password by PLAIN or, where the server
// offers only that, LOGIN. It does nothing for an account without a
// user name.
func (c *client) auth(ctx context.Context, o Options) (mech string, err error) {
	if c.a.Username == "" {
		return "", nil
	}
	if c.secure == nil && !transport.IsLoopback(c.a.Host) {
		// CheckAccount already refuses this; a second check costs nothing
		// and a password in clear text on a network costs a lot.
		return "", &stepError{step: stepLogin, kind: ErrTLS, msg: "refusing to send the password over an unencrypted connection"}
	}
	offered, ok := c.ext["AUTH"]
	if !ok {
		return "", &stepError{step: stepLogin, kind: ErrAuth,
			msg: "the server does not offer signing in (AUTH) on this connection; check the port (587 or 465 are for submission; 25 is for servers talking to servers)"}
	}
	has := map[string]bool{}
	for _, m := range strings.Fields(strings.ToUpper(offered)) {
		has[m] = true
	}
	var m mechanism
	switch {
	case o.Token != nil:
		if !has["XOAUTH2"] {
			return "", &stepError{step: stepLogin, kind: ErrAuth,
				msg: "the server does not offer signing in with an access token (XOAUTH2); use the password instead"}
		}
		tok, err := o.Token(ctx)
		if err != nil {
			return "", &stepError{step: stepLogin, kind: ErrTemporary, msg: "could not get an access token for the outgoing mail server", err: err}
		}
		m = xoauth2Auth{user: c.a.Username, token: tok}
	case has["PLAIN"]:
		m = plainAuth{user: c.a.Username, password: o.Password}
	case has["LOGIN"]:
		m = loginAuth{user: c.a.Username, password: o.Password, asked: new(int)}
	default:
		return "", &stepError{step: stepLogin, kind: ErrAuth,
			msg: "the server offers no way of signing in that crmsync speaks (it offers " + sanitiseList(offered) + "; crmsync speaks PLAIN, LOGIN and XOAUTH2)"}
	}
	return m.name(), c.sasl(m)
}

// sasl runs one AUTH exchange (RFC 4954).
func (c *client) sasl(m mechanism) error {
	enc := base64.StdEncoding
	var err error
	if ir := m.initial(); ir == nil {
		err = c.text.PrintfLine("AUTH %s", m.name())
	} else {
		err = c.text.PrintfLine("AUTH %s %s", m.name(), enc.EncodeToString(ir))
	}
	if err != nil {
		return classify(stepLogin, "AUTH", err)
	}
	for round := 0; ; round++ {
		code, msg, err := c.read(2)
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != 334 {
			if err != nil {
				return classify(stepLogin, "AUTH", err)
			}
			if code != 235 {
				return classify(stepLogin, "AUTH", &textproto.Error{Code: code, Msg: msg})
			}
			return nil
		}
		if round >= maxAuthRounds {
			c.text.PrintfLine("*") // cancels the exchange
			return &stepError{step: stepLogin, kind: ErrAuth, msg: "the server kept asking while signing in"}
		}
		challenge, derr := enc.DecodeString(strings.TrimSpace(te.Msg))
		var answer []byte
		if derr == nil {
			answer, derr = m.next(challenge)
		}
		if derr != nil {
			c.text.PrintfLine("*")
			c.read(5)
			return &stepError{step: stepLogin, kind: ErrAuth, msg: "signing in failed", err: derr}
		}
		if err := c.text.PrintfLine("%s", enc.EncodeToString(answer)); err != nil {
			return classify(stepLogin, "AUTH", err)
		}
	}
}

// sanitiseList keeps a server's list of mechanisms fit to show.
func sanitiseList(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
