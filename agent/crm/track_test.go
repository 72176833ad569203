package crm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// apiHits counts the Web API requests (not sign-in) since n hits.
func apiHits(f *fixture, from int) []hit {
	var out []hit
	for _, h := range f.hits()[from:] {
		if strings.Contains(h.path, "/api/data/") {
			out = append(out, h)
		}
	}
	return out
}

// TestAskOneBatch: many questions are one request; each answer carries
// the check, the resolved parties in order (the sender as a sender: a
// user or nobody), and for sent mail the existing activity; received
// mail learns of a copy from CheckIncomingEmail's Duplicate reason.
func TestAskOneBatch(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	tracked, _, err := c.CreateEmail(ctx, Email{MessageID: "<ask-tracked@test.example>", Subject: "old"})
	if err != nil {
		t.Fatal(err)
	}
	qs := []Question{
		{Headers: Headers{MessageID: "<ask-1@test.example>", Subject: "Quote", From: contact.email, To: []string{"alice@demo.local"}, Cc: []string{"x@unknown.example"}}},
		{Headers: Headers{MessageID: "<ask-2@test.example>", Subject: "Out", From: "alice@demo.local", To: []string{strings.ToUpper(contact.email)}}, Outgoing: true},
		{Headers: Headers{MessageID: "<ask-tracked@test.example>", Subject: "old", From: "spam@unknown.example", To: []string{"alice@demo.local"}}},
		{Headers: Headers{Subject: "no id"}},
	}
	before := len(f.hits())
	got, err := c.Ask(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if hs := apiHits(f, before); len(hs) != 1 || hs[0].method != "POST" || !strings.HasSuffix(hs[0].path, "/$batch") {
		t.Errorf("Ask sent %v; want one POST $batch", hs)
	}
	if a := got[0]; a.Err != nil || !a.Check.ShouldDeliver || a.Check.Reason != ReasonSenderMatch || len(a.Parties) != 3 ||
		a.Parties[0].Resolved() || a.Parties[1].Entity != "systemuser" || a.Parties[2].Resolved() || a.Existing != nil {
		t.Errorf("incoming from a contact = %+v; want the contact sender unresolved (from binds users and queues only)", a)
	}
	if a := got[1]; a.Err != nil || a.Check != (CheckResult{}) || a.Parties[1].ID != contact.id || a.Parties[1].Address != strings.ToUpper(contact.email) {
		t.Errorf("outgoing = %+v; want no check, recipient resolved with its address as given", a)
	}
	if a := got[2]; a.Err != nil || a.Check.Reason != ReasonDuplicate || a.Check.ShouldDeliver {
		t.Errorf("already tracked = %+v; want CheckIncomingEmail's Duplicate", a)
	}
	if tr, err := c.TrackEmails(ctx, []Email{{MessageID: "<ask-tracked@test.example>", Body: "x", From: Party{Address: "spam@unknown.example"}}}); err != nil ||
		tr[0].Err != nil || tr[0].Created || tr[0].Info.ID != tracked.ID {
		t.Errorf("tracking the duplicate = %+v, %v; want it linked to %s, not created", tr, err, tracked.ID)
	}
	if _, err := c.TrackEmails(ctx, []Email{{MessageID: "<ask-2@test.example>", From: Party{Address: "alice@demo.local"}, To: []Party{{Address: contact.email}}}}); err != nil {
		t.Fatal(err)
	}
	again, err := c.Ask(ctx, qs[1:2])
	if err != nil || again[0].Existing == nil {
		t.Errorf("sent mail tracked meanwhile: %+v, %v; want the existing activity", again, err)
	}
	if KindOf(got[3].Err) != KindBadRequest {
		t.Errorf("question without Message-ID: %v", got[3].Err)
	}
	// Remembered: resolving the same addresses again sends nothing.
	before = len(f.hits())
	if ps, err := c.ResolveParties(ctx, []string{strings.ToUpper(contact.email), "alice@demo.local", "x@unknown.example"}); err != nil || ps[0].ID != contact.id {
		t.Fatalf("ResolveParties = %+v, %v", ps, err)
	}
	if hs := apiHits(f, before); len(hs) != 0 {
		t.Errorf("ResolveParties after Ask sent %v; want nothing", hs)
	}
}

// TestLoneArrivalCostsTwoRequests: one Ask, then one track; the track's
// duplicate check and resolution come from what Ask learned.
func TestLoneArrivalCostsTwoRequests(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	h := Headers{MessageID: "<lone@test.example>", Subject: "Hello", From: contact.email, To: []string{"alice@demo.local"}}
	before := len(f.hits())
	ans, err := c.Ask(ctx, []Question{{Headers: h}})
	if err != nil || ans[0].Err != nil || !ans[0].Check.ShouldDeliver {
		t.Fatalf("Ask = %+v, %v", ans, err)
	}
	received := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	tr, err := c.TrackEmails(ctx, []Email{{MessageID: h.MessageID, Subject: h.Subject, Body: "hi",
		From: Party{Address: h.From}, To: []Party{{Address: h.To[0]}}, ReceivedAt: received}})
	if err != nil || tr[0].Err != nil || !tr[0].Created {
		t.Fatalf("TrackEmails = %+v, %v", tr, err)
	}
	if hs := apiHits(f, before); len(hs) != 2 {
		t.Errorf("a lone arrival took %d requests (%v), want 2", len(hs), hs)
	}
	// The activity shows when the mail arrived, and is completed.
	resp, err := c.do(ctx, request{op: "test", method: "GET", path: "emails(" + string(tr[0].Info.ID) + ")" + query("$select", "actualend,statecode,statuscode")})
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		ActualEnd string `json:"actualend"`
		State     int    `json:"statecode"`
		Status    int    `json:"statuscode"`
	}
	if err := decode("test", resp, &rec); err != nil {
		t.Fatal(err)
	}
	if at, err := time.Parse(time.RFC3339, rec.ActualEnd); err != nil || !at.Equal(received) || rec.State != 1 || rec.Status != 4 {
		t.Errorf("stored %+v; want actualend %s, completed/received", rec, received.UTC().Format(time.RFC3339))
	}
	// Tracked: "absent" is forgotten, so another track finds it.
	again, err := c.TrackEmails(ctx, []Email{{MessageID: h.MessageID, Subject: h.Subject}})
	if err != nil || again[0].Err != nil || again[0].Created || again[0].Info.ID != tr[0].Info.ID {
		t.Errorf("second track = %+v, %v; want the same activity, linked", again, err)
	}
}

// bodies records the JSON bodies the client sends inside batches.
func recordBodies(f *fixture) *bytes.Buffer {
	var mu sync.Mutex
	var buf bytes.Buffer
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/$batch") {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			buf.Write(b)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		return false
	})
	return &buf
}

// TestTrackEmailsManyInOneBatch: several emails go as one request; one
// the CRM holds is linked, a repeat within the call links to the first,
// an invalid one fails alone; no read-only column is ever sent.
func TestTrackEmailsManyInOneBatch(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	bob := f.bob()
	held, _, err := bob.CreateEmail(ctx, Email{MessageID: "<held@test.example>", Subject: "bob's"})
	if err != nil {
		t.Fatal(err)
	}
	contact := firstContact(t, f, c)
	sent := recordBodies(f)
	es := []Email{
		{MessageID: "<m1@test.example>", Subject: "one", From: Party{Address: "alice@demo.local"}, To: []Party{{Address: contact.email, Entity: "contact", ID: contact.id}}, Outgoing: true,
			Regarding: &agent.RecordRef{Entity: "contact", ID: contact.id}},
		{MessageID: "<m2@test.example>", Subject: "two", From: Party{Address: contact.email, Entity: "contact", ID: contact.id}},
		{MessageID: "<held@test.example>", Subject: "bob's"},
		{MessageID: "<m1@test.example>", Subject: "one again"},
		{ID: "nope", MessageID: "<m3@test.example>"},
	}
	before := len(f.hits())
	got, err := c.TrackEmails(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	// One batch of duplicate checks, one batch of change sets.
	if hs := apiHits(f, before); len(hs) != 2 {
		t.Errorf("5 emails took %d requests, want 2: %v", len(hs), hs)
	}
	if !got[0].Created || !got[1].Created || got[0].Err != nil || got[1].Err != nil || got[0].Info.ID == got[1].Info.ID || !got[0].Info.Outgoing {
		t.Errorf("new emails = %+v / %+v", got[0], got[1])
	}
	if got[2].Created || got[2].Info.ID != held.ID || got[2].Err != nil {
		t.Errorf("bob's message = %+v; want linked to %s", got[2], held.ID)
	}
	if got[3].Created || got[3].Info.ID != got[0].Info.ID {
		t.Errorf("repeat within the call = %+v; want linked to the first", got[3])
	}
	if KindOf(got[4].Err) != KindBadRequest {
		t.Errorf("invalid ID: %v", got[4].Err)
	}
	for _, col := range []string{"inreplyto", "senton", "conversationindex"} {
		if strings.Contains(sent.String(), `"`+col+`"`) {
			t.Errorf("a batch sent the read-only column %s", col)
		}
	}
	if strings.Contains(sent.String(), `"partyid_contact@odata.bind":"/contacts(`+contact.id+`)","participationtypemask":1`) ||
		!strings.Contains(sent.String(), "PATCH $1 HTTP/1.1") {
		t.Errorf("sender bound to a contact, or no PATCH $1:\n%s", sent)
	}
}

// TestTrackRepairsOpenEmail: our earlier attempt left the email open (its
// answer lost); the retry finds it by ID, completes it, and owns it.
func TestTrackRepairsOpenEmail(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	const id = "5b0e3f4e-8a1c-4c55-9a7e-1f2d3c4b5a69"
	if _, err := c.do(ctx, request{op: "test", method: "POST", path: "emails",
		body: map[string]any{"activityid": id, "subject": "half", "messageid": "<half@test.example>", "directioncode": false}}); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Activity(ctx, id); err != nil || !info.Open || info.Outgoing {
		t.Fatalf("the half-made email = %+v, %v; want open, incoming", info, err)
	}
	// The duplicate check would find it; a retry whose check was answered
	// by Ask before the first attempt got through goes straight to create.
	c.memo.putMessage("<half@test.example>", nil)
	got, err := c.TrackEmails(ctx, []Email{{ID: id, MessageID: "<half@test.example>", Subject: "half"}})
	if err != nil || got[0].Err != nil || !got[0].Created || string(got[0].Info.ID) != id || got[0].Info.Open {
		t.Fatalf("retry = %+v, %v; want our record, completed", got, err)
	}
	if info, err := c.Activity(ctx, id); err != nil || info.Open {
		t.Errorf("after repair = %+v, %v; want completed", info, err)
	}
	// CompleteEmail is idempotent on a completed email's state.
	if err := c.CompleteEmail(ctx, id, false); err != nil {
		t.Errorf("CompleteEmail on a completed email: %v", err)
	}
}

// TestClearRegardingWithHint: knowing the current target, clearing needs
// no read; without it, the client reads first.
func TestClearRegardingWithHint(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	info, _, err := c.CreateEmail(ctx, Email{MessageID: "<clear@test.example>", Subject: "x", Regarding: &agent.RecordRef{Entity: "contact", ID: contact.id}})
	if err != nil {
		t.Fatal(err)
	}
	before := len(f.hits())
	if err := c.ClearRegarding(ctx, info.ID, "contact"); err != nil {
		t.Fatal(err)
	}
	if hs := apiHits(f, before); len(hs) != 1 || hs[0].method != "PATCH" {
		t.Errorf("clear with a hint sent %v; want one PATCH", hs)
	}
	if a, _ := c.Activity(ctx, info.ID); a.Regarding != nil {
		t.Errorf("regarding after clear = %+v", a.Regarding)
	}
	if err := c.ClearRegarding(ctx, info.ID, "invoice"); KindOf(err) != KindBadRequest {
		t.Errorf("unknown hint: %v", err)
	}
}

// TestSearchEscapesWildcardsAndSkipsMissingTables: % and _ match only
// themselves; plain Dataverse has no opportunities or incidents, which
// are skipped and not asked for again; one search is one request.
func TestSearchEscapesWildcardsAndSkipsMissingTables(t *testing.T) {
	f := newFixture(t, localcrm.Options{App: "none"})
	c := f.alice()
	ctx := ctxT(t)
	for _, q := range []string{"%", "_", "[a-z]%"} {
		if got, err := c.Search(ctx, q, 5); err != nil || len(got) != 0 {
			t.Errorf("Search(%q) = %v, %v; want nothing: wildcards must be literal", q, got, err)
		}
	}
	contact := firstContact(t, f, c)
	before := len(f.hits())
	got, err := c.Search(ctx, strings.Fields(contact.name)[0], 5)
	if err != nil || len(got) == 0 {
		t.Fatalf("search without the sales and service tables = %v, %v", got, err)
	}
	if hs := apiHits(f, before); len(hs) != 1 {
		t.Errorf("one search took %d requests, want 1", len(hs))
	}
	if !c.isMissing("opportunities") || !c.isMissing("incidents") || c.isMissing("contacts") {
		t.Errorf("missing tables not remembered: %v", c.missing)
	}
}

func TestLikeLiteral(t *testing.T) {
	for in, want := range map[string]string{"50% off": "50[%] off", "a_b": "a[_]b", "[x]": "[[]x]", "plain": "plain", "O'Brien": "O'Brien"} {
		if got := likeLiteral(in); got != want {
			t.Errorf("likeLiteral(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestThrottleSaysWhichLimit: the 429's code, hex or decimal, names the
// limit, and the user learns which and when crmsync retries.
func TestThrottleSaysWhichLimit(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxRetries = -1 })
	ctx := ctxT(t)
	for _, tc := range []struct {
		code  string
		limit Limit
		text  string
	}{
		{`"0x80072322"`, LimitRequests, "too many requests"},
		{`"-2147015903"`, LimitExecutionTime, "too much processing time"},
		{`-2147015898`, LimitConcurrency, "too many at once"},
		{`"0x80040220"`, LimitOther, "busy"},
	} {
		fail(f, 1, 429, map[string]string{"Content-Type": odataJSON, "Retry-After": "4"}, `{"error":{"code":`+tc.code+`,"message":"limit"}}`)
		_, err := c.WhoAmI(ctx)
		var e *Error
		if !errors.As(err, &e) || e.Limit != tc.limit || !strings.Contains(e.UserMessage(), tc.text) || !strings.Contains(e.UserMessage(), "retry in 4 seconds") {
			t.Errorf("code %s: %v (limit %v, %q)", tc.code, err, e.Limit, e.UserMessage())
		}
		c.mu.Lock()
		c.notBefore = time.Time{}
		c.mu.Unlock()
	}
	f.setOverride(nil)
}

// TestConcurrencyBounded: never more than MaxConcurrent requests in
// flight; above Dataverse's 52 the setting is capped.
func TestConcurrencyBounded(t *testing.T) {
	f := newFixture(t, localcrm.Options{RateLimit: 1 << 20})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxConcurrent = 3 })
	var cur, peak atomic.Int32
	f.setOverride(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/api/data/") {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			defer cur.Add(-1)
		}
		return false
	})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, err := c.WhoAmI(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.setOverride(nil)
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want at most 3 (and some)", p)
	}
	for in, want := range map[int]int{0: 16, 8: 8, 52: 52, 500: 52} {
		cl, _ := New(Config{URL: f.ts.URL, MaxConcurrent: in})
		if cap(cl.sem) != want {
			t.Errorf("MaxConcurrent %d gives %d slots, want %d", in, cap(cl.sem), want)
		}
	}
}

// TestPacingAgainstServer: against a server allowing 10 requests per 2 s
// that reports its budget, a drain of 60 requests keeps near the limit
// with at most two 429s.
func TestPacingAgainstServer(t *testing.T) {
	f := newFixture(t, localcrm.Options{RateLimit: 10, RateWindow: 2 * time.Second})
	c := f.client("alice@demo.local", "demo-alice", func(c *Config) { c.MaxRetries = 5; c.MaxRetryWait = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := len(f.hits())
	start := time.Now()
	const n = 60
	for i := range n {
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	took := time.Since(start)
	throttled := 0
	for _, h := range apiHits(f, before) {
		if h.status == 429 {
			throttled++
		}
	}
	rate := float64(n) / took.Seconds()
	t.Logf("%d requests in %v (%.2f/s, limit 5/s), %d 429s", n, took, rate, throttled)
	if throttled > 2 || rate < 3.5 {
		t.Errorf("%d requests took %v (%.2f/s) with %d 429s; want ≥ 3.5/s and at most 2", n, took, rate, throttled)
	}
	if c.pace.limit != 10 {
		t.Errorf("learned limit %d, want 10 (does the server send %s?)", c.pace.limit, hdrBurstRemaining)
	}
}

// TestMemoryBounded: the memory of Ask's answers keeps at most memoMax
// entries of each kind and forgets after two minutes.
func TestMemoryBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMemo(func() time.Time { return now })
	for i := range memoMax + 50 {
		m.putParty(fmt.Sprintf("a%d@x", i), Party{Entity: "contact", ID: "1"})
	}
	if m.addrs.order.Len() != memoMax {
		t.Errorf("%d addresses remembered, bound %d", m.addrs.order.Len(), memoMax)
	}
	if _, ok := m.party("a0@x"); ok {
		t.Error("the oldest address survived the bound")
	}
	if p, ok := m.party("A60@X"); !ok || p.Entity != "contact" || p.Address != "A60@X" {
		t.Errorf("party = %+v %v", p, ok)
	}
	m.putMessage("<a@x>", nil)
	if info, known := m.message("<A@x>"); !known || info != nil {
		t.Error("absent Message-ID not remembered")
	}
	now = now.Add(memoTTL)
	if _, known := m.message("<a@x>"); known {
		t.Error("remembered beyond two minutes")
	}
}

// TestAskSenderLookups: a sender is looked up among system users only
// (a sender binds a user or a queue), and not at all when its domain is
// outside the organisation's; the user, given as known, is never asked
// about. The track that follows asks nothing more.
func TestAskSenderLookups(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	aliceID, _ := f.crm.UserID("alice@demo.local")
	bobID, _ := f.crm.UserID("bob@demo.local")
	var bodies []string
	f.mu.Lock()
	f.override = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			f.mu.Lock()
			bodies = append(bodies, string(b))
			f.mu.Unlock()
		}
		return false
	}
	f.mu.Unlock()
	self := []Party{{Address: "alice@demo.local", Entity: "systemuser", ID: aliceID}}
	own := []string{"demo.local"}
	got, err := c.Ask(ctx, []Question{
		{Known: self, OwnDomains: own, Headers: Headers{MessageID: "<s-1@test.example>", From: "maria.campbell@contoso.example", To: []string{"alice@demo.local"}}},
		{Known: self, OwnDomains: own, Headers: Headers{MessageID: "<s-2@test.example>", From: "bob@demo.local", To: []string{"alice@demo.local"}}},
	})
	if err != nil || got[0].Err != nil || got[1].Err != nil {
		t.Fatalf("Ask = %+v, %v", got, err)
	}
	f.mu.Lock()
	asked := bodies[0]
	f.mu.Unlock()
	if strings.Contains(asked, "internalemailaddress%20eq%20'maria.campbell") {
		t.Errorf("the outside sender was looked up:\n%s", asked)
	}
	if strings.Contains(asked, "contacts?") || strings.Contains(asked, "accounts?") || strings.Contains(asked, "alice%40demo.local')") {
		t.Errorf("senders went to contacts/accounts, or the known user was asked about:\n%s", asked)
	}
	if p := got[1].Parties[0]; p.Entity != "systemuser" || !strings.EqualFold(p.ID, bobID) {
		t.Errorf("colleague sender = %+v, want system user %s", p, bobID)
	}
	if p := got[0].Parties; p[0].Resolved() || p[1].Entity != "systemuser" {
		t.Errorf("parties = %+v; want the outside sender unresolved and alice a system user", p)
	}
	before := len(f.hits())
	tr, err := c.TrackEmails(ctx, []Email{
		{MessageID: "<s-1@test.example>", Body: "x", From: Party{Address: "maria.campbell@contoso.example"}, To: []Party{{Address: "alice@demo.local"}}},
		{MessageID: "<s-2@test.example>", Body: "y", From: Party{Address: "bob@demo.local"}, To: []Party{{Address: "alice@demo.local"}}},
	})
	if err != nil || tr[0].Err != nil || tr[1].Err != nil || !tr[0].Created || !tr[1].Created {
		t.Fatalf("TrackEmails = %+v, %v", tr, err)
	}
	if hs := apiHits(f, before); len(hs) != 1 {
		t.Errorf("the track after Ask sent %d requests (%v), want 1", len(hs), hs)
	}
}
