package batch

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bodies and Content-Types to the parser, the
// checks and the whole endpoint: nothing may panic, and every answer is
// either an OData error or a well-formed multipart answer.
func FuzzParse(f *testing.F) {
	ok := httpPart("b", "", getContact)
	for _, seed := range []string{
		crlf(docsChangeSet),
		docsErrorBatch,
		batchOf(ok),
		batchOf(changeSet(httpPart("cs", "1", newContact), httpPart("cs", "2", "PATCH $1 HTTP/1.1\nContent-Type: application/json\n\n{\"a@odata.bind\":\"$1\"}"))),
		batchOf(changeSet("--cs\nContent-Type: multipart/mixed; boundary=x\n\n--x--\n--cs--\n")),
		batchOf(httpPart("b", "", "POST $batch HTTP/1.1\n")),
		batchOf(httpPart("b", "", "POST contacts HTTP/1.1\nContent-Type: application/json\n\n{\"x\":\"\xff\"}")),
		"--b\r\n\r\n--b--",
		"",
	} {
		f.Add("multipart/mixed; boundary=b", []byte(seed))
	}
	f.Add(`multipart/mixed; boundary="batch_22975cad-7f57-410d-be15-6363209367ea"`, []byte(crlf(docsChangeSet)))
	f.Add("multipart/mixed", []byte("x"))
	rootURL, _ := url.Parse(root)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		parts, err := parse(body, contentType, DefaultMaxOps)
		if err == nil {
			_, _ = plan(parts, rootURL)
		}
		s := seeded()
		r := httptest.NewRequest("POST", root+"$batch", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Authorization", "Bearer good")
		w := httptest.NewRecorder()
		Serve(w, r, s.options())
		if strings.HasPrefix(w.Header().Get("Content-Type"), "multipart/mixed") {
			got := parseAnswer(t, w)
			if err != nil || len(got) == 0 {
				t.Fatalf("a multipart answer to a refused batch, or an empty one: %v", err)
			}
		} else if code, _ := odataError(t, w); code == "" || w.Code < 400 {
			t.Fatalf("status %d with code %q", w.Code, code)
		}
		if s.begins != s.commits+s.rollbacks {
			t.Fatalf("begins %d commits %d rollbacks %d", s.begins, s.commits, s.rollbacks)
		}
	})
}
