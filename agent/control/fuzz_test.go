package control

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"crmsync/agent"
)

// FuzzRequest feeds arbitrary bytes as a request line to the decoder and
// dispatcher. Whatever arrives, the answer must be one well-formed line, and
// never an internal error: the recording backend does not fail, so an
// internal error could only be a panic in the request handling itself.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"cmd":"hello"}`,
		`{"v":1,"cmd":"items","limit":3}`,
		`{"v":1,"cmd":"track","key":"k","regarding":{"entity":"contact","id":"` + guid1 + `"}}`,
		`{"v":1,"cmd":"regarding","key":"k","entity":"incident","id":"` + guid2 + `"}`,
		`{"v":1,"cmd":"search","query":"bob","limit":2}`,
		`{"v":1,"cmd":"untrack","key":"a\u0000b"}`,
		`{"v":1,"cmd":"folders"}`,
		`{"v":1,"cmd":"addfolder","folder":"INBOX/Kunden/M\u00fcller GmbH","entity":"account","id":"` + guid1 + `"}`,
		`{"v":1,"cmd":"removefolder","folder":".Projects.Big deal"}`,
		"\xff\xfe{",
	} {
		f.Add([]byte(s))
	}
	be := &recBackend{
		status: agent.Status{State: agent.StateOnline, Warnings: []agent.Warning{{Code: "w", Severity: 7}}},
		items:  []agent.Item{{Key: "k", Track: 42, Regarding: &agent.RecordRef{Entity: "contact", ID: guid1}}},
		refs:   []agent.RecordRef{{Entity: "account", ID: guid2, Name: "Contoso"}},
		rules:  []agent.FolderRule{{ID: guid1, Folder: "INBOX/\x00", Regarding: agent.RecordRef{Entity: "lead", ID: "x"}}},
		rule:   agent.FolderRule{ID: guid2, Folder: "\xff", Regarding: agent.RecordRef{Entity: "contact", ID: guid1}},
	}
	h := &handler{be: be, log: slog.New(slog.DiscardHandler), pid: 1, timeout: time.Second}
	f.Fuzz(func(t *testing.T, line []byte) {
		resp := h.serveLine(context.Background(), line)
		be.mu.Lock()
		be.calls = nil // the record is not asserted here, and would grow without end
		be.mu.Unlock()
		var buf bytes.Buffer
		if err := writeResponse(&buf, resp); err != nil {
			t.Fatalf("encode: %v", err)
		}
		out := buf.Bytes()
		if bytes.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("answer is not exactly one line: %q", out)
		}
		var got response
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("answer is not JSON: %v: %q", err, out)
		}
		switch {
		case got.V != ProtocolVersion:
			t.Fatalf("answer without version: %q", out)
		case got.OK && (got.Error != "" || got.Code != ""):
			t.Fatalf("success with an error: %q", out)
		case !got.OK && (got.Error == "" || got.Code == "" || got.Result != nil):
			t.Fatalf("failure without a message and code, or with a result: %q", out)
		case got.Code == CodeInternal:
			t.Fatalf("internal error for %q: %q", line, out)
		}
	})
}
