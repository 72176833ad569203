package crm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// offlineClient is a client for encoder tests; it never sends.
func offlineClient(t testing.TB) *HTTPClient {
	t.Helper()
	c, err := New(Config{URL: "https://org.crm.dynamics.com"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixedIDs(ids ...string) func() string {
	return func() string {
		id := ids[0]
		ids = ids[1:]
		return id
	}
}

// TestEncodeBatchShape: the body is exactly the documented shape: a lone
// GET part, then a change set of POST and PATCH $1 with Content-IDs.
func TestEncodeBatchShape(t *testing.T) {
	c := offlineClient(t)
	items := []batchItem{
		{ops: []batchOp{{method: "GET", path: "emails?$select=subject", header: http.Header{"Prefer": {"odata.maxpagesize=5"}}}}},
		{changeSet: true, ops: []batchOp{
			{method: "POST", path: "emails", body: map[string]any{"subject": "Hi"}},
			{method: "PATCH", path: "$1", body: map[string]any{"statecode": 1}, header: http.Header{"If-Match": {"*"}}},
		}},
	}
	body, ct, err := c.encodeBatch(items, fixedIDs("B", "C"))
	if err != nil {
		t.Fatal(err)
	}
	if ct != `multipart/mixed; boundary="batch_B"` {
		t.Errorf("Content-Type = %s", ct)
	}
	want := "--batch_B\r\n" +
		"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"GET /api/data/v9.2/emails?$select=subject HTTP/1.1\r\nPrefer: odata.maxpagesize=5\r\n\r\n\r\n" +
		"--batch_B\r\n" +
		"Content-Type: multipart/mixed; boundary=\"changeset_C\"\r\n\r\n" +
		"--changeset_C\r\n" +
		"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n" +
		"POST /api/data/v9.2/emails HTTP/1.1\r\nAccept: application/json\r\nContent-Type: application/json; type=entry\r\nContent-Length: 16\r\n\r\n" +
		`{"subject":"Hi"}` + "\r\n" +
		"--changeset_C\r\n" +
		"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n" +
		"PATCH $1 HTTP/1.1\r\nAccept: application/json\r\nIf-Match: *\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n" +
		`{"statecode":1}` + "\r\n" +
		"--changeset_C--\r\n" +
		"--batch_B--\r\n"
	if string(body) != want {
		t.Errorf("batch body:\n%s\nwant:\n%s", body, want)
	}
	if _, _, err := c.encodeBatch([]batchItem{{changeSet: true, ops: []batchOp{{method: "GET", path: "emails"}}}}, newBoundaryID); err == nil {
		t.Error("a GET inside a change set must be refused")
	}
	if _, _, err := c.encodeBatch([]batchItem{{ops: []batchOp{{method: "GET", path: "https://evil.example/x"}}}}, newBoundaryID); err == nil {
		t.Error("a URL on another server must be refused")
	}
}

// TestEncodeBatchParsesAsHTTP: an independent reader (the standard
// library's multipart and HTTP request parsers) reads back every
// operation: method, target, Content-ID, headers and body.
func TestEncodeBatchParsesAsHTTP(t *testing.T) {
	c := offlineClient(t)
	items := []batchItem{
		{ops: []batchOp{{method: "GET", path: "CheckIncomingEmail(MessageId=@m)" + query("@m", quote("<a b@x>"))}}},
		{changeSet: true, ops: []batchOp{
			{method: "POST", path: "emails", body: map[string]any{"subject": "line\r\n--batch_x\r\nbreak"}},
			{method: "PATCH", path: "$1", body: map[string]any{"statecode": 1}},
		}},
	}
	body, ct, err := c.encodeBatch(items, newBoundaryID)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct{ method, target, cid, body string }
	var got []seen
	var read func(r *multipart.Reader)
	read = func(r *multipart.Reader) {
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(p)
			if mt, pp, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt == "multipart/mixed" {
				read(multipart.NewReader(bytes.NewReader(data), pp["boundary"]))
				continue
			}
			if p.Header.Get("Content-Transfer-Encoding") != "binary" {
				t.Errorf("part without Content-Transfer-Encoding: binary")
			}
			// The standard parser rejects "$1" as a URI; read the request line first.
			line, rest, _ := strings.Cut(string(data), "\r\n")
			f := strings.Fields(line)
			if len(f) != 3 || f[2] != "HTTP/1.1" {
				t.Fatalf("request line %q", line)
			}
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(f[0] + " /placeholder HTTP/1.1\r\n" + rest)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(req.Body)
			got = append(got, seen{f[0], f[1], p.Header.Get("Content-ID"), string(b)})
		}
	}
	read(multipart.NewReader(bytes.NewReader(body), params["boundary"]))
	want := []seen{
		{"GET", "/api/data/v9.2/CheckIncomingEmail(MessageId=@m)?@m='%3Ca%20b%40x%3E'", "", ""},
		{"POST", "/api/data/v9.2/emails", "1", `{"subject":"line\r\n--batch_x\r\nbreak"}`},
		{"PATCH", "$1", "2", `{"statecode":1}`},
	}
	if len(got) != len(want) {
		t.Fatalf("read back %d operations, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("operation %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// msChangeSetAnswer is the documentation's answer to a change set of
// three creates and a GET (LF line endings, as the page shows it).
const msChangeSetAnswer = `--batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f
Content-Type: multipart/mixed; boundary=changesetresponse_64cc3fff-023a-45b0-b29d-df21583ffa15

--changesetresponse_64cc3fff-023a-45b0-b29d-df21583ffa15
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: https://org.crm.dynamics.com/api/data/v9.2/tasks(e73ffc82-e292-ed11-aad1-000d3a9933c9)
OData-EntityId: https://org.crm.dynamics.com/api/data/v9.2/tasks(e73ffc82-e292-ed11-aad1-000d3a9933c9)


--changesetresponse_64cc3fff-023a-45b0-b29d-df21583ffa15
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

HTTP/1.1 204 No Content
OData-Version: 4.0
OData-EntityId: https://org.crm.dynamics.com/api/data/v9.2/tasks(e83ffc82-e292-ed11-aad1-000d3a9933c9)


--changesetresponse_64cc3fff-023a-45b0-b29d-df21583ffa15--
--batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 200 OK
Content-Type: application/json; odata.metadata=minimal; odata.streaming=true
OData-Version: 4.0

{
  "value": [
    {"subject": "Task 1 in batch", "activityid": "e73ffc82-e292-ed11-aad1-000d3a9933c9"}
  ]
}
--batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f--
`

// msErrorAnswer is the documentation's continue-on-error answer: the
// first part failed on its own, the next succeeded.
const msErrorAnswer = `--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 400 Bad Request
REQ_ID: de4c5227-4a28-4ebd-8ced-3392ece1697b
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"error":{"code":"0x80044331","message":"A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'."}}
--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: https://org.crm.dynamics.com/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)
OData-EntityId: https://org.crm.dynamics.com/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)


--batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139--
`

func TestDecodeBatchDocumentedAnswers(t *testing.T) {
	c := offlineClient(t)
	parts, err := decodeBatch("multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f", []byte(msChangeSetAnswer))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || !parts[0].isSet || len(parts[0].set) != 2 || parts[1].isSet {
		t.Fatalf("parts = %+v; want a change set of 2 and a lone answer", parts)
	}
	items := []batchItem{
		{changeSet: true, ops: []batchOp{{name: "a", method: "POST", path: "tasks"}, {name: "b", method: "POST", path: "tasks"}}},
		{ops: []batchOp{{name: "get", method: "GET", path: "tasks"}}},
	}
	got := c.matchBatch(items, parts)
	if id, ok := createdID(got[0][1], ""); !ok || id != "e83ffc82-e292-ed11-aad1-000d3a9933c9" {
		t.Errorf("second create's ID = %q %v", id, ok)
	}
	if got[0][0].err != nil || got[0][0].status != 204 {
		t.Errorf("first create = %+v", got[0][0])
	}
	var col collection
	if err := decode("get", got[1][0].response(), &col); err != nil || len(col.Value) != 1 {
		t.Errorf("GET answer: %v %d rows", err, len(col.Value))
	}

	parts, err = decodeBatch(`multipart/mixed; boundary="batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139"`, []byte(msErrorAnswer))
	if err != nil {
		t.Fatal(err)
	}
	got = c.matchBatch([]batchItem{{ops: []batchOp{{name: "create task"}}}, {ops: []batchOp{{name: "create task"}}}}, parts)
	var e *Error
	if !errors.As(got[0][0].err, &e) || e.Kind != KindBadRequest || e.Code != "0x80044331" || !strings.Contains(e.Message, "maximum allowed length") {
		t.Errorf("failed part = %v; want a classified 400 with the CRM's code and message", got[0][0].err)
	}
	if got[1][0].err != nil {
		t.Errorf("second part = %v, want success", got[1][0].err)
	}
}

// TestMatchBatchFailures: a change set that failed as a whole fails each
// of its operations; parts the server never ran are temporary failures.
func TestMatchBatchFailures(t *testing.T) {
	c := offlineClient(t)
	set := batchItem{changeSet: true, ops: []batchOp{{name: "create email"}, {name: "complete email"}}}
	lone := batchItem{ops: []batchOp{{name: "get"}}}
	failed := batchPart{status: 412, header: http.Header{"Content-Type": {"application/json"}},
		body: []byte(`{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}`)}
	got := c.matchBatch([]batchItem{set, lone}, []batchPart{failed})
	if !isDuplicateKey(got[0][0].err) || !isDuplicateKey(got[0][1].err) {
		t.Errorf("change set failure = %v / %v; want the duplicate key on both", got[0][0].err, got[0][1].err)
	}
	if KindOf(got[1][0].err) != KindUnavailable || !IsTemporary(got[1][0].err) {
		t.Errorf("unanswered part = %v; want temporary", got[1][0].err)
	}
	got = c.matchBatch([]batchItem{lone}, []batchPart{{isSet: true}})
	if KindOf(got[0][0].err) != KindBadResponse {
		t.Errorf("a change set answer to a lone GET = %v; want bad response", got[0][0].err)
	}
}

func TestDecodeBatchMalformed(t *testing.T) {
	for name, tc := range map[string]struct{ ct, body string }{
		"not multipart":     {"application/json", `{"value":[]}`},
		"no boundary":       {"multipart/mixed", "--x\r\n\r\n--x--"},
		"not HTTP":          {"multipart/mixed; boundary=x", "--x\r\nContent-Type: application/http\r\n\r\nhello\r\n--x--\r\n"},
		"cut off":           {"multipart/mixed; boundary=x", "--x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}"},
		"nested twice":      {"multipart/mixed; boundary=x", "--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z--\r\n--y--\r\n--x--\r\n"},
		"bad status":        {"multipart/mixed; boundary=x", "--x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 abc\r\n\r\n--x--\r\n"},
		"unterminated part": {"multipart/mixed; boundary=x", "--x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n"},
	} {
		if _, err := decodeBatch(tc.ct, []byte(tc.body)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzBatchResponse: no batch answer, however malformed, panics the
// decoder or the matching of answers to operations.
func FuzzBatchResponse(f *testing.F) {
	f.Add("multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f", []byte(msChangeSetAnswer))
	f.Add(`multipart/mixed; boundary="batchresponse_f44bd09d-573f-4a30-bca0-2e500ee7e139"`, []byte(msErrorAnswer))
	f.Add("multipart/mixed; boundary=x", []byte("--x\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n--y\r\nContent-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n--y--\r\n--x--\r\n"))
	f.Add("multipart/mixed; boundary=x", []byte("--x\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":-2147015902}}\r\n--x--"))
	c := offlineClient(f)
	items := []batchItem{
		{changeSet: true, ops: []batchOp{{name: "create"}, {name: "complete"}}},
		{ops: []batchOp{{name: "get"}}},
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		parts, err := decodeBatch(ct, body)
		if err != nil {
			return
		}
		for _, as := range c.matchBatch(items, parts) {
			for _, a := range as {
				if a.err != nil && KindOf(a.err) == KindUnknown {
					t.Fatalf("unclassified part error %v", a.err)
				}
				createdID(a, "")
			}
		}
		c.mu.Lock()
		c.notBefore = c.notBefore.AddDate(-1, 0, 0)
		c.mu.Unlock()
	})
}
