package protect

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Refusal is a request refused by a service protection limit.
type Refusal struct {
	// Code is the OData error code, one of CodeRequests, CodeExecTime and
	// CodeConcurrent.
	Code string
	// Message is Dataverse's message for the limit, with the configured
	// numbers.
	Message string
	// RetryAfter is the wait in whole seconds (at least 1) before the
	// request can succeed.
	RetryAfter int
}

// Error makes a Refusal usable as an error.
func (r *Refusal) Error() string { return r.Message }

// Write answers 429 Too Many Requests with Retry-After and the OData error
// body {"error":{"code":...,"message":...}}. Headers already set on w (the
// x-ms-ratelimit-* ones from Guard.Headers) are kept.
func (r *Refusal) Write(w http.ResponseWriter) {
	body, err := json.Marshal(map[string]any{"error": map[string]string{"code": r.Code, "message": r.Message}})
	if err != nil { // cannot happen for two strings
		body = []byte(`{"error":{"code":"` + r.Code + `","message":""}}`)
	}
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(max(r.RetryAfter, 1)))
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	h.Set("OData-Version", "4.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}
