package webapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// applyAnnotationsPref echoes an include-annotations preference.
func (c *call) applyAnnotationsPref() {
	if c.prefer.Annotations != "" {
		c.applied = append(c.applied, `odata.include-annotations="`+c.prefer.Annotations+`"`)
	}
}

// respond writes a success answer with the Preference-Applied header.
func (c *call) respond(status int, body any) {
	if len(c.applied) > 0 {
		c.w.Header().Set("Preference-Applied", strings.Join(c.applied, ","))
	}
	if body == nil {
		c.w.Header().Set("OData-Version", "4.0")
		c.w.WriteHeader(status)
		return
	}
	wire.WriteJSON(c.w, status, body)
}

// Body.

// readBody reads and checks a JSON request body: media type, size, UTF-8
// and syntax. The result is an object with numbers kept exact.
func (c *call) readBody() (map[string]any, error) {
	ct := c.r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, wire.Errf(http.StatusUnsupportedMediaType, wire.CodePayload,
			"The content type '%s' is not supported; send the body as application/json.", wire.Truncate(ct, 100))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, wire.Errf(http.StatusUnsupportedMediaType, wire.CodePayload, "Only the UTF-8 charset is supported for JSON bodies.")
	}
	limit := c.s.MaxBodyBytes
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, wire.Errf(http.StatusRequestEntityTooLarge, wire.CodePayload,
				"The request body is larger than the %d bytes this server accepts.", limit)
		}
		return nil, wire.BadPayload("The request body could not be read: %v", err)
	}
	if !utf8.Valid(data) {
		return nil, wire.BadPayload("The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, wire.BadPayload("The request body is not valid JSON: %v.", err)
	}
	if dec.More() {
		return nil, wire.BadPayload("The request body holds more than one JSON value.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, wire.BadPayload("The request body holds data after the JSON value.")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, wire.BadPayload("The request body must be a JSON object, not %s.", jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}
