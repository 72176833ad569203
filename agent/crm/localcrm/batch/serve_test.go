package batch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// httpPart builds one application/http part (LF line ends; crlf converts).
func httpPart(boundary, contentID, request string) string {
	s := "--" + boundary + "\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n"
	if contentID != "" {
		s += "Content-ID: " + contentID + "\n"
	}
	return s + "\n" + request + "\n"
}

// changeSet wraps parts (built with boundary "cs") in a change set part.
func changeSet(parts ...string) string {
	return "--b\nContent-Type: multipart/mixed; boundary=cs\n\n" + strings.Join(parts, "") + "--cs--\n"
}

func batchOf(parts ...string) string { return crlf(strings.Join(parts, "") + "--b--\n") }

const (
	newContact = "POST contacts HTTP/1.1\nContent-Type: application/json\n\n{\"firstname\":\"Ann\"}"
	getContact = "GET contacts HTTP/1.1\n"
)

func TestChangeSetIsAtomic(t *testing.T) {
	body := batchOf(
		httpPart("b", "", getContact),
		changeSet(
			httpPart("cs", "1", newContact),
			httpPart("cs", "2", "PATCH $1 HTTP/1.1\nContent-Type: application/json\n\n{\"lastname\":\"Lee\"}"),
			httpPart("cs", "3", "PATCH contacts(00000099-0000-0000-0000-000000000000) HTTP/1.1\nContent-Type: application/json\n\n{\"lastname\":\"X\"}"),
		),
		httpPart("b", "", newContact),
	)
	t.Run("stop", func(t *testing.T) {
		s := newStore()
		w := post(t, s.options(), "b", body)
		if w.Code != 404 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		parts := parseAnswer(t, w)
		if len(parts) != 2 || parts[0].status != 200 || len(parts[1].set) != 1 || parts[1].set[0].status != 404 || parts[1].set[0].mime.Get("Content-ID") != "3" {
			t.Fatalf("parts %+v", parts)
		}
		if s.count("contacts") != 0 || s.rollbacks != 1 || s.commits != 0 {
			t.Fatalf("contacts %d rollbacks %d commits %d", s.count("contacts"), s.rollbacks, s.commits)
		}
	})
	t.Run("continue", func(t *testing.T) {
		s := newStore()
		w := post(t, s.options(), "b", body, "Prefer", `odata.include-annotations="*", odata.continue-on-error`)
		parts := parseAnswer(t, w)
		if w.Code != 200 || len(parts) != 3 || len(parts[1].set) != 1 || parts[1].set[0].status != 404 || parts[2].status != 204 {
			t.Fatalf("%d parts %+v", w.Code, parts)
		}
		if s.count("contacts") != 1 || s.rollbacks != 1 {
			t.Fatalf("contacts %d rollbacks %d", s.count("contacts"), s.rollbacks)
		}
	})
}

func TestCommitFailure(t *testing.T) {
	s := newStore()
	s.commitErr = errCommit
	w := post(t, s.options(), "b", batchOf(changeSet(httpPart("cs", "1", newContact))))
	parts := parseAnswer(t, w)
	if w.Code != 500 || len(parts) != 1 || len(parts[0].set) != 1 || parts[0].set[0].status != 500 || !strings.Contains(parts[0].set[0].body, "disk full") {
		t.Fatalf("%d %+v", w.Code, parts)
	}
	if s.rollbacks != 0 || s.count("contacts") != 0 {
		t.Fatal("rollback called after a failed commit, or data kept")
	}
}

func TestPanicRollsBack(t *testing.T) {
	s := newStore()
	s.panicOn = "boom"
	body := batchOf(changeSet(
		httpPart("cs", "1", newContact),
		httpPart("cs", "2", "POST tasks HTTP/1.1\nContent-Type: application/json\n\n{\"subject\":\"boom\"}"),
	))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		post(t, s.options(), "b", body)
	}()
	if s.rollbacks != 1 || s.commits != 0 || s.count("contacts") != 0 {
		t.Fatalf("rollbacks %d commits %d contacts %d", s.rollbacks, s.commits, s.count("contacts"))
	}
}

func TestReferenceErrors(t *testing.T) {
	unknown := func(n string) string {
		return "Content-ID Reference: '$" + n + "' does not exist in the batch context."
	}
	for name, tc := range map[string]struct{ body, msg string }{
		"unknown id in URL":    {batchOf(changeSet(httpPart("cs", "1", newContact), httpPart("cs", "2", "DELETE $9 HTTP/1.1\n"))), unknown("9")},
		"self reference":       {batchOf(changeSet(httpPart("cs", "1", "PATCH $1 HTTP/1.1\nContent-Type: application/json\n\n{}"))), unknown("1")},
		"outside a change set": {batchOf(httpPart("b", "1", newContact), httpPart("b", "2", "DELETE /$1 HTTP/1.1\n")), unknown("1")},
		"bind outside":         {batchOf(httpPart("b", "", "POST tasks HTTP/1.1\nContent-Type: application/json\n\n{\"x@odata.bind\":\"$1\"}")), unknown("1")},
		"other change set":     {batchOf(changeSet(httpPart("cs", "1", newContact)), changeSet(httpPart("cs", "2", "DELETE $1 HTTP/1.1\n"))), unknown("1")},
		"named, declared later": {batchOf(changeSet(
			httpPart("cs", "a", "POST tasks HTTP/1.1\nContent-Type: application/json\n\n{\"x@odata.bind\":[\"$b\"]}"),
			httpPart("cs", "b", newContact))), unknown("b")},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore()
			w := post(t, s.options(), "b", tc.body)
			if w.Code != 400 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if _, msg := odataError(t, w); msg != tc.msg {
				t.Fatalf("message %q", msg)
			}
			if len(s.seen) != 0 {
				t.Fatal("operations ran")
			}
		})
	}
}

func TestReferenceToNoEntity(t *testing.T) {
	s := seeded()
	w := post(t, s.options(), "b", batchOf(changeSet(
		httpPart("cs", "1", "DELETE "+account1+" HTTP/1.1\n"),
		httpPart("cs", "2", "PATCH $1 HTTP/1.1\nContent-Type: application/json\n\n{}"),
	)))
	parts := parseAnswer(t, w)
	if w.Code != 400 || len(parts) != 1 || len(parts[0].set) != 1 || parts[0].set[0].mime.Get("Content-ID") != "2" || !strings.Contains(parts[0].set[0].body, "does not name an entity") {
		t.Fatalf("%d %+v", w.Code, parts)
	}
	if s.recs[account1] == nil || s.rollbacks != 1 {
		t.Fatal("the delete was not rolled back")
	}
}

func TestNamedContentIDsAndSuffixes(t *testing.T) {
	s := newStore()
	w := post(t, s.options(), "b", batchOf(changeSet(
		httpPart("cs", "acct", "POST accounts HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"A\"}"),
		httpPart("cs", "c", "POST contacts HTTP/1.1\nContent-Type: application/json; charset=utf-8\n\n{\"firstname\":\"B\",\"nested\":{\"parentcustomerid_account@odata.bind\":\"$acct\"},\"note\":\"$acct stays\",\"parentcustomerid_account@odata.bind\":\"$acct\"}"),
		httpPart("cs", "", "PATCH $c?tag=1 HTTP/1.1\nContent-Type: application/json\n\n{\"lastname\":\"C\"}"),
	)))
	parts := parseAnswer(t, w)
	if w.Code != 200 || len(parts[0].set) != 3 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	acct := strings.TrimPrefix(parts[0].set[0].header.Get("OData-EntityId"), root)
	contactKey := strings.TrimPrefix(parts[0].set[1].header.Get("OData-EntityId"), root)
	c := s.recs[contactKey]
	nested, _ := c["nested"].(map[string]any)
	if c["_parentcustomerid_account_value"] != acct || nested["parentcustomerid_account@odata.bind"] != root+acct || c["note"] != "$acct stays" || c["lastname"] != "C" {
		t.Fatalf("contact %v", c)
	}
	if r := s.seen[2]; r.URL.RawQuery != "tag=1" || r.URL.Path != "/api/data/v9.2/"+contactKey || r.RequestURI != "/api/data/v9.2/"+contactKey+"?tag=1" || r.Host != "crm.test" || r.URL.Host != "" {
		t.Fatalf("PATCH $c?tag=1 reached Exec as %v %q %q", r.URL, r.RequestURI, r.Host)
	}
}

func TestGetInChangeSetRefused(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		s := newStore()
		w := post(t, s.options(), "b", batchOf(changeSet(httpPart("cs", "1", newContact), httpPart("cs", "2", m+" contacts HTTP/1.1\n"))))
		if w.Code != 400 {
			t.Fatalf("%s: %d", m, w.Code)
		}
		if _, msg := odataError(t, w); !strings.Contains(msg, "is a "+m+" request; a change set may only contain POST, PATCH, PUT and DELETE") || len(s.seen) != 0 {
			t.Fatalf("%s: %q", m, msg)
		}
	}
}

func TestOperationLimit(t *testing.T) {
	gets := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = httpPart("b", "", getContact)
		}
		return out
	}
	s := newStore()
	w := post(t, s.options(), "b", batchOf(gets(1000)...))
	if w.Code != 200 || len(parseAnswer(t, w)) != 1000 {
		t.Fatalf("1000 operations: %d", w.Code)
	}
	for name, body := range map[string]string{
		"1001 operations":                   batchOf(gets(1001)...),
		"999 plus a change set holding two": batchOf(append(gets(999), changeSet(httpPart("cs", "1", newContact), httpPart("cs", "2", newContact)))...),
	} {
		s := newStore()
		w := post(t, s.options(), "b", body)
		if w.Code != 400 {
			t.Fatalf("%s: %d", name, w.Code)
		}
		if _, msg := odataError(t, w); msg != "The batch contains more than 1000 operations (operations inside change sets count too); split it into several batches." || len(s.seen) != 0 {
			t.Fatalf("%s: %q", name, msg)
		}
	}
	o := newStore().options()
	o.MaxOps = 2
	if w := post(t, o, "b", batchOf(gets(3)...)); w.Code != 400 {
		t.Fatalf("MaxOps 2: %d", w.Code)
	}
}

func TestMalformed(t *testing.T) {
	ok := httpPart("b", "", getContact)
	cases := []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"not multipart", "application/json", "{}", 400, "must have Content-Type multipart/mixed"},
		{"no boundary", "multipart/mixed", batchOf(ok), 400, "has no boundary parameter"},
		{"boundary too long", "multipart/mixed; boundary=" + strings.Repeat("b", 71), "", 400, "not a valid multipart boundary"},
		{"no closing delimiter", "", crlf(ok), 400, "before the closing delimiter --b--"},
		{"no parts", "", crlf("--b--\n"), 400, "contains no operations"},
		{"garbage", "", "hello", 400, "contains no delimiter --b"},
		{"other boundary", "multipart/mixed; boundary=x", batchOf(ok), 400, "contains no delimiter --x"},
		{"part without Content-Type", "", batchOf("--b\nContent-Transfer-Encoding: binary\n\nGET contacts HTTP/1.1\n"), 400, "part 1 of the batch has no valid Content-Type"},
		{"part text/plain", "", batchOf("--b\nContent-Type: text/plain\n\nhi\n"), 400, "has Content-Type \"text/plain\""},
		{"bad part headers", "", batchOf("--b\nContent-Type application/http\n\nGET contacts HTTP/1.1\n"), 400, "part 1 is not valid multipart content"},
		{"no transfer encoding", "", batchOf("--b\nContent-Type: application/http\n\nGET contacts HTTP/1.1\n"), 400, "Content-Transfer-Encoding: binary"},
		{"no request line", "", batchOf("--b\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n"), 400, "part 1 has no request line"},
		{"short request line", "", batchOf(httpPart("b", "", "GET contacts\n")), 400, "not of the form 'METHOD URL HTTP/1.1'"},
		{"HTTP/2", "", batchOf(httpPart("b", "", "GET contacts HTTP/2\n")), 400, "only HTTP/1.1"},
		{"bad method", "", batchOf(httpPart("b", "", "G(T contacts HTTP/1.1\n")), 400, "invalid method"},
		{"bad inner headers", "", batchOf(httpPart("b", "", "POST contacts HTTP/1.1\n: x\n\n{}")), 400, "headers of part 1 are malformed"},
		{"non-UTF-8 JSON", "", batchOf(httpPart("b", "", "POST contacts HTTP/1.1\nContent-Type: application/json\n\n{\"firstname\":\"\xe9\"}")), 400, "JSON body of part 1 is not valid UTF-8"},
		{"other charset", "", batchOf(httpPart("b", "", "POST contacts HTTP/1.1\nContent-Type: application/json; charset=iso-8859-1\n\n{}")), 400, "only UTF-8 JSON"},
		{"URL too long", "", batchOf(httpPart("b", "", "GET contacts?x="+strings.Repeat("a", maxURL)+" HTTP/1.1\n")), 400, "longer than 65536"},
		{"bad URL", "", batchOf(httpPart("b", "", "GET contacts%zz HTTP/1.1\n")), 400, "URL of part 1 is not valid"},
		{"other host", "", batchOf(httpPart("b", "", "GET https://evil.test/api/data/v9.2/contacts HTTP/1.1\n")), 400, "does not point at this service (http://crm.test)"},
		{"other scheme", "", batchOf(httpPart("b", "", "GET https://crm.test/api/data/v9.2/contacts HTTP/1.1\n")), 400, "does not point at this service"},
		{"network path", "", batchOf(httpPart("b", "", "GET //evil.test/x HTTP/1.1\n")), 400, "does not point at this service"},
		{"scheme-relative", "", batchOf(httpPart("b", "", "GET mailto:x HTTP/1.1\n")), 400, "neither a path nor a URL"},
		{"nested batch", "", batchOf(httpPart("b", "", "POST $batch HTTP/1.1\n")), 400, "Part 1 is a $batch request; a batch cannot contain another batch."},
		{"nested batch, absolute", "", batchOf(httpPart("b", "", "POST http://crm.test/api/data/v9.2/%24batch HTTP/1.1\n")), 400, "cannot contain another batch"},
		{"nested change set", "", batchOf("--b\nContent-Type: multipart/mixed; boundary=cs\n\n--cs\nContent-Type: multipart/mixed; boundary=x\n\n--x--\n--cs--\n"), 400, "Change sets cannot be nested"},
		{"change set without boundary", "", batchOf("--b\nContent-Type: multipart/mixed\n\n--cs--\n"), 400, "change set in part 1 has no boundary"},
		{"empty change set", "", batchOf("--b\nContent-Type: multipart/mixed; boundary=cs\n\n--cs--\n"), 400, "change set in part 1 contains no operations"},
		{"change set part not http", "", batchOf(changeSet("--cs\nContent-Type: text/plain\n\nx\n")), 400, "operation 1 of the change set in part 1 must have Content-Type application/http"},
		{"duplicate Content-ID", "", batchOf(changeSet(httpPart("cs", "1", newContact), httpPart("cs", "1", newContact))), 400, "Content-ID '1' is used more than once"},
		{"change set unterminated", "", batchOf("--b\nContent-Type: multipart/mixed; boundary=cs\n\n" + httpPart("cs", "1", newContact)), 400, "before the closing delimiter --cs--"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore()
			r := httptest.NewRequest("POST", root+"$batch", strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "multipart/mixed; boundary=b"
			}
			r.Header.Set("Content-Type", ct)
			w := httptest.NewRecorder()
			Serve(w, r, s.options())
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			code, msg := odataError(t, w)
			if code != "0x80048d19" || !strings.Contains(msg, tc.want) {
				t.Fatalf("error %s %q, want it to contain %q", code, msg, tc.want)
			}
			if w.Header().Get("Content-Type") != "application/json; odata.metadata=minimal" {
				t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
			}
			if len(s.seen) != 0 {
				t.Fatal("operations ran although the batch was refused")
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	o := newStore().options()
	o.MaxBytes = 100
	w := post(t, o, "b", batchOf(httpPart("b", "", newContact), httpPart("b", "", newContact)))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", w.Code)
	}
	if _, msg := odataError(t, w); !strings.Contains(msg, "larger than the limit of 100 bytes") {
		t.Fatal(msg)
	}
}

func TestOnlyPost(t *testing.T) {
	w := httptest.NewRecorder()
	Serve(w, httptest.NewRequest("GET", root+"$batch", nil), newStore().options())
	if w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

func TestHeadersAndContextReachExec(t *testing.T) {
	type outerKey struct{}
	s := seeded()
	o := s.options()
	o.Inherit = []string{"X-Trace"}
	r := httptest.NewRequest("POST", root+"$batch", strings.NewReader(batchOf(
		httpPart("b", "7", "GET "+account1+" HTTP/1.1\n"),
		httpPart("b", "", "GET contacts HTTP/1.1\nAuthorization: Bearer bad\n"),
		changeSet(httpPart("cs", "1", newContact)),
	)))
	r = r.WithContext(context.WithValue(r.Context(), outerKey{}, "outer"))
	r.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	r.Header.Set("Authorization", "Bearer good")
	r.Header.Set("MSCRMCallerID", "00000000-0000-0000-0000-00000000000a")
	r.Header.Set("X-Trace", "t1")
	r.Header.Set("Prefer", "odata.continue-on-error")
	r.RemoteAddr = "192.0.2.1:5555"
	w := httptest.NewRecorder()
	Serve(w, r, o)
	parts := parseAnswer(t, w)
	if len(parts) != 3 || parts[0].status != 200 || parts[1].status != 401 || len(parts[2].set) != 1 {
		t.Fatalf("%d %+v", w.Code, parts)
	}
	// Part headers: ETag kept, Content-ID echoed, OData-Version kept.
	if parts[0].header.Get("ETag") != `W/"77180907"` || parts[0].mime.Get("Content-ID") != "7" || parts[0].header.Get("OData-Version") != "4.0" {
		t.Fatalf("first part %+v", parts[0])
	}
	if !strings.Contains(w.Body.String(), "\r\nETag: ") || !strings.Contains(w.Body.String(), "\r\nOData-Version: 4.0") {
		t.Fatal("well-known headers not spelled as Dataverse spells them")
	}
	for i, in := range s.seen {
		if !IsInner(in.Context()) || in.Context().Value(outerKey{}) != "outer" {
			t.Fatalf("request %d: context not derived from the outer one, or not marked inner", i)
		}
		if in.Header.Get("MSCRMCallerID") != "00000000-0000-0000-0000-00000000000a" || in.Header.Get("X-Trace") != "t1" || in.RemoteAddr != "192.0.2.1:5555" {
			t.Fatalf("request %d: headers %v", i, in.Header)
		}
		_, inTx := in.Context().Value(txKey{}).(*tx)
		if inTx != (i == 2) {
			t.Fatalf("request %d: in a transaction %v", i, inTx)
		}
	}
	if s.seen[1].Header.Get("Authorization") != "Bearer bad" {
		t.Fatal("the part's own Authorization was overridden")
	}
	if IsInner(r.Context()) {
		t.Fatal("the outer request is marked inner")
	}
}

func TestNoOuterAuthorization(t *testing.T) {
	s := newStore()
	r := httptest.NewRequest("POST", root+"$batch", strings.NewReader(batchOf(httpPart("b", "", getContact))))
	r.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	w := httptest.NewRecorder()
	Serve(w, r, s.options())
	if parts := parseAnswer(t, w); w.Code != 401 || parts[0].status != 401 {
		t.Fatalf("%d %+v", w.Code, parts)
	}
}

func TestURLForms(t *testing.T) {
	s := newStore()
	o := s.options()
	o.APIRoot = nil // derived from the outer request
	w := post(t, o, "b", batchOf(
		httpPart("b", "", "POST contacts HTTP/1.1\nContent-Type: application/json\n\n{}"),
		httpPart("b", "", "POST /api/data/v9.2/contacts HTTP/1.1\nContent-Type: application/json\n\n{}"),
		httpPart("b", "", "POST HTTP://CRM.TEST/api/data/v9.2/contacts HTTP/1.1\nContent-Type: application/json\n\n{}"),
		httpPart("b", "", "GET contacts?$select=fullname&$filter=contains(fullname,'a%20b') HTTP/1.1\n"),
	))
	parts := parseAnswer(t, w)
	if w.Code != 200 || len(parts) != 4 || s.count("contacts") != 3 {
		t.Fatalf("%d %+v", w.Code, parts)
	}
	if q := s.seen[3].URL.Query(); q.Get("$select") != "fullname" || q.Get("$filter") != "contains(fullname,'a b')" {
		t.Fatalf("query %v", q)
	}
}

func TestBeginMissing(t *testing.T) {
	o := newStore().options()
	o.Begin = nil
	if w := post(t, o, "b", batchOf(httpPart("b", "", getContact))); w.Code != 200 {
		t.Fatalf("lone operations need no transaction: %d", w.Code)
	}
	w := post(t, o, "b", batchOf(changeSet(httpPart("cs", "1", newContact))))
	if w.Code != 501 {
		t.Fatalf("status %d", w.Code)
	}
}

func TestContinueOnErrorPreference(t *testing.T) {
	for v, want := range map[string]bool{
		"odata.continue-on-error":                                  true,
		`odata.include-annotations="a,b", odata.continue-on-error`: true,
		"continue-on-error=true":                                   true,
		"odata.continue-on-error=false":                            false,
		"return=representation":                                    false,
		"":                                                         false,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Prefer", v)
		}
		if got := continueOnError(h); got != want {
			t.Errorf("Prefer %q: %v", v, got)
		}
	}
}
