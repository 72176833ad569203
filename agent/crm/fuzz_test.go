package crm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary answers to every decoder of the client: none
// may panic, and each either decodes or returns a classified error.
func FuzzDecode(f *testing.F) {
	f.Add(200, "application/json; odata.metadata=minimal", []byte(`{"UserId":"d96e9f55-0000-0000-0000-000000000000"}`))
	f.Add(200, "application/json", []byte(`{"value":[{"activityid":"d96e9f55-0000-0000-0000-000000000000"}],"@odata.nextLink":"x"}`))
	f.Add(403, "application/json", []byte(`{"error":{"code":"0x80040220","message":"no"}}`))
	f.Add(429, "text/html", []byte(`<html>`))
	f.Add(200, "application/json", []byte(`{"ShouldDeliver":true,"ReasonCode":5}`))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		resp := &response{status: status, header: http.Header{"Content-Type": {ctype}}, body: body}
		var who struct{ UserID string }
		check := func(err error) {
			if err != nil && KindOf(err) == KindUnknown {
				t.Fatalf("unclassified error %v", err)
			}
		}
		check(decode("fuzz", resp, &who))
		var col collection
		if err := decode("fuzz", resp, &col); err == nil {
			for _, row := range col.Value {
				decodeActivity("fuzz", row)
			}
		}
		decodeActivity("fuzz", json.RawMessage(body))
		c := &HTTPClient{now: time.Now}
		hr := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ctype}, "Retry-After": {string(body[:min(len(body), 8)])}},
			Body: io.NopCloser(bytes.NewReader(body))}
		if e := c.statusError("fuzz", hr, body); e == nil || e.Error() == "" {
			t.Fatal("statusError must always describe the failure")
		}
		entityIDFromHeader(string(body))
	})
}
