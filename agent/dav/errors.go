package dav

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// ErrPrecondition reports a 412: the item changed on the server (or, for
// a new item, already exists there) since its ETag was read. Read it
// again, merge, and write with the new ETag.
var ErrPrecondition = errors.New("the item changed on the server since it was read")

// ErrAuth reports a 401, or a 403 that is not a failed precondition: the
// server refused the user name or password, or this user may not use
// the address. Trying again with the same password does not help.
var ErrAuth = errors.New("the server refused the user name or password")

// ErrTokenInvalid reports a sync token the server no longer accepts (the
// DAV:valid-sync-token precondition, sent with 403 or 409): the caller
// falls back to List and starts again with an empty token.
var ErrTokenInvalid = errors.New("the server no longer accepts the sync token")

// errTooLarge reports a response body over its limit; Get answers it by
// asking for fewer items at a time.
var errTooLarge = errors.New("the server's answer is larger than this client reads")

// statusError is a request the server answered with a failure status.
// Its text says in words what happened and carries the server's status
// line; kind makes it match ErrPrecondition, ErrAuth or ErrTokenInvalid.
type statusError struct {
	method, href string
	status       string // the server's status line, cleaned: "412 Precondition Failed"
	code         int
	cond         string // the DAV:error precondition, as "valid-sync-token"
	kind         error
	msg          string
}

// Error returns "dav: METHOD HREF: STATUS: sentence".
func (e *statusError) Error() string {
	s := "dav: " + e.method + " " + e.href + ": " + e.status
	if e.cond != "" {
		s += " (" + e.cond + ")"
	}
	return s + ": " + e.msg
}

// Unwrap returns the kind, so that errors.Is matches it.
func (e *statusError) Unwrap() error { return e.kind }

// classify turns a failure status into a statusError. body is the
// response body, already limited, which may name the precondition that
// failed (RFC 4918 §16).
func classify(method, href string, resp *http.Response, body []byte) error {
	e := &statusError{method: method, href: href, code: resp.StatusCode, status: cleanStatus(resp)}
	e.cond = errorCondition(body)
	switch {
	case e.cond == "valid-sync-token":
		e.kind, e.msg = ErrTokenInvalid, "the server no longer knows this sync token; the collection has to be listed again"
	case e.code == http.StatusPreconditionFailed:
		e.kind, e.msg = ErrPrecondition, "the item changed on the server (or already exists there) since it was read"
	case e.code == http.StatusUnauthorized:
		e.kind, e.msg = ErrAuth, "the server refused the user name or password; check them in the settings"
	case e.code == http.StatusForbidden && (e.cond == "" || e.cond == "need-privileges"):
		// A 403 without a named precondition is the server saying this
		// user may not go there: a wrong user name or address, which the
		// user fixes like a wrong password.
		e.kind, e.msg = ErrAuth, "the server does not let this user use "+href+"; check the user name and the address"
	case e.code == http.StatusNotFound:
		e.msg = "there is nothing at this address on the server; check the address"
	case e.code == http.StatusMethodNotAllowed:
		e.msg = "the server does not allow " + method + " here"
	case e.code == http.StatusInsufficientStorage:
		e.msg = "the server is out of space for this account"
	case e.code >= 300 && e.code < 400:
		e.msg = "the server sent the request elsewhere (" + clean(resp.Header.Get("Location"), 200) + "); enter that address instead"
	case e.code >= 500:
		e.msg = "the server failed to answer; it will be tried again later"
	default:
		e.msg = "the server refused the request"
	}
	return e
}

// cleanStatus is the status line as the server wrote it, kept short and
// printable: it is shown to the user, and a hostile server could send
// anything.
func cleanStatus(resp *http.Response) string {
	if resp.Status == "" {
		return fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return clean(resp.Status, 100)
}

// clean drops control characters from s and cuts it at max bytes.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// netError wraps a request that got no answer with a sentence that says
// what to check; the cause stays reachable with errors.Is and errors.As.
func netError(method, href string, err error) error {
	return fmt.Errorf("dav: %s %s: %s: %w", method, href, netSentence(err), err)
}

// netSentence says in words why a connection failed.
func netSentence(err error) string {
	var (
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		ne       net.Error
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "stopped"
	case errors.Is(err, context.DeadlineExceeded):
		return "the server did not answer in time; check the address and your network"
	case errors.As(err, &dns):
		if dns.IsTemporary || dns.IsTimeout {
			return "the server name " + dns.Name + " could not be looked up right now; check your network"
		}
		return "the server name " + dns.Name + " could not be found; check its spelling and your network"
	case errors.As(err, &unknown) || (errors.As(err, &verify) && !errors.As(err, &hostname) && !errors.As(err, &invalid)):
		return "the server's certificate is not trusted (if the server uses a private certificate authority, choose its certificate as the CA file)"
	case errors.As(err, &hostname):
		return "the server's certificate is for another name; check the server name"
	case errors.As(err, &invalid):
		return "the server's certificate is not valid (expired, or not for a server)"
	case errors.As(err, &record):
		return "the server did not answer with TLS; check the port, or whether the address should start with http://"
	case errors.As(err, &ne) && ne.Timeout():
		return "the server did not answer in time; check the address and your network"
	}
	return "could not reach the server; check the address, and that the server is running"
}
