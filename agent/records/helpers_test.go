package records

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
	"crmsync/agent/item"
)

// fixture is a local CRM with the demo data, a real Radicale, and the
// agent's cache file: the parts a pass talks to.
type fixture struct {
	t       *testing.T
	crm     *localcrm.Server
	ts      *httptest.Server
	dav     *davtest.Server
	crmHits atomic.Int64 // Web API requests, sign-in excluded

	mu   sync.Mutex
	wire []string // each Web API request: method, URL and body
}

// wireLog returns the Web API requests so far, one string each.
func (f *fixture) wireLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.wire...)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t}
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatalf("localcrm.New: %v", err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	f.crm = srv
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/api/data/") {
			f.crmHits.Add(1)
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			u, _ := url.QueryUnescape(r.URL.RequestURI())
			f.mu.Lock()
			f.wire = append(f.wire, r.Method+" "+u+" "+string(body))
			f.mu.Unlock()
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		f.ts.Close()
		srv.Close()
	})
	f.dav = davtest.Start(t)
	return f
}

// side is one user's agent: their CRM client, DAV client and cache.
type side struct {
	f      *fixture
	user   string // "alice" or "bob"
	userID string
	crm    *crm.HTTPClient
	dav    *dav.Client
	store  *cache.Store
	dir    string
}

// as signs user in to the CRM and the DAV server, with a new cache file.
func (f *fixture) as(user string) *side {
	f.t.Helper()
	email := user + "@demo.local"
	c, err := crm.New(crm.Config{URL: f.ts.URL})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.SignIn(ctxT(f.t), email, "demo-"+user); err != nil {
		f.t.Fatalf("sign in %s: %v", email, err)
	}
	id, err := f.crm.UserID(email)
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := dav.New(f.dav.Account(user), f.dav.Password(user), dav.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	s := &side{f: f, user: user, userID: strings.ToLower(id), crm: c, dav: d, dir: f.t.TempDir()}
	s.reopen()
	return s
}

// reopen opens the cache file again, as a restarted agent does.
func (s *side) reopen() {
	s.f.t.Helper()
	if s.store != nil {
		s.store.Close()
	}
	st, err := cache.Open(filepath.Join(s.dir, "cache.db"), nil)
	if err != nil {
		s.f.t.Fatal(err)
	}
	s.store = st
	s.f.t.Cleanup(func() { st.Close() })
}

// syncer makes a Syncer for the side; mod adjusts its options.
func (s *side) syncer(mod ...func(*Options)) *Syncer {
	s.f.t.Helper()
	o := Options{
		CRM: func() (CRM, error) { return s.crm, nil }, DAV: s.dav, Store: s.store, UserID: s.userID,
		Account: s.f.dav.Account(s.user).Display(),
	}
	for _, m := range mod {
		m(&o)
	}
	sy, err := New(o)
	if err != nil {
		s.f.t.Fatal(err)
	}
	return sy
}

// pass runs one pass and fails the test on an error.
func (s *side) pass(sy *Syncer) Report {
	s.f.t.Helper()
	rep, err := sy.Pass(ctxT(s.f.t))
	if err != nil {
		s.f.t.Fatalf("pass: %v\n%s", err, rep)
	}
	return rep
}

// files returns the items of a collection as Radicale stores them.
func (s *side) files(coll string) map[string][]byte {
	return s.f.dav.ItemFiles(s.user, collSlug(coll))
}

// collSlug is the path segment crmsync gave a collection of that name.
func collSlug(name string) string {
	switch name {
	case DefaultAddressBook:
		return "crm-contacts"
	case DefaultCalendar:
		return "crm-calendar"
	}
	return name
}

// find returns the href and text of the item whose X-CRM-ID is id.
func (s *side) find(coll string, kind dav.Kind, id string) (dav.Object, bool) {
	s.f.t.Helper()
	ctx := ctxT(s.f.t)
	homes, err := s.dav.Discover(ctx)
	if err != nil {
		s.f.t.Fatal(err)
	}
	var c dav.Collection
	for _, x := range append(homes.AddressBooks, homes.Calendars...) {
		if x.Name == coll {
			c = x
		}
	}
	if c.Href == "" {
		s.f.t.Fatalf("no collection %q", coll)
	}
	refs, err := s.dav.List(ctx, c.Href)
	if err != nil {
		s.f.t.Fatal(err)
	}
	var hrefs []string
	for _, r := range refs {
		hrefs = append(hrefs, r.Href)
	}
	objs, err := s.dav.Get(ctx, c.Href, kind, hrefs)
	if err != nil {
		s.f.t.Fatal(err)
	}
	for _, o := range objs {
		if strings.Contains(string(o.Data), "X-CRM-ID:"+id) {
			return o, true
		}
	}
	return dav.Object{}, false
}

// edit rewrites an item's text with re → repl and puts it back with
// If-Match, as a calendar or address book app does.
func (s *side) edit(o dav.Object, kind dav.Kind, re, repl string) string {
	s.f.t.Helper()
	text := unfold(string(o.Data))
	out := regexp.MustCompile(re).ReplaceAllString(text, repl)
	if out == text {
		s.f.t.Fatalf("edit %q matched nothing in:\n%s", re, text)
	}
	etag, err := s.dav.Put(ctxT(s.f.t), o.Href, []byte(out), kind, o.ETag)
	if err != nil {
		s.f.t.Fatalf("put %s: %v", o.Href, err)
	}
	return etag
}

// unfold joins folded lines, so edits can match whole properties.
func unfold(s string) string {
	return strings.NewReplacer("\r\n ", "", "\r\n\t", "").Replace(s)
}

// row reads one CRM record's columns as the user sees them.
func (s *side) row(set, key, id string, cols ...string) map[string]any {
	s.f.t.Helper()
	rows, err := s.crm.Rows(ctxT(s.f.t), set, key, []string{id}, append([]string{key}, cols...), "")
	if err != nil {
		s.f.t.Fatal(err)
	}
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// decodeContact decodes a stored vCard or fails.
func decodeContact(t *testing.T, b []byte) item.Item {
	t.Helper()
	it, err := item.DecodeContact(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return it
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
