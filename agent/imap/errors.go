package imap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent/maildir"
)

// ErrLogin reports that the server refused the user name, the password or
// the access token. Trying again with the same secret does not help, so
// Run returns it instead of retrying.
var ErrLogin = errors.New("the server refused the user name or password")

// ErrTLS reports a secure connection that could not be set up: a
// certificate that is not trusted or not for this server, a server that
// does not speak TLS on the port, or one that does not offer STARTTLS.
var ErrTLS = errors.New("the secure connection to the server failed")

// ErrOffline reports a message that cannot be read now because the mail
// server is not connected. It is temporary: ask again later.
var ErrOffline = errors.New("not connected to the mail server")

// step is a stage of connecting, as the settings window's test reports it.
type step int

const (
	stepDNS step = iota + 1
	stepConnect
	stepTLS
	stepLogin
)

// stepError is a failure of one stage of connecting. Its text is for the
// user: it says in words what went wrong and what to do; the cause stays
// reachable with errors.Is and errors.As.
type stepError struct {
	step step
	msg  string // user-facing, without the cause's own text
	kind error  // ErrLogin, ErrTLS or nil
	err  error  // the cause
}

// Error returns the user-facing text and the cause's.
func (e *stepError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

// Unwrap returns the kind (ErrLogin, ErrTLS) and the cause.
func (e *stepError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// Temporary reports whether trying again later may succeed: network
// failures may, a refused login or an untrusted certificate does not.
func (e *stepError) Temporary() bool { return e.kind == nil }

// offlineError is an ErrOffline with its cause. It also matches
// maildir.ErrSettling, whose meaning a reader of either source already
// acts on: the message is there but cannot be read right now, so read it
// again after a while instead of calling it unreadable.
type offlineError struct{ err error }

// Error says the server is not connected, and why.
func (e offlineError) Error() string {
	if e.err == nil {
		return "imap: " + ErrOffline.Error()
	}
	return "imap: " + ErrOffline.Error() + ": " + e.err.Error()
}

// Unwrap returns the cause.
func (e offlineError) Unwrap() error { return e.err }

// Is matches ErrOffline and maildir.ErrSettling.
func (e offlineError) Is(target error) bool {
	return target == ErrOffline || target == maildir.ErrSettling
}

// Temporary reports true: the connection comes back by itself.
func (e offlineError) Temporary() bool { return true }

// classifyDial turns a failed TCP dial into a stepError.
func classifyDial(addr string, err error) error {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		msg := "the server name " + dns.Name + " could not be found; check its spelling and your network"
		if dns.IsTemporary || dns.IsTimeout {
			msg = "the server name " + dns.Name + " could not be looked up right now; check your network"
		}
		return &stepError{step: stepDNS, msg: msg, err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &stepError{step: stepConnect, msg: "the server at " + addr + " did not answer in time; check the server name, the port and your network", err: err}
	}
	return &stepError{step: stepConnect, msg: "could not connect to " + addr + "; check the server name and port, and that the server is running", err: err}
}

// classifyTLS turns a failed TLS handshake into a stepError wrapping ErrTLS.
func classifyTLS(err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	msg := "the secure connection to the server failed"
	switch {
	case errors.As(err, &unknown):
		msg = "the server's certificate is not trusted (if the server uses a private certificate authority, choose its certificate as the CA file)"
	case errors.As(err, &hostname):
		msg = "the server's certificate is for another name; check the server name"
	case errors.As(err, &invalid):
		msg = "the server's certificate is not valid (expired, or not for a server)"
	case errors.As(err, &record):
		msg = "the server did not answer with TLS; check the port (993 is for imaps://, 143 for imap:// with STARTTLS)"
	}
	return &stepError{step: stepTLS, msg: msg, kind: ErrTLS, err: err}
}

// classifyLogin turns a failed LOGIN or AUTHENTICATE into a stepError.
// The server's NO is a refusal, unless its response code says the
// failure is on the server's side and passing.
func classifyLogin(err error) error {
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		return &stepError{step: stepLogin, msg: "the connection broke while signing in", err: err}
	}
	switch ie.Code {
	case goimap.ResponseCodeUnavailable, goimap.ResponseCodeServerBug, goimap.ResponseCodeLimit:
		return &stepError{step: stepLogin, msg: "the server cannot sign you in right now; it will be tried again", err: serverSaid(ie)}
	}
	return &stepError{step: stepLogin, msg: ErrLogin.Error(), kind: ErrLogin, err: serverSaid(ie)}
}

// serverSaid keeps a server's answer short: it is shown to the user and
// logged, and a hostile server could send anything.
func serverSaid(ie *goimap.Error) error {
	text := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, ie.Text)
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if ie.Code != "" {
		return fmt.Errorf("the server said: [%s] %s", ie.Code, text)
	}
	return fmt.Errorf("the server said: %s", text)
}

// logErr is err as it may be logged: a server's answer can name a
// mailbox, which the logs must not, so only its type and code are kept.
func logErr(err error) string {
	var ie *goimap.Error
	if errors.As(err, &ie) {
		return fmt.Sprintf("server answered %s [%s]", ie.Type, ie.Code)
	}
	var se *stepError
	if errors.As(err, &se) {
		return se.msg
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// isRefusal reports whether err is the server's NO or BAD to a command,
// as opposed to a broken connection.
func isRefusal(err error) bool {
	var ie *goimap.Error
	return errors.As(err, &ie)
}
