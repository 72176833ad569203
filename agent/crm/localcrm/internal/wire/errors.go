package wire

import (
	"fmt"
	"net/http"
)

// OData error codes. Those marked "Dataverse" are the codes the service uses
// for the same condition; the others are this server's choice, picked from
// the same family so that clients never branch on them (Dataverse documents
// that the code has no relation to the HTTP status).
const (
	CodeUnexpected   = "0x80040216" // Dataverse: an unexpected error occurred
	CodeNotFound     = "0x80040217" // Dataverse: ObjectDoesNotExist
	CodePrivilege    = "0x80040220" // Dataverse: PrivilegeDenied
	CodeDuplicate    = "0x80040237" // Dataverse: DuplicateRecord
	CodeValidation   = "0x80044331" // Dataverse: attribute validation (length etc.)
	CodePayload      = "0x80048d19" // Dataverse: error identified in the request payload
	CodeSegment      = "0x80060888" // Dataverse: URL and query syntax errors
	CodeConcurrency  = "0x80060882" // Dataverse: ConcurrencyVersionMismatch
	CodeRateLimit    = "0x80072322" // Dataverse: number of requests exceeded
	CodeUnauthorized = "0x8006088a" // local choice: sign-in required
	CodeNotAllowed   = "0x80060889" // local choice: method not allowed
	CodeNotSupported = "0x8004800d" // local choice: feature not implemented here
	CodeNoAttribute  = "0x80041103" // Dataverse: QueryBuilderNoAttribute (FetchXML names an unknown attribute)
	CodeInvalidQuery = "0x80040203" // Dataverse: InvalidArgument; for other FetchXML errors UNCONFIRMED
)

// Error is an answer in the OData error shape. Handlers return it; the
// router writes it, so every failure leaves the server in one format.
type Error struct {
	Status  int
	Code    string
	Message string
	Header  http.Header // extra headers such as Retry-After or WWW-Authenticate
}

// Error describes the answer, for logs.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Errf builds an Error with a formatted message.
func Errf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 about the URL or the query.
func BadRequest(format string, args ...any) *Error {
	return Errf(http.StatusBadRequest, CodeSegment, format, args...)
}

// BadPayload is a 400 about the request body.
func BadPayload(format string, args ...any) *Error {
	return Errf(http.StatusBadRequest, CodePayload, format, args...)
}

// NotFoundSegment is Dataverse's 404 for a path segment it does not know,
// an unknown entity set among them.
func NotFoundSegment(seg string) *Error {
	return Errf(http.StatusNotFound, CodeSegment, "Resource not found for the segment '%s'.", seg)
}

// RecordNotFound is Dataverse's 404 for a record that does not exist.
func RecordNotFound(logical, id string) *Error {
	return Errf(http.StatusNotFound, CodeNotFound, "%s With Id = %s Does Not Exist", logical, id)
}

// MethodNotAllowed is a 405 listing the methods that are allowed.
func MethodNotAllowed(method, what string, allowed ...string) *Error {
	e := Errf(http.StatusMethodNotAllowed, CodeNotAllowed,
		"The HTTP method '%s' is not allowed on %s.", method, what)
	e.Header = http.Header{}
	for _, m := range allowed {
		e.Header.Add("Allow", m)
	}
	return e
}

// WriteError writes e in the OData error shape.
func WriteError(w http.ResponseWriter, e *Error) {
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteJSON(w, e.Status, Object{
		{"error", Object{{"code", e.Code}, {"message", e.Message}}},
	})
}
