package wire

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// ODataHeaders sets the headers Dataverse puts on every JSON answer.
func ODataHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	h.Set("OData-Version", "4.0")
}

// Marshal encodes v as JSON without HTML escaping, so message IDs such as
// <abc@example.com> read as they were sent.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// WriteJSON writes an OData JSON answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := Marshal(v)
	if err != nil {
		// Only values built by this program reach here; a failure is a bug,
		// and the client still gets a well-formed error.
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"` + CodeUnexpected + `","message":"An unexpected error occurred."}}`)
	}
	ODataHeaders(w.Header())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Object is a JSON object whose keys keep their order, so answers list
// @odata.context and @odata.etag first, as Dataverse does.
type Object []KV

// KV is one member of an Object: its name (a string) and its value. It is
// an array rather than a struct so that answers read as {"name", value}
// literals.
type KV [2]any

// MarshalJSON writes the pairs in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := p[0].(string)
		k, err := Marshal(name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := Marshal(p[1])
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
