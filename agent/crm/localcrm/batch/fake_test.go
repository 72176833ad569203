package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The tests talk to a fake Web API: a map of records with an undo log per
// change set, enough to see what a batch did and did not change.

const root = "http://crm.test/api/data/v9.2/"

type txKey struct{}

// tx is a change set's transaction: the undo log of its writes.
type tx struct{ undo []func() }

type store struct {
	mu        sync.Mutex
	recs      map[string]map[string]any // "tasks(<id>)" → columns
	seq       int
	begins    int
	commits   int
	rollbacks int
	commitErr error
	seen      []*http.Request // every request Exec got
	panicOn   string          // a subject that makes Exec panic
}

func newStore() *store { return &store{recs: map[string]map[string]any{}} }

func (s *store) options() Options {
	return Options{
		Exec:    s,
		Begin:   s.begin,
		APIRoot: func(*http.Request) string { return root },
	}
}

func (s *store) begin(ctx context.Context) (context.Context, func() error, func(), error) {
	s.mu.Lock()
	s.begins++
	s.mu.Unlock()
	t := &tx{}
	commit := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.commitErr != nil {
			for i := len(t.undo) - 1; i >= 0; i-- {
				t.undo[i]()
			}
			return s.commitErr
		}
		s.commits++
		return nil
	}
	rollback := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.rollbacks++
		for i := len(t.undo) - 1; i >= 0; i-- {
			t.undo[i]()
		}
	}
	return context.WithValue(ctx, txKey{}, t), commit, rollback, nil
}

// put writes a record (nil deletes), logging the undo when in a change set.
func (s *store) put(ctx context.Context, key string, rec map[string]any) {
	old, had := s.recs[key]
	if t, ok := ctx.Value(txKey{}).(*tx); ok {
		t.undo = append(t.undo, func() {
			if had {
				s.recs[key] = old
			} else {
				delete(s.recs, key)
			}
		})
	}
	if rec == nil {
		delete(s.recs, key)
	} else {
		s.recs[key] = rec
	}
}

func (s *store) count(set string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.recs {
		if strings.HasPrefix(k, set+"(") {
			n++
		}
	}
	return n
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(code, msg))
}

// key turns a bind value (absolute URL, /path or relative) into a record key.
func bindKey(v string) string {
	v = strings.TrimPrefix(v, root)
	v = strings.TrimPrefix(v, "/api/data/v9.2/")
	return strings.TrimPrefix(v, "/")
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, r)
	if r.Header.Get("Authorization") != "Bearer good" {
		fail(w, 401, "0x80040220", "Sign in first.")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/data/v9.2/")
	if !ok {
		fail(w, 404, "0x80060888", "Not a Web API path.")
		return
	}
	base := "http://" + r.Host + "/api/data/v9.2/"
	var body map[string]any
	if r.Method == "POST" || r.Method == "PATCH" || r.Method == "PUT" {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, 400, "0x80048d19", "Bad JSON: "+err.Error())
			return
		}
	}
	binds := func(rec map[string]any) bool {
		for k, v := range body {
			if nav, ok := strings.CutSuffix(k, "@odata.bind"); ok {
				target := bindKey(fmt.Sprint(v))
				if s.recs[target] == nil {
					fail(w, 400, "0x80040217", "No record "+target)
					return false
				}
				rec["_"+nav+"_value"] = target
				continue
			}
			if sub, _ := v.(string); k == "subject" && sub == s.panicOn && s.panicOn != "" {
				panic("exec exploded")
			}
			if sub, _ := v.(string); k == "subject" && len(sub) > 200 {
				fail(w, 400, "0x80044331", "A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'.")
				return false
			}
			rec[k] = v
		}
		return true
	}
	segs := strings.Split(rest, "/")
	switch {
	case r.Method == "POST" && len(segs) == 1 && !strings.Contains(rest, "("):
		s.seq++
		key := fmt.Sprintf("%s(%08d-0000-0000-0000-000000000000)", rest, s.seq)
		rec := map[string]any{}
		if !binds(rec) {
			return
		}
		s.put(r.Context(), key, rec)
		w.Header().Set("OData-Version", "4.0")
		w.Header().Set("OData-EntityId", base+key)
		w.Header().Set("Location", base+key)
		w.WriteHeader(204)
	case r.Method == "PATCH" && len(segs) == 1:
		old := s.recs[rest]
		if old == nil {
			fail(w, 404, "0x80040217", "Entity '"+rest+"' Does Not Exist")
			return
		}
		rec := map[string]any{}
		for k, v := range old {
			rec[k] = v
		}
		if !binds(rec) {
			return
		}
		s.put(r.Context(), rest, rec)
		w.Header().Set("OData-EntityId", base+rest)
		w.WriteHeader(204)
	case r.Method == "PUT" && len(segs) >= 2:
		old := s.recs[segs[0]]
		if old == nil {
			fail(w, 404, "0x80040217", "Entity '"+segs[0]+"' Does Not Exist")
			return
		}
		rec := map[string]any{}
		for k, v := range old {
			rec[k] = v
		}
		if len(segs) == 3 && segs[2] == "$ref" {
			target := bindKey(fmt.Sprint(body["@odata.id"]))
			if s.recs[target] == nil {
				fail(w, 400, "0x80040217", "No record "+target)
				return
			}
			rec["_"+segs[1]+"_value"] = target
		} else {
			rec[segs[1]] = body["value"]
		}
		s.put(r.Context(), segs[0], rec)
		w.WriteHeader(204)
	case r.Method == "DELETE" && len(segs) == 1:
		if s.recs[rest] == nil {
			fail(w, 404, "0x80040217", "Entity '"+rest+"' Does Not Exist")
			return
		}
		s.put(r.Context(), rest, nil)
		w.WriteHeader(204)
	case r.Method == "GET":
		var list []map[string]any
		keys := make([]string, 0, len(s.recs))
		for k := range s.recs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rec := s.recs[k]
			match := false
			switch len(segs) {
			case 1:
				match = strings.HasPrefix(k, rest+"(") || k == rest
			case 2: // <entity>/<navigation>: records bound to the entity
				for c, v := range rec {
					if strings.HasPrefix(c, "_") && v == segs[0] {
						match = true
					}
				}
			}
			if match {
				out := map[string]any{"@odata.id": base + k}
				for c, v := range rec {
					out[c] = v
				}
				list = append(list, out)
			}
		}
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		w.Header().Set("OData-Version", "4.0")
		if len(segs) == 1 && strings.HasSuffix(rest, ")") {
			if len(list) == 0 {
				fail(w, 404, "0x80040217", "Entity '"+rest+"' Does Not Exist")
				return
			}
			w.Header().Set("ETag", `W/"77180907"`)
			_ = json.NewEncoder(w).Encode(list[0])
			return
		}
		if list == nil {
			list = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": list})
	default:
		fail(w, 405, "0x80060889", "Method not allowed.")
	}
}

// crlf turns the LF line ends of a Go literal into the CRLF of the wire.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// post sends a batch body and returns the recorded answer.
func post(t testing.TB, o Options, boundary, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", root+"$batch", strings.NewReader(body))
	r.Header.Set("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	r.Header.Set("Authorization", "Bearer good")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	Serve(w, r, o)
	return w
}

// respPart is one part of a batch answer, parsed as a client would.
type respPart struct {
	mime   textproto.MIMEHeader
	status int
	header http.Header
	body   string
	set    []respPart // a change set's answers
}

// parseAnswer reads a batch answer with mime/multipart and net/http.
func parseAnswer(t *testing.T, w *httptest.ResponseRecorder) []respPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "batchresponse_") {
		t.Fatalf("answer Content-Type %q (status %d, body %s)", w.Header().Get("Content-Type"), w.Code, w.Body)
	}
	if w.Header().Get("OData-Version") != "4.0" {
		t.Fatalf("answer without OData-Version: %v", w.Header())
	}
	return readParts(t, w.Body.String(), params["boundary"])
}

func readParts(t *testing.T, body, boundary string) []respPart {
	t.Helper()
	mr := multipart.NewReader(strings.NewReader(body), boundary)
	var out []respPart
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("answer is not valid multipart: %v\n%s", err, body)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		mt, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch mt {
		case "multipart/mixed":
			if !strings.HasPrefix(params["boundary"], "changesetresponse_") {
				t.Fatalf("change set boundary %q", params["boundary"])
			}
			out = append(out, respPart{mime: p.Header, set: readParts(t, string(data), params["boundary"])})
		case "application/http":
			if p.Header.Get("Content-Transfer-Encoding") != "binary" {
				t.Fatalf("part without Content-Transfer-Encoding: binary: %v", p.Header)
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(data))), nil)
			if err != nil {
				t.Fatalf("part is not an HTTP response: %v\n%q", err, data)
			}
			b, _ := io.ReadAll(resp.Body)
			out = append(out, respPart{mime: p.Header, status: resp.StatusCode, header: resp.Header, body: string(b)})
		default:
			t.Fatalf("part Content-Type %q", p.Header.Get("Content-Type"))
		}
	}
}

// odataError decodes a whole-batch refusal.
func odataError(t *testing.T, w *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OData error (%d): %s", w.Code, w.Body)
	}
	return e.Error.Code, e.Error.Message
}

var errCommit = errors.New("disk full")
