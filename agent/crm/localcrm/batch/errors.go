package batch

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// OData error codes. Dataverse does not document which codes its batch
// parser uses; these are chosen from the codes Dataverse uses for the same
// kind of condition (the code never relates to the HTTP status, and clients
// must not branch on it).
const (
	codePayload      = "0x80048d19" // chosen: Dataverse's "error identified in the payload"
	codeUnexpected   = "0x80040216" // chosen: Dataverse's "an unexpected error occurred"
	codeNotAllowed   = "0x80060889" // chosen: method not allowed, as the local server uses it
	codeNotSupported = "0x8004800d" // chosen: feature not available on this server
)

// apiError is a refusal in the OData error shape.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

// bad is a 400 for a malformed batch.
func bad(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codePayload, message: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON {"error":{"code":...,"message":...}}.
func errorBody(code, message string) []byte {
	b, err := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	if err != nil { // cannot happen for two strings
		return []byte(`{"error":{"code":"` + code + `","message":""}}`)
	}
	return b
}

// jsonHeader is the header of an answer with an OData JSON body.
func jsonHeader() http.Header {
	return http.Header{
		"Content-Type":  {"application/json; odata.metadata=minimal"},
		"Odata-Version": {"4.0"},
	}
}

// write sends e as the answer to the whole $batch request.
func (e *apiError) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range jsonHeader() {
		h[k] = v
	}
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(errorBody(e.code, e.message))
}

// answer turns e into the answer of one operation.
func (e *apiError) answer(contentID string) *answer {
	return &answer{contentID: contentID, status: e.status, header: jsonHeader(), body: errorBody(e.code, e.message)}
}
