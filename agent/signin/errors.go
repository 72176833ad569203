package signin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"crmsync/agent/crm"
)

// Sentinels for errors.Is. Each reaches the caller as the Err of a
// *crm.Error, whose Kind says what the agent should do; the sentinel says
// why, for the sign-in form's wording.
var (
	// ErrInteractionRequired means the organisation demands a browser
	// sign-in (multi-factor authentication, consent, a policy): the
	// password grant must not be tried again. Kind: KindUnauthorized.
	ErrInteractionRequired error = interactionError{}
	// ErrWindowsAuth means the CRM offers only Windows authentication
	// (Negotiate or NTLM). Kind: KindBadRequest.
	ErrWindowsAuth = errors.New("signin: windows authentication only")
	// ErrCanceled means the user closed or declined the sign-in, or the
	// caller cancelled it. Kind: KindUnauthorized (still not signed in).
	ErrCanceled = errors.New("signin: canceled")
	// ErrTimedOut means the wait for the browser or the device code ran
	// out. Kind: KindUnauthorized (still not signed in).
	ErrTimedOut = errors.New("signin: timed out")
	// ErrUnknownClient means the client ID is not registered in the
	// organisation (AADSTS700016). Kind: KindBadRequest.
	ErrUnknownClient = errors.New("signin: unknown client")
	// ErrNoBrowser means the browser could not be opened for a browser
	// sign-in. Kind: KindBadRequest.
	ErrNoBrowser = errors.New("signin: no browser")
)

// interactionError is ErrInteractionRequired's type: the sign-in window,
// which may not import this package, finds it by its method.
type interactionError struct{}

func (interactionError) Error() string { return "signin: interaction required" }

// InteractionRequired reports that only a browser or code sign-in will do.
func (interactionError) InteractionRequired() bool { return true }

// User-facing sentences shared by several paths.
const (
	msgInteraction = "Your organisation requires you to sign in with your browser (multi-factor authentication); use 'Sign in with browser' or 'Sign in with a code'."
	msgWindowsAuth = "This CRM signs in with Windows authentication (Negotiate/NTLM), which crmsync does not support yet; ask your administrator for an internet-facing (AD FS or Entra ID) address."
	msgUnknownApp  = "crmsync's client ID is not registered in your organisation; ask your administrator to register it, or pass --client-id with the ID your organisation uses."
	msgUnreachable = "The sign-in service could not be reached; check the network and try again."
	msgNotOAuth    = "The sign-in service gave an answer that is not an OAuth response; check the address, and any proxy between this computer and the CRM."
	msgSessionGone = "Your sign-in has expired or was revoked; sign in again."
)

// maxBody bounds every response body read from the sign-in service or the
// CRM, so a hostile or broken server cannot exhaust memory.
const maxBody = 1 << 20

// oauthError is the RFC 6749 §5.2 error body, with Entra's additions.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	SubError    string `json:"suberror"`
}

// codePrefix matches the service's own code at the start of a description:
// Entra's "AADSTS50076:" and AD FS's "MSIS9683:".
var codePrefix = regexp.MustCompile(`^\s*((?:AADSTS|MSIS)(\d+))\b`)

// code returns the service's error code for crm.Error.Code and its number
// (0 when there is none), falling back to the OAuth error.
func (o *oauthError) code() (string, int) {
	if len(o.Codes) > 0 && o.Codes[0] > 0 {
		return "AADSTS" + strconv.Itoa(o.Codes[0]), o.Codes[0]
	}
	if m := codePrefix.FindStringSubmatch(o.Description); m != nil {
		n, _ := strconv.Atoi(m[2])
		if strings.HasPrefix(m[1], "MSIS") {
			n = 0 // AD FS numbers are a different space from Entra's
		}
		return m[1], n
	}
	return o.Error, 0
}

// refusal maps an OAuth error answer to a *crm.Error. It branches on the
// OAuth error and the numeric code only: descriptions are localised and
// may name the user, so they never reach the message. badGrant is the
// sentence for a plain invalid_grant, whose meaning depends on the grant:
// a wrong password, a stale code, or a revoked refresh token.
func refusal(op string, status int, o *oauthError, badGrant string) *crm.Error {
	code, n := o.code()
	e := &crm.Error{Op: op, Status: status, Code: code}
	set := func(k crm.Kind, sentinel error, msg string) *crm.Error {
		e.Kind, e.Err, e.Message = k, sentinel, msg
		return e
	}
	switch n {
	case 50076, 50079, 50158, 50072, 50074:
		return set(crm.KindUnauthorized, ErrInteractionRequired, msgInteraction)
	case 65001:
		return set(crm.KindUnauthorized, ErrInteractionRequired,
			"crmsync needs your consent, which only an interactive sign-in can give; use 'Sign in with browser' or 'Sign in with a code'.")
	case 700016:
		return set(crm.KindBadRequest, ErrUnknownClient, msgUnknownApp)
	case 50126, 50034:
		return set(crm.KindUnauthorized, nil, "The user name or password is incorrect; check them and try again.")
	case 50053:
		return set(crm.KindUnauthorized, nil, "Your account is locked after too many attempts; wait a while, or ask your administrator.")
	case 50055, 50144:
		return set(crm.KindUnauthorized, nil, "Your password has expired; change it in your organisation's portal, then sign in again.")
	case 50057:
		return set(crm.KindUnauthorized, nil, "Your account is disabled; ask your administrator.")
	case 53003:
		return set(crm.KindUnauthorized, nil, "Your organisation's access policy blocked this sign-in; ask your administrator.")
	case 7000218:
		return set(crm.KindBadRequest, nil, "Your organisation does not allow this client to sign in with a code or password ('Allow public client flows' is off); use 'Sign in with browser' or ask your administrator.")
	case 50011:
		return set(crm.KindBadRequest, nil, "The client ID does not allow sign-in with a loopback redirect (http://localhost); ask your administrator to add it, or use 'Sign in with a code'.")
	}
	switch o.Error {
	case "interaction_required", "consent_required", "login_required":
		return set(crm.KindUnauthorized, ErrInteractionRequired, msgInteraction)
	case "invalid_grant":
		return set(crm.KindUnauthorized, nil, badGrant)
	case "access_denied", "authorization_declined":
		return set(crm.KindUnauthorized, ErrCanceled, "You declined the sign-in.")
	case "expired_token":
		return set(crm.KindUnauthorized, ErrTimedOut, "The code expired before you entered it; start again.")
	case "bad_verification_code":
		return set(crm.KindBadRequest, nil, "The sign-in service did not recognise the device code it issued; start the sign-in again.")
	case "temporarily_unavailable", "server_error":
		return set(crm.KindUnavailable, nil, "The sign-in service is temporarily unavailable; try again in a few minutes.")
	case "invalid_client", "unauthorized_client":
		return set(crm.KindBadRequest, nil, "The sign-in service does not accept this client for this kind of sign-in ("+code+"); ask your administrator, or try another sign-in method.")
	case "invalid_scope":
		return set(crm.KindBadRequest, nil, "The sign-in service refused the requested permissions ("+code+"); check --scope, or ask your administrator.")
	case "unsupported_grant_type":
		return set(crm.KindBadRequest, nil, "The sign-in service does not support this kind of sign-in; try another sign-in method.")
	}
	return set(crm.KindBadRequest, nil, "The sign-in service refused the request ("+code+"); try again, or ask your administrator.")
}

// statusError classifies an answer that carries no OAuth error. Throttling
// and server trouble are temporary; anything else means we did not reach
// a working sign-in service.
func statusError(op string, resp *http.Response, now time.Time) *crm.Error {
	e := &crm.Error{Op: op, Status: resp.StatusCode}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Kind = crm.KindThrottled
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		e.Message = "The sign-in service is busy; try again in a moment."
	case s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout:
		e.Kind = crm.KindUnavailable
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		e.Message = "The sign-in service is temporarily unavailable; try again in a few minutes."
	case s >= 500:
		e.Kind = crm.KindServer
		e.Message = "The sign-in service had an internal error; try again in a few minutes."
	default:
		e.Kind = crm.KindBadResponse
		e.Message = msgNotOAuth
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date, capped at a day
// so a bogus header cannot park the agent for ever.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(min(max(s, 0), 24*3600)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

// transportError classifies a request that got no answer. The cause is
// kept for errors.Is and errors.As but its text is replaced: net/http's
// own text names the address, which must not reach a log.
func transportError(op string, err error) *crm.Error {
	kind, text := crm.KindNetwork, "no answer"
	var (
		dns   *net.DNSError
		netE  net.Error
		x509U x509.UnknownAuthorityError
		x509H x509.HostnameError
		x509C x509.CertificateInvalidError
		tlsV  *tls.CertificateVerificationError
		tlsR  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.Canceled):
		text = "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		text = "timed out"
	case errors.As(err, &x509H):
		kind, text = crm.KindTLS, "the certificate does not match the host name"
	case errors.As(err, &x509U), errors.As(err, &tlsV), errors.As(err, &x509C):
		kind, text = crm.KindTLS, "the certificate is not trusted"
	case errors.As(err, &tlsR):
		kind, text = crm.KindTLS, "the server does not speak TLS"
	case errors.As(err, &dns):
		text = "the host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		text = "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		text = "the connection was closed"
	case errors.As(err, &netE) && netE.Timeout():
		text = "timed out"
	}
	msg := msgUnreachable
	if kind == crm.KindTLS {
		msg = "The sign-in service's certificate was refused (" + text + "); check the address, or add your organisation's CA bundle in settings."
	}
	return &crm.Error{Op: op, Kind: kind, Message: msg, Err: &causeError{text: text, err: err}}
}

// causeError carries an underlying error under a text of our own.
type causeError struct {
	text string
	err  error
}

func (c *causeError) Error() string { return c.text }
func (c *causeError) Unwrap() error { return c.err }

// flowError builds the error of an interactive sign-in that did not finish.
func flowError(op string, kind crm.Kind, sentinel error, msg string) *crm.Error {
	return &crm.Error{Op: op, Kind: kind, Message: msg, Err: sentinel}
}

// canceled is the error of a sign-in whose context ended: the caller or
// the user gave up, which is not a failure of the service.
func canceled(op string) *crm.Error {
	return flowError(op, crm.KindUnauthorized, ErrCanceled, "The sign-in was cancelled.")
}

// userFacing marks the messages of this package's errors as the whole
// sentence for the user: they already say what happened and what to do,
// so the CRM client's generic framing would only repeat them.
func userFacing(err error) error {
	var e *crm.Error
	if errors.As(err, &e) && e.UserText == "" && e.Message != "" {
		e.UserText = e.Message
	}
	return err
}
