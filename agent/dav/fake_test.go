package dav

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Radicale never cuts a sync report short, sends no full-URL hrefs and
// always an ETag; these tests play such a server with httptest.

// fake serves handler on loopback and returns a Client for it.
func fake(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := New(Account{URL: srv.URL + "/alice/", Username: "alice"}, "pw", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func multistatusReply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">`+body+`</d:multistatus>`)
}

// TestChangesTruncated follows a 507-truncated sync report to the end
// and merges its parts: an item added in the first part and removed in
// the second is removed.
func TestChangesTruncated(t *testing.T) {
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "REPORT" || r.Header.Get("Depth") != "0" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		switch {
		case strings.Contains(string(b), "<D:sync-token></D:sync-token>"):
			multistatusReply(w, `<d:response><d:href>/alice/book/a.vcf</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`+
				`<d:response><d:href>/alice/book/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response><d:sync-token>t1</d:sync-token>`)
		case strings.Contains(string(b), "<D:sync-token>t1</D:sync-token>"):
			multistatusReply(w, `<d:response><d:href>/alice/book/b.vcf</d:href><d:propstat><d:prop><d:getetag>"2"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`+
				`<d:response><d:href>/alice/book/a.vcf</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response><d:sync-token>t2</d:sync-token>`)
		default:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>`)
		}
	})
	d, err := c.Changes(ctx(t), "/alice/book/", "")
	if err != nil {
		t.Fatal(err)
	}
	if d.Token != "t2" || len(d.Changed) != 1 || d.Changed[0] != (Ref{"/alice/book/b.vcf", `"2"`}) || len(d.Removed) != 1 || d.Removed[0] != "/alice/book/a.vcf" {
		t.Fatalf("Changes = %+v", d)
	}
	if c.Requests() != 2 {
		t.Errorf("Requests() = %d, want 2", c.Requests())
	}
}

// TestListHrefs reads hrefs as full URLs, relative and percent-encoded,
// and leaves out the collection, sub-collections and unreadable hrefs.
func TestListHrefs(t *testing.T) {
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		item := func(href, etag string) string {
			return `<d:response><d:href>` + href + `</d:href><d:propstat><d:prop><d:getetag>` + etag +
				`</d:getetag><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`
		}
		multistatusReply(w, item("/alice/book/", `"c"`)+
			item("http://"+r.Host+"/alice/book/x%20y.vcf", `"1"`)+
			item("z.vcf", `"2"`)+
			item("/alice/book/../book/./w%40v.vcf", `"3"`)+
			item("%zz", `"4"`)+
			`<d:response><d:href>/alice/book/sub/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`+
			`<d:response><d:href>/alice/book/sub2</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop></d:propstat></d:response>`)
	})
	refs, err := c.List(ctx(t), "/alice/book")
	if err != nil {
		t.Fatal(err)
	}
	want := []Ref{{"/alice/book/w@v.vcf", `"3"`}, {"/alice/book/x y.vcf", `"1"`}, {"/alice/book/z.vcf", `"2"`}}
	if len(refs) != len(want) {
		t.Fatalf("List = %+v, want %+v", refs, want)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Fatalf("List = %+v, want %+v", refs, want)
		}
	}
}

// TestPutWithoutETag reads the ETag with a PROPFIND when the PUT's
// answer has none, and sends the item encoded and typed.
func TestPutWithoutETag(t *testing.T) {
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PUT":
			if r.URL.EscapedPath() != "/alice/cal/a%20b.ics" || r.Header.Get("If-Match") != `"old"` ||
				r.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
				http.Error(w, "bad", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "PROPFIND":
			multistatusReply(w, `<d:response><d:href>/alice/cal/a%20b.ics</d:href><d:propstat><d:prop><d:getetag>"new"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`)
		}
	})
	etag, err := c.Put(ctx(t), "/alice/cal/a b.ics", []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"), Calendar, "old")
	if err != nil || etag != `"new"` || c.Requests() != 2 {
		t.Fatalf("Put = %q, %v after %d requests", etag, err, c.Requests())
	}
}

// TestRedirectElsewhere does not follow a redirect to another server,
// where the password would go along.
func TestRedirectElsewhere(t *testing.T) {
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example.com/dav/", http.StatusMovedPermanently)
	})
	_, err := c.Discover(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "evil.example.com") || c.Requests() != 1 {
		t.Fatalf("Discover = %v after %d requests", err, c.Requests())
	}
}

// TestServerErrorText keeps a hostile status line short and printable.
func TestServerErrorText(t *testing.T) {
	c := fake(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	_, err := c.Stat(ctx(t), "/alice/book/")
	if err == nil || !strings.Contains(err.Error(), "dav: PROPFIND /alice/book/: 500 Internal Server Error") {
		t.Fatalf("Stat = %v", err)
	}
}
