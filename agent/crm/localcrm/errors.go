package localcrm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Sentinel errors returned by the Go API of the server.
var (
	// ErrUserExists is returned by AddUser when the email address is taken.
	ErrUserExists = errors.New("localcrm: a user with this email address already exists")
	// ErrNoUser is returned when a user named by email address does not exist.
	ErrNoUser = errors.New("localcrm: no such user")
)

// OData error codes. Those marked "Dataverse" are the codes the service uses
// for the same condition; the others are this server's choice, picked from
// the same family so that clients never branch on them (Dataverse documents
// that the code has no relation to the HTTP status).
const (
	codeUnexpected   = "0x80040216" // Dataverse: an unexpected error occurred
	codeNotFound     = "0x80040217" // Dataverse: ObjectDoesNotExist
	codePrivilege    = "0x80040220" // Dataverse: PrivilegeDenied
	codeDuplicate    = "0x80040237" // Dataverse: DuplicateRecord
	codeValidation   = "0x80044331" // Dataverse: attribute validation (length etc.)
	codePayload      = "0x80048d19" // Dataverse: error identified in the request payload
	codeSegment      = "0x80060888" // Dataverse: URL and query syntax errors
	codeConcurrency  = "0x80060882" // Dataverse: ConcurrencyVersionMismatch
	codeRateLimit    = "0x80072322" // Dataverse: number of requests exceeded
	codeUnauthorized = "0x8006088a" // local choice: sign-in required
	codeNotAllowed   = "0x80060889" // local choice: method not allowed
	codeNotSupported = "0x8004800d" // local choice: feature not implemented here
)

// apiError is an answer in the OData error shape. Handlers return it; the
// router writes it, so every failure leaves the server in one format.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header // extra headers such as Retry-After or WWW-Authenticate
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

// errf builds an apiError with a formatted message.
func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codeSegment, format, args...)
}

func badPayload(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codePayload, format, args...)
}

func notFoundSegment(seg string) *apiError {
	return errf(http.StatusNotFound, codeSegment, "Resource not found for the segment '%s'.", seg)
}

func recordNotFound(logical, id string) *apiError {
	return errf(http.StatusNotFound, codeNotFound, "%s With Id = %s Does Not Exist", logical, id)
}

func methodNotAllowed(method, what string, allowed ...string) *apiError {
	e := errf(http.StatusMethodNotAllowed, codeNotAllowed,
		"The HTTP method '%s' is not allowed on %s.", method, what)
	e.header = http.Header{}
	for _, m := range allowed {
		e.header.Add("Allow", m)
	}
	return e
}

// odataHeaders sets the headers Dataverse puts on every JSON answer.
func odataHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	h.Set("OData-Version", "4.0")
}

// marshal encodes v as JSON without HTML escaping, so message IDs such as
// <abc@example.com> read as they were sent.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// writeJSON writes an OData JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		// Only values built by this package reach here; a failure is a bug,
		// and the client still gets a well-formed error.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"` + codeUnexpected + `","message":"An unexpected error occurred."}}`)
	}
	odataHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeAPIError writes e in the OData error shape.
func writeAPIError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.status, object{
		{"error", object{{"code", e.code}, {"message", e.message}}},
	})
}

// object is a JSON object whose keys keep their order, so answers list
// @odata.context and @odata.etag first, as Dataverse does.
type object []kv

type kv struct {
	k string
	v any
}

// MarshalJSON writes the pairs in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(p.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(p.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
