package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// fixture is a local CRM with the demo seed, served on loopback, behind a
// recorder that can also replace answers for faults the CRM itself cannot
// produce (an HTML proxy page, a truncated body).
type fixture struct {
	t     *testing.T
	crm   *localcrm.Server
	ts    *httptest.Server
	clock *fakeClock

	mu       sync.Mutex
	log      []hit                                                    // every request that reached the server
	override func(w http.ResponseWriter, r *http.Request) (done bool) // guarded by mu
	tokens   atomic.Int32                                             // token endpoint calls
}

// hit is one request as the server saw it.
type hit struct {
	at     time.Time
	method string
	path   string
	status int
}

type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func newFixture(t *testing.T, opts localcrm.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &fakeClock{}}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	srv, err := localcrm.New(opts)
	if err != nil {
		t.Fatalf("localcrm.New: %v", err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	f.crm = srv
	f.ts = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.ts.Close()
		srv.Close()
	})
	return f
}

func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		f.tokens.Add(1)
	}
	rec := &statusRecorder{ResponseWriter: w, status: 200}
	f.mu.Lock()
	override := f.override
	f.mu.Unlock()
	if override == nil || !override(rec, r) {
		f.crm.ServeHTTP(rec, r)
	}
	f.mu.Lock()
	f.log = append(f.log, hit{time.Now(), r.Method, r.URL.Path, rec.status})
	f.mu.Unlock()
}

// setOverride replaces answers while fn returns true; nil restores the CRM.
func (f *fixture) setOverride(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.override = fn
	f.mu.Unlock()
}

func (f *fixture) hits() []hit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hit(nil), f.log...)
}

// client returns a client signed in as user.
func (f *fixture) client(user, password string, mod ...func(*Config)) *HTTPClient {
	f.t.Helper()
	cfg := Config{URL: f.ts.URL}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	if err := c.SignIn(context.Background(), user, password); err != nil {
		f.t.Fatalf("SignIn %s: %v", user, err)
	}
	return c
}

func (f *fixture) alice() *HTTPClient { return f.client("alice@demo.local", "demo-alice") }
func (f *fixture) bob() *HTTPClient   { return f.client("bob@demo.local", "demo-bob") }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		inMsg   string
	}{
		{"https://org.crm.dynamics.com", nil, ""},
		{"http://127.0.0.1:8555", nil, ""},
		{"http://localhost:8555/", nil, ""},
		{"http://[::1]:8555", nil, ""},
		{"http://crm.example.com", ErrInsecureURL, "http://crm.example.com uses http; https is required"},
		{"http://10.0.0.5:8555", ErrInsecureURL, "https is required"},
		{"", ErrInvalidURL, "is empty"},
		{"crm.example.com", ErrInvalidURL, "is not a web address"},
		{"ftp://crm.example.com", ErrInvalidURL, "is not a web address"},
		{"https://user:pw@crm.example.com", ErrInvalidURL, "must not contain a user name or password"},
	}
	for _, tt := range tests {
		_, err := CheckURL("CRM address", tt.in)
		if tt.wantErr == nil {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want ok", tt.in, err)
			}
			continue
		}
		if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.inMsg) {
			t.Errorf("CheckURL(%q) = %v, want %v containing %q", tt.in, err, tt.wantErr, tt.inMsg)
		}
		if strings.Contains(fmt.Sprint(err), "pw@") {
			t.Errorf("CheckURL(%q) leaked the password into %v", tt.in, err)
		}
	}
	if _, err := New(Config{URL: "http://crm.example.com"}); !errors.Is(err, ErrInsecureURL) {
		t.Errorf("New with http non-loopback = %v, want ErrInsecureURL", err)
	}
	if _, err := New(Config{URL: "https://crm.example.com", TokenURL: "http://login.example.com/token"}); !errors.Is(err, ErrInsecureURL) {
		t.Errorf("New with http token endpoint = %v, want ErrInsecureURL", err)
	}
}

func TestAPIBase(t *testing.T) {
	for in, want := range map[string]string{
		"https://org.crm.dynamics.com":                  "https://org.crm.dynamics.com/api/data/v9.2/",
		"https://org.crm.dynamics.com/":                 "https://org.crm.dynamics.com/api/data/v9.2/",
		"https://org.crm.dynamics.com/api/data/v9.1":    "https://org.crm.dynamics.com/api/data/v9.1/",
		"http://127.0.0.1:8555/api/data/v9.2/?x=1#frag": "http://127.0.0.1:8555/api/data/v9.2/",
	} {
		u, err := CheckURL("CRM address", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := APIBase(u).String(); got != want {
			t.Errorf("APIBase(%s) = %s, want %s", in, got, want)
		}
	}
	u, _ := CheckURL("CRM address", "http://127.0.0.1:8555/api/data/v9.2")
	if got := defaultTokenURL(u); got != "http://127.0.0.1:8555/oauth2/v2.0/token" {
		t.Errorf("defaultTokenURL = %s", got)
	}
}

func TestSignInWhoAmIAndPrivilege(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	ctx := ctxT(t)
	for _, tt := range []struct {
		user, pw string
		canSync  bool
	}{
		{"alice@demo.local", "demo-alice", true},
		{"bob@demo.local", "demo-bob", true},
		{"carol@demo.local", "demo-carol", false},
	} {
		c := f.client(tt.user, tt.pw)
		id, err := c.WhoAmI(ctx)
		if err != nil {
			t.Fatalf("%s WhoAmI: %v", tt.user, err)
		}
		want, err := f.crm.UserID(tt.user)
		if err != nil || id.UserID != strings.ToLower(want) {
			t.Errorf("%s WhoAmI UserID = %s, want %s", tt.user, id.UserID, want)
		}
		if !IsGUID(id.BusinessUnitID) || !IsGUID(id.OrganizationID) {
			t.Errorf("%s WhoAmI = %+v: business unit and organization must be GUIDs", tt.user, id)
		}
		got, err := c.CanSync(ctx, id.UserID)
		if err != nil || got != tt.canSync {
			t.Errorf("%s CanSync = %v, %v; want %v", tt.user, got, err, tt.canSync)
		}
	}
}

func TestSignInRefusedClearly(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c, err := New(Config{URL: f.ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "not-the-password-123"
	err = c.SignIn(ctxT(t), "alice@demo.local", secret)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad password: %v, want ErrUnauthorized", err)
	}
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.UserMessage(), "Sign in again") {
		t.Errorf("user message %q should tell the user to sign in again", e.UserMessage())
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(e.UserMessage(), secret) {
		t.Errorf("error text leaks the password: %v", err)
	}
	if err := c.SignIn(ctxT(t), "", ""); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("empty credentials: %v, want ErrUnauthorized", err)
	}
	// Not signed in: nothing is sent, the caller learns it must sign in.
	before := len(f.hits())
	if _, err := c.WhoAmI(ctxT(t)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("WhoAmI without sign-in: %v, want ErrUnauthorized", err)
	}
	if n := len(f.hits()) - before; n != 0 {
		t.Errorf("WhoAmI without a token sent %d requests, want 0", n)
	}
}

func TestResolveParties(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	addrs := []string{strings.ToUpper(contact.email), "bob@demo.local", "nobody@unknown.example", "", contact.email}
	got, err := c.ResolveParties(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(addrs) {
		t.Fatalf("got %d parties for %d addresses", len(got), len(addrs))
	}
	if got[0].Entity != "contact" || got[0].ID != contact.id || got[0].Address != addrs[0] {
		t.Errorf("contact address resolved to %+v, want contact %s", got[0], contact.id)
	}
	bob, _ := f.crm.UserID("bob@demo.local")
	if got[1].Entity != "systemuser" || got[1].ID != strings.ToLower(bob) {
		t.Errorf("bob resolved to %+v, want systemuser %s", got[1], bob)
	}
	if got[2].Resolved() || got[3].Resolved() {
		t.Errorf("unknown and empty addresses must stay unresolved: %+v %+v", got[2], got[3])
	}
	if got[4].ID != contact.id {
		t.Errorf("repeated address resolved to %+v", got[4])
	}
	// 45 addresses go out in slices, never as one giant URL.
	many := make([]string, 45)
	for i := range many {
		many[i] = fmt.Sprintf("person%02d@unknown.example", i)
	}
	many[44] = contact.email
	res, err := c.ResolveParties(ctx, many)
	if err != nil || res[44].ID != contact.id {
		t.Fatalf("45 addresses: %v, last = %+v", err, res[44])
	}
}

type contactRow struct{ id, email, name string }

// firstContact finds a seeded contact with an email address through the API.
func firstContact(t *testing.T, f *fixture, c *HTTPClient) contactRow {
	t.Helper()
	var row contactRow
	err := c.queryAll(ctxT(t), "test", "contacts"+query("$select", "contactid,fullname,emailaddress1",
		"$filter", "emailaddress1 ne null", "$orderby", "fullname asc", "$top", "1"), 0, func(raw json.RawMessage) error {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		row = contactRow{fmt.Sprint(m["contactid"]), fmt.Sprint(m["emailaddress1"]), fmt.Sprint(m["fullname"])}
		return nil
	})
	if err != nil || !IsGUID(row.id) {
		t.Fatalf("no seeded contact with an email: %v", err)
	}
	row.id = strings.ToLower(row.id)
	return row
}

func TestCheckIncomingEmail(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	h := Headers{MessageID: "check-1@test.example", Subject: "Quote", From: contact.email, To: []string{"alice@demo.local"}}
	got, err := c.CheckIncomingEmail(ctx, h)
	if err != nil || !got.ShouldDeliver || got.Reason != ReasonSenderMatch {
		t.Fatalf("from a contact: %+v, %v; want deliver, SenderMatch", got, err)
	}
	h2 := Headers{MessageID: "check-2@test.example", Subject: "It's 50% off & more", From: "spam@unknown.example", To: []string{"alice@demo.local"}}
	if got, err := c.CheckIncomingEmail(ctx, h2); err != nil || got.Reason != ReasonNoRecipientMatch {
		t.Fatalf("from a stranger: %+v, %v; want NoRecipientMatch", got, err)
	}
	if _, _, err := c.CreateEmail(ctx, Email{MessageID: h.MessageID, Subject: h.Subject, From: Party{Address: h.From}}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.CheckIncomingEmail(ctx, h); err != nil || got.ShouldDeliver || got.Reason != ReasonDuplicate {
		t.Fatalf("after tracking: %+v, %v; want Duplicate", got, err)
	}
	if got.Reason.String() == "" {
		t.Error("reason codes need a readable text")
	}
}

func TestCreateEmailPartiesRegardingAndIdempotence(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice := f.alice()
	ctx := ctxT(t)
	me, _ := alice.WhoAmI(ctx)
	contact := firstContact(t, f, alice)
	parties, err := alice.ResolveParties(ctx, []string{contact.email, "alice@demo.local", "someone@unknown.example"})
	if err != nil {
		t.Fatal(err)
	}
	e := Email{
		MessageID: "<CAF-1@mail.example.com>", Subject: "Re: quote for 20 seats",
		Body: "Hello,\nplease find the numbers below.",
		From: parties[0], To: []Party{parties[1]}, Cc: []Party{parties[2]},
		Regarding: &agent.RecordRef{Entity: "contact", ID: contact.id},
	}
	created, isNew, err := alice.CreateEmail(ctx, e)
	if err != nil || !isNew || created.OwnerID != "" {
		t.Fatalf("CreateEmail = %+v, new %v, %v; want a new activity", created, isNew, err)
	}
	id := created.ID
	if !IsGUID(string(id)) {
		t.Fatalf("CreateEmail returned %q, want a GUID", id)
	}
	info, err := alice.Activity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.OwnerID != me.UserID || info.Regarding == nil || info.Regarding.Entity != "contact" || info.Regarding.ID != contact.id || info.MessageID != e.MessageID {
		t.Errorf("Activity = %+v, regarding %+v; want owner %s regarding contact %s", info, info.Regarding, me.UserID, contact.id)
	}
	// The parties, state and direction as the CRM stored them.
	resp, err := alice.do(ctx, request{op: "test", method: "GET", path: "emails(" + string(id) + ")" +
		query("$select", "subject,statecode,statuscode,directioncode", "$expand", "email_activity_parties($select=addressused,participationtypemask,_partyid_value)")})
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Subject       string `json:"subject"`
		StateCode     int    `json:"statecode"`
		StatusCode    int    `json:"statuscode"`
		DirectionCode bool   `json:"directioncode"`
		Parties       []struct {
			Address string `json:"addressused"`
			Mask    int    `json:"participationtypemask"`
			PartyID string `json:"_partyid_value"`
		} `json:"email_activity_parties"`
	}
	if err := decode("test", resp, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Subject != e.Subject || rec.StateCode != 1 || rec.StatusCode != 4 || rec.DirectionCode {
		t.Errorf("stored email %+v: want subject, completed/received, incoming", rec)
	}
	masks := map[int]string{}
	for _, p := range rec.Parties {
		masks[p.Mask] = strings.ToLower(p.PartyID) + "|" + p.Address
	}
	// The sender is a contact: from accepts queues and system users only,
	// so it goes as its address; To binds the system user.
	if masks[1] != "|"+contact.email || !strings.HasPrefix(masks[2], me.UserID) || masks[3] != "|someone@unknown.example" {
		t.Errorf("parties by mask = %v", masks)
	}
	// Same Message-ID again: the same activity, no second POST.
	posts := countHits(f, "POST", "/emails")
	again, isNew, err := alice.CreateEmail(ctx, e)
	if err != nil || again.ID != id || isNew || again.OwnerID != me.UserID {
		t.Fatalf("second CreateEmail = %+v new %v, %v; want existing %s owned by alice", again, isNew, err, id)
	}
	if n := countHits(f, "POST", "/emails") - posts; n != 0 {
		t.Errorf("second CreateEmail sent %d POSTs, want 0", n)
	}
	// Bob sees the same message as tracked: it is the organisation's copy.
	bob := f.bob()
	if other, isNew, err := bob.CreateEmail(ctx, e); err != nil || other.ID != id || isNew || other.OwnerID != me.UserID {
		t.Errorf("bob tracking the same message = %+v new %v, %v; want alice's %s", other, isNew, err, id)
	}
	if name, err := bob.UserName(ctx, me.UserID); err != nil || !strings.Contains(name, "Alice") {
		t.Errorf("UserName(alice) = %q, %v", name, err)
	}
	if _, _, err := alice.CreateEmail(ctx, Email{Subject: "no id"}); KindOf(err) != KindBadRequest {
		t.Errorf("CreateEmail without Message-ID: %v, want bad request", err)
	}
}

func countHits(f *fixture, method, suffix string) int {
	n := 0
	for _, h := range f.hits() {
		if h.method == method && strings.HasSuffix(h.path, suffix) {
			n++
		}
	}
	return n
}

func TestSetRegardingDeleteAndOwnership(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice, bob := f.alice(), f.bob()
	ctx := ctxT(t)
	created, _, err := alice.CreateEmail(ctx, Email{MessageID: "own-1@test.example", Subject: "Owned by alice"})
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID
	recs, err := alice.Search(ctx, "a", 50)
	if err != nil {
		t.Fatal(err)
	}
	byEntity := map[string]agent.RecordRef{}
	for _, r := range recs {
		if _, ok := byEntity[r.Entity]; !ok {
			byEntity[r.Entity] = r
		}
	}
	for _, ent := range []string{"contact", "account", "opportunity", "incident"} {
		r, ok := byEntity[ent]
		if !ok {
			t.Fatalf("search for 'a' found no %s (got %v)", ent, recs)
		}
		if err := alice.SetRegarding(ctx, id, &r); err != nil {
			t.Fatalf("SetRegarding %s: %v", ent, err)
		}
		info, err := alice.Activity(ctx, id)
		if err != nil || info.Regarding == nil || info.Regarding.Entity != ent || info.Regarding.ID != r.ID {
			t.Fatalf("after SetRegarding %s: %+v %v", ent, info.Regarding, err)
		}
	}
	if err := alice.SetRegarding(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if info, _ := alice.Activity(ctx, id); info.Regarding != nil {
		t.Errorf("cleared regarding is %+v", info.Regarding)
	}
	if err := alice.SetRegarding(ctx, id, &agent.RecordRef{Entity: "invoice", ID: string(id)}); KindOf(err) != KindBadRequest {
		t.Errorf("regarding an invoice: %v, want bad request", err)
	}

	// Bob may read alice's email but not change or delete it; the CRM's
	// own words come through.
	if _, err := bob.Activity(ctx, id); err != nil {
		t.Fatalf("bob reading alice's email: %v", err)
	}
	err = bob.DeleteActivity(ctx, id)
	var e *Error
	if !errors.Is(err, ErrForbidden) || !errors.As(err, &e) || e.Message == "" || e.Status != 403 || e.Temporary() {
		t.Fatalf("bob deleting alice's email: %v; want permanent 403 with the CRM's message", err)
	}
	if _, err := alice.Activity(ctx, id); err != nil {
		t.Fatalf("alice's email must survive bob's delete: %v", err)
	}
	// A delete names the version read: a change in between (a
	// reassignment, here a new regarding record) stops it.
	read, err := alice.Activity(ctx, id)
	if err != nil || read.ETag == "" {
		t.Fatalf("reading the version: %+v, %v", read, err)
	}
	if err := alice.SetRegarding(ctx, id, &agent.RecordRef{Entity: "account", ID: localcrm.DemoID("account", "Contoso Ltd")}); err != nil {
		t.Fatal(err)
	}
	if err := alice.DeleteActivityIf(ctx, id, read.ETag); KindOf(err) != KindConflict {
		t.Fatalf("deleting a version changed since it was read: %v, want a conflict", err)
	}
	if read, err = alice.Activity(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := alice.DeleteActivityIf(ctx, id, read.ETag); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Activity(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if err := alice.DeleteActivity(ctx, id); err != nil {
		t.Errorf("deleting what is already gone: %v, want nil", err)
	}
	if err := alice.DeleteActivity(ctx, "not-a-guid"); KindOf(err) != KindBadRequest {
		t.Errorf("bad ID: %v, want bad request before any request", err)
	}
}

func TestSearch(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	word := strings.Fields(contact.name)[0]
	got, err := c.Search(ctx, strings.ToLower(word), 5)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got {
		if r.ID == contact.id && r.Entity == "contact" && r.Name == contact.name {
			found = true
		}
		if r.Name == "" || !IsGUID(r.ID) {
			t.Errorf("search result %+v lacks a name or ID", r)
		}
	}
	if !found {
		t.Errorf("search %q = %v; want contact %s", word, got, contact.name)
	}
	if got, err := c.Search(ctx, "O'Brien & Co (%) +", 5); err != nil {
		t.Errorf("search with quotes and reserved characters: %v", err)
	} else if len(got) != 0 {
		t.Errorf("nonsense search found %v", got)
	}
	if got, err := c.Search(ctx, "  ", 5); err != nil || got != nil {
		t.Errorf("blank search = %v, %v; want nothing and no request", got, err)
	}
}

func TestPagingAcrossPages(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	me, _ := c.WhoAmI(ctx)
	var ids []ActivityID
	for i := range 25 {
		a, _, err := c.CreateEmail(ctx, Email{MessageID: fmt.Sprintf("page-%02d@test.example", i), Subject: "paging"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	before := countHits(f, "GET", "/emails")
	got, err := c.OwnedActivities(ctx, me.UserID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 25 {
		t.Fatalf("OwnedActivities over pages of 10 = %d rows, want 25", len(got))
	}
	if pages := countHits(f, "GET", "/emails") - before; pages != 3 {
		t.Errorf("25 rows at 10 a page took %d requests, want 3", pages)
	}
	seen := map[ActivityID]bool{}
	for _, a := range got {
		if seen[a.ID] {
			t.Errorf("row %s came twice across pages", a.ID)
		}
		seen[a.ID] = true
	}
	// Reconciliation by ID: 60 IDs (two URL chunks), 5 of them unknown.
	query := append([]ActivityID(nil), ids...)
	for i := range 35 {
		query = append(query, ActivityID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i)))
	}
	infos, err := c.Activities(ctx, query, 7)
	if err != nil || len(infos) != 25 {
		t.Fatalf("Activities = %d rows, %v; want the 25 that exist", len(infos), err)
	}
}

// TestCreateEmailClientIDIsIdempotent: a create retried after its answer
// was lost finds the record its first attempt made, by the activity ID
// derived from the durable idempotency key.
func TestCreateEmailClientIDIsIdempotent(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	const id = "7d3e9a6b-2c55-4f0e-8c1d-0b8e2a4451c9"
	first, created, err := c.CreateEmail(ctx, Email{ID: id, MessageID: "<idem-1@test.example>", Subject: "first"})
	if err != nil || !created || string(first.ID) != id {
		t.Fatalf("first create = %+v %v %v", first, created, err)
	}
	// The same action again, as if the Message-ID lookup had raced: the
	// POST gets 412 and the client returns the record it made before,
	// which is its own (Created).
	again, created, err := c.CreateEmail(ctx, Email{ID: id, MessageID: "<idem-2@test.example>", Subject: "retry"})
	if err != nil || !created || again.ID != first.ID || again.Open {
		t.Fatalf("retried create = %+v %v %v; want the first record", again, created, err)
	}
	if _, _, err := c.CreateEmail(ctx, Email{ID: "not-a-guid", MessageID: "<idem-3@test.example>"}); KindOf(err) != KindBadRequest {
		t.Errorf("bad client ID: %v", err)
	}
}
