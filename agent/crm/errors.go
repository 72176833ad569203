package crm

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind classifies a failure by what the caller should do about it. Every
// HTTP status and transport failure is mapped to a Kind here and nowhere
// else, so the engine's reaction to the CRM has one source of truth.
type Kind int

// The failure kinds.
const (
	KindUnknown      Kind = iota
	KindUnauthorized      // 401 or a refused token grant: sign in again
	KindForbidden         // 403: the CRM does not permit it; keep its message
	KindNotFound          // 404: the record does not exist (on delete: already gone)
	KindConflict          // 409, 412: version mismatch or duplicate record
	KindThrottled         // 429: service protection; wait Retry-After
	KindUnavailable       // 502, 503, 504: retry after Retry-After or backoff
	KindNetwork           // no answer at all: DNS, refused, reset, timeout
	KindBadRequest        // other 4xx: the request is wrong; retrying will not help
	KindServer            // other 5xx
	KindBadResponse       // the answer could not be understood
	KindTLS               // the server's certificate was refused
)

var kindNames = map[Kind]string{
	KindUnknown: "unknown", KindUnauthorized: "unauthorized", KindForbidden: "forbidden",
	KindNotFound: "not found", KindConflict: "conflict", KindThrottled: "throttled",
	KindUnavailable: "unavailable", KindNetwork: "network", KindBadRequest: "bad request",
	KindServer: "server error", KindBadResponse: "bad response", KindTLS: "tls",
}

// String names the kind for logs.
func (k Kind) String() string { return kindNames[k] }

// Sentinel errors, one per kind the callers branch on. errors.Is(err,
// ErrUnauthorized) holds for any *Error of that kind.
var (
	ErrUnauthorized = errors.New("crm: sign-in required")
	ErrForbidden    = errors.New("crm: not permitted")
	ErrNotFound     = errors.New("crm: not found")
	ErrConflict     = errors.New("crm: conflict")
	ErrThrottled    = errors.New("crm: throttled")
	ErrUnavailable  = errors.New("crm: unavailable")
	ErrNetwork      = errors.New("crm: unreachable")
	ErrBadResponse  = errors.New("crm: bad response")
	ErrInsecureURL  = errors.New("crm: https required")
	ErrInvalidURL   = errors.New("crm: invalid address")
)

var kindSentinel = map[Kind]error{
	KindUnauthorized: ErrUnauthorized, KindForbidden: ErrForbidden, KindNotFound: ErrNotFound,
	KindConflict: ErrConflict, KindThrottled: ErrThrottled, KindUnavailable: ErrUnavailable,
	KindNetwork: ErrNetwork, KindBadResponse: ErrBadResponse,
}

// Error is a classified failure of one CRM operation.
type Error struct {
	Op         string        // what the client was doing, e.g. "create email"
	Kind       Kind          // what the caller should do about it
	Status     int           // HTTP status; 0 when there was no answer
	Code       string        // the OData error code, e.g. 0x80040220; may be empty
	Message    string        // the CRM's own message, or ours; never holds secrets
	UserText   string        // when set, the whole sentence for the user (the sign-in service's failures carry one)
	RetryAfter time.Duration // from Retry-After; 0 when absent
	Limit      Limit         // which service protection limit a 429 reports; LimitNone otherwise
	Err        error         // the underlying transport or decode error, if any
}

// Limit names the Dataverse service protection limit a 429 reports
// ([PAD] api-limits.md): the users of one account share each of them.
type Limit int

// The service protection limits.
const (
	LimitNone          Limit = iota
	LimitRequests            // 0x80072322: too many requests in the window
	LimitExecutionTime       // 0x80072321: too much combined execution time in the window
	LimitConcurrency         // 0x80072326: too many requests at the same time
	LimitOther               // a 429 whose code is none of the documented ones
)

var limitText = map[Limit]string{
	LimitRequests: "too many requests", LimitExecutionTime: "too much processing time",
	LimitConcurrency: "too many at once", LimitOther: "busy",
}

// String says which limit was reached, in the words shown to the user.
func (l Limit) String() string { return limitText[l] }

// limitCodes maps the documented 429 error codes, in the hex form the
// Web API writes and the decimal form the SDK and some proxies write, to
// the limit they report ([PAD] api-limits.md).
var limitCodes = map[string]Limit{
	"0x80072322": LimitRequests, "-2147015902": LimitRequests,
	"0x80072321": LimitExecutionTime, "-2147015903": LimitExecutionTime,
	"0x80072326": LimitConcurrency, "-2147015898": LimitConcurrency,
}

// limitOf classifies a 429's error code.
func limitOf(code string) Limit {
	if l, ok := limitCodes[strings.ToLower(strings.TrimSpace(code))]; ok {
		return l
	}
	return LimitOther
}

// Error formats the failure for logs: operation, status and the CRM's message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("crm: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes the transport or decode error underneath.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is match the sentinel of the error's kind.
func (e *Error) Is(target error) bool {
	s, ok := kindSentinel[e.Kind]
	return ok && s == target
}

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool {
	switch e.Kind {
	case KindThrottled, KindUnavailable, KindNetwork, KindServer:
		return true
	}
	return false
}

// UserMessage is the sentence shown to the user: what happened and what to do.
func (e *Error) UserMessage() string {
	if e.UserText != "" {
		return e.UserText
	}
	switch e.Kind {
	case KindUnauthorized:
		if e.Message != "" {
			return "The CRM did not accept your sign-in (" + e.Message + "). Sign in again."
		}
		return "The CRM did not accept your sign-in. Sign in again."
	case KindForbidden:
		return "The CRM does not permit this: " + e.Message
	case KindNotFound:
		return "The CRM record no longer exists."
	case KindConflict:
		return "The CRM record was changed by someone else; try again."
	case KindThrottled:
		what := e.Limit.String()
		if what == "" {
			what = "busy"
		}
		return "The CRM's service protection limit was reached (" + what + "); crmsync will retry in " + roundSeconds(e.RetryAfter) + "."
	case KindUnavailable, KindServer:
		return "The CRM is temporarily unavailable; queued work will be sent when it answers again."
	case KindNetwork:
		return "The CRM cannot be reached; check the network. Queued work will be sent when it answers again."
	case KindTLS:
		return "The CRM's certificate was refused (" + e.Message + "). Check the address, or add your organisation's CA bundle in settings."
	case KindBadResponse:
		return "The CRM's answer could not be understood (" + e.Message + "). Check that the address is the CRM's, not a sign-in or proxy page."
	}
	if e.Message != "" {
		return "The CRM refused the request: " + e.Message
	}
	return "The CRM refused the request."
}

func roundSeconds(d time.Duration) string {
	if d <= 0 {
		return "a moment"
	}
	s := int((d + time.Second - 1) / time.Second)
	if s == 1 {
		return "1 second"
	}
	return strconv.Itoa(s) + " seconds"
}

// UserMessage is the sentence to show a user for err: the CRM error's own
// user message when err holds one, else the error's text; "" for nil.
func UserMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.UserMessage()
	}
	return err.Error()
}

// RetryAfter returns how long the CRM asked to wait, if err carries it.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// KindOf returns the classification of err, KindUnknown if it is not a CRM error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// IsTemporary reports whether err is worth retrying later.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// classifyStatus maps an HTTP status to a Kind.
func classifyStatus(status int) Kind {
	switch {
	case status == http.StatusUnauthorized:
		return KindUnauthorized
	case status == http.StatusForbidden:
		return KindForbidden
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusPreconditionFailed, status == http.StatusConflict:
		return KindConflict
	case status == http.StatusTooManyRequests:
		return KindThrottled
	case status == http.StatusBadGateway, status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
		return KindUnavailable
	case status >= 500:
		return KindServer
	case status >= 400:
		return KindBadRequest
	}
	return KindUnknown
}

// classifyTransport maps a failure to get any answer to a Kind.
func classifyTransport(err error) Kind {
	if isTLSError(err) {
		return KindTLS
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return KindNetwork
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return KindNetwork
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return KindNetwork
	}
	// Connection resets and unexpected EOFs surface as plain errors from
	// net/http; with no HTTP answer in hand, the network is the suspect.
	return KindNetwork
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		if s > 24*3600 {
			s = 24 * 3600 // a day at most: a bogus header must not park the agent for ever
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			if d > 24*time.Hour {
				d = 24 * time.Hour
			}
			return d
		}
	}
	return 0
}

// duplicateCodes are Dataverse's DuplicateRecord codes, hex and decimal.
var duplicateCodes = map[string]bool{"0x80040237": true, "-2147220937": true}

// isDuplicateKey reports whether err is the CRM refusing a create because
// the record's key exists already: 412 DuplicateRecord, 409, or a
// "duplicate key" message, as servers word it differently.
func isDuplicateKey(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusConflict || duplicateCodes[strings.ToLower(e.Code)] ||
		(e.Kind == KindConflict && strings.Contains(strings.ToLower(e.Message), "duplicate")) ||
		(e.Kind == KindConflict && strings.Contains(strings.ToLower(e.Message), "already exists")) ||
		(e.Kind == KindBadRequest && strings.Contains(strings.ToLower(e.Message), "duplicate key"))
}

// segmentCodes are Dataverse's codes for a URL segment that names nothing.
var segmentCodes = map[string]bool{"0x80060888": true, "-2147088248": true}

// missingSegment reports whether err says the URL names a table the
// environment does not have (404, 0x80060888 "Resource not found for the
// segment 'opportunities'"), and which segment.
func missingSegment(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindNotFound {
		return "", false
	}
	const marker = "segment '"
	i := strings.Index(e.Message, marker)
	if i < 0 {
		return "", segmentCodes[strings.ToLower(e.Code)]
	}
	rest := e.Message[i+len(marker):]
	j := strings.IndexByte(rest, '\'')
	if j < 0 {
		return "", segmentCodes[strings.ToLower(e.Code)]
	}
	return rest[:j], true
}
