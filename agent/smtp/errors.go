package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"strings"
)

// ErrTLS reports a secure connection that could not be set up: a
// certificate that is not trusted or not for this server, a server that
// does not speak TLS on the port, or one that does not offer STARTTLS
// (or refuses AUTH until it is used). Retrying does not help; the
// settings need changing.
var ErrTLS = errors.New("the secure connection to the outgoing mail server failed")

// ErrAuth reports that the server refused the user name, the password or
// the access token (535 and the like), or offers no way of signing in
// that this client speaks. Retrying with the same secret does not help.
var ErrAuth = errors.New("the outgoing mail server refused the user name or password")

// ErrTemporary reports a failure that may pass: the server answered 4xx
// (busy, greylisting, a full queue), the network failed, the server did
// not answer in time, or the context ended. The caller retries later.
//
// A failure after the message's final "." was sent and before the
// server's answer arrived is temporary too, though the server may have
// queued the message: SMTP cannot tell, and a message sent twice is
// better than one never sent. Its text says so.
var ErrTemporary = errors.New("the outgoing mail server could not be reached or asked to try again later")

// RefusedError is the server's permanent (5xx) refusal of the sender, of
// a recipient or of the message. Retrying sends the same thing and gets
// the same answer: the caller marks the email Failed and shows Text.
type RefusedError struct {
	Stage string // "MAIL FROM", "RCPT TO <addr>" or "DATA"
	Code  int    // the reply code, 500 to 599
	Text  string // the server's own words, as "550 5.1.1 <x@y>: Recipient address rejected: User unknown"
}

// Error says what was refused, in the server's words.
func (e *RefusedError) Error() string {
	return "the outgoing mail server refused " + e.Stage + ": " + e.Text
}

// Temporary reports false: a refusal is final.
func (e *RefusedError) Temporary() bool { return false }

// step is a stage of a session, as Probe reports it.
type step int

const (
	stepDNS step = iota + 1
	stepConnect
	stepTLS
	stepLogin
	stepSend // MAIL, RCPT and DATA: never reached by Probe
)

// stepError is a failure of one stage of a session. Its text is for the
// user: it says in words what went wrong and what to do; the cause (the
// server's words, a network error, ctx.Err()) stays reachable with
// errors.Is and errors.As.
type stepError struct {
	step step
	msg  string // user-facing, without the cause's own text
	kind error  // ErrTLS, ErrAuth, ErrTemporary, or nil for a permanent failure
	err  error  // the cause; may be nil
}

// Error returns the user-facing text and the cause's.
func (e *stepError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

// Unwrap returns the kind and the cause.
func (e *stepError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Temporary reports whether trying again later may succeed.
func (e *stepError) Temporary() bool { return e.kind == ErrTemporary }

// serverError is a server's reply, sanitised, as the cause of a stepError.
type serverError struct {
	code int
	text string // "535 5.7.8 Error: authentication failed: ..."
}

// Error quotes the server.
func (e *serverError) Error() string { return "the server said: " + e.text }

// words makes a reply fit to show and log: a hostile or broken server
// could send anything, so control characters go and the length is
// bounded. textproto joins a multi-line reply with newlines.
func words(code int, msg string) string {
	text := fmt.Sprintf("%d %s", code, strings.ReplaceAll(msg, "\n", " "))
	text = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(text, "?"))
	if len(text) > maxWords {
		cut := maxWords
		for cut > 0 && text[cut]&0xc0 == 0x80 {
			cut-- // not inside a UTF-8 sequence
		}
		text = text[:cut] + "…"
	}
	return text
}

// maxWords bounds the server's words kept in an error.
const maxWords = 400

// classify turns the failure of one command into the error Send returns:
// the one place where a reply code or a network failure becomes
// temporary, a refusal, a login failure or a TLS failure.
func classify(st step, stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		said := &serverError{code: te.Code, text: words(te.Code, te.Msg)}
		switch {
		case te.Code >= 400 && te.Code < 500:
			return &stepError{step: st, kind: ErrTemporary, err: said,
				msg: "the outgoing mail server asked to try " + stage + " again later"}
		case te.Code < 500 || te.Code > 599:
			return &stepError{step: st, err: said,
				msg: "the outgoing mail server answered " + stage + " with a code SMTP does not use; check the port"}
		case st == stepSend:
			return &RefusedError{Stage: stage, Code: te.Code, Text: said.text}
		case st == stepLogin && (te.Code == 530 || te.Code == 538):
			// 530 5.7.0 and 538 5.7.11: encryption required to sign in.
			return &stepError{step: st, kind: ErrTLS, err: said,
				msg: "the server accepts the password only over an encrypted connection; use smtps:// or STARTTLS"}
		case st == stepLogin:
			return &stepError{step: st, kind: ErrAuth, err: said, msg: ErrAuth.Error()}
		case st == stepConnect:
			return &stepError{step: st, err: said,
				msg: "the outgoing mail server refuses connections from this computer"}
		}
		return &stepError{step: st, err: said, msg: "the outgoing mail server refused " + stage}
	}
	var pe textproto.ProtocolError
	if errors.As(err, &pe) || errors.Is(err, errTooLong) {
		return &stepError{step: st, err: err,
			msg: "the server did not answer as an SMTP server should; check the port (465 is for smtps://, 587 for smtp:// with STARTTLS)"}
	}
	if isTLSErr(err) {
		return classifyTLS(err)
	}
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	return &stepError{step: st, kind: ErrTemporary, err: err,
		msg: "the connection to the outgoing mail server broke during " + stage}
}

// classifyDial turns a failed TCP dial into a stepError. Every dial
// failure is temporary for Send: a server down now may be up later.
func classifyDial(addr string, err error) error {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		msg := "the server name " + dns.Name + " could not be found; check its spelling and your network"
		if dns.IsTemporary || dns.IsTimeout {
			msg = "the server name " + dns.Name + " could not be looked up right now; check your network"
		}
		return &stepError{step: stepDNS, kind: ErrTemporary, msg: msg, err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &stepError{step: stepConnect, kind: ErrTemporary, err: err,
			msg: "the outgoing mail server at " + addr + " did not answer in time; check the server name, the port and your network"}
	}
	return &stepError{step: stepConnect, kind: ErrTemporary, err: err,
		msg: "could not connect to " + addr + "; check the server name and port, and that the server is running"}
}

// classifyTLS turns a failed TLS handshake into a stepError wrapping ErrTLS.
func classifyTLS(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	msg := "the secure connection to the outgoing mail server failed"
	switch {
	case errors.As(err, &unknown):
		msg = "the server's certificate is not trusted (if the server uses a private certificate authority, choose its certificate as the CA file)"
	case errors.As(err, &hostname):
		msg = "the server's certificate is for another name; check the server name"
	case errors.As(err, &invalid):
		msg = "the server's certificate is not valid (expired, or not for a server)"
	case errors.As(err, &record):
		msg = "the server did not answer with TLS; check the port (465 is for smtps://, 587 for smtp:// with STARTTLS)"
	}
	return &stepError{step: stepTLS, msg: msg, kind: ErrTLS, err: err}
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

// ended returns err, or in its place a temporary error saying the time
// ran out or the send was cancelled, when ctx ended first: a connection
// closed by the deadline fails with a less telling error. A server's
// answer stands: it arrived before the end.
func ended(ctx context.Context, addr string, sent bool, err error) error {
	// The connection's deadline is ctx's, and may fire a moment before
	// ctx notices: a timeout on the connection counts as ctx's end.
	cause := ctx.Err()
	if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cause = context.DeadlineExceeded
	}
	if cause == nil || err == nil {
		return err
	}
	var (
		re *RefusedError
		se *stepError
		sv *serverError
	)
	if errors.As(err, &re) || errors.As(err, &sv) {
		return err
	}
	st := stepConnect
	if errors.As(err, &se) {
		st = se.step
	}
	msg := "the outgoing mail server at " + addr + " did not answer in time (check the port and the security setting: smtps:// for TLS, smtp:// for STARTTLS)"
	if errors.Is(cause, context.Canceled) {
		msg = "sending was cancelled"
	}
	if sent {
		msg += "; the server may have accepted the message all the same"
	}
	return &stepError{step: st, kind: ErrTemporary, msg: msg, err: cause}
}
