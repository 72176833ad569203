package batch

import (
	"bytes"
	"net/http"
)

// answer is the response to one operation.
type answer struct {
	contentID string
	status    int
	header    http.Header
	body      []byte
}

// recorder is the in-memory http.ResponseWriter an inner request is served
// with. It keeps net/http's rules that matter to a handler: the first
// WriteHeader wins, 1xx codes are not final, Write implies 200, headers
// changed after WriteHeader are not sent, and a missing Content-Type is
// sniffed from the body.
type recorder struct {
	header http.Header
	status int
	sent   http.Header
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

// Header returns the header map to fill before WriteHeader.
func (r *recorder) Header() http.Header { return r.header }

// WriteHeader records the status and freezes the headers.
func (r *recorder) WriteHeader(code int) {
	if r.status != 0 || (code >= 100 && code < 200) {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError // net/http would panic; an answer is better
	}
	r.status = code
	r.sent = r.header.Clone()
}

// Write appends to the body.
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(p)
}

// Flush does nothing: the whole answer is sent at the end of the batch.
func (r *recorder) Flush() {}

// answer returns what the handler answered.
func (r *recorder) answer(contentID string) *answer {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	h := r.sent
	body := r.body.Bytes()
	if _, set := h["Content-Type"]; !set && len(body) > 0 {
		h.Set("Content-Type", http.DetectContentType(body))
	}
	return &answer{contentID: contentID, status: r.status, header: h, body: body}
}
