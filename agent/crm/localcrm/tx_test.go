package localcrm_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func countEmails(e *crmtest.Env, token, subject string) float64 {
	e.T.Helper()
	r := e.Req("GET", "emails?$count=true&$select=subject&$filter=subject eq '"+subject+"'", token, nil)
	if r.Status != 200 {
		e.T.Fatalf("count: %d %s", r.Status, r.Raw)
	}
	n, _ := r.Body["@odata.count"].(float64)
	return n
}

func TestBeginTx(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	ctx := context.Background()

	// Two creates, then rollback: neither exists.
	txCtx, commit, rollback, err := e.Srv.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Inner(txCtx, "POST", "emails", alice, map[string]any{"subject": "rolled back"})
	if r.Status != 204 {
		t.Fatalf("first create: %d %s", r.Status, r.Raw)
	}
	first := crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
	// A read inside the transaction sees the first create.
	if r := e.Inner(txCtx, "GET", "emails("+first+")?$select=subject", alice, nil); r.Status != 200 || r.Str("subject") != "rolled back" {
		t.Fatalf("read in tx: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(txCtx, "POST", "emails", alice, map[string]any{"subject": "rolled back"}); r.Status != 204 {
		t.Fatalf("second create: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(txCtx, "GET", "emails?$count=true&$filter=subject eq 'rolled back'", alice, nil); r.Body["@odata.count"] != float64(2) {
		t.Fatalf("list in tx: %s", r.Raw)
	}
	rollback()
	rollback() // a second call does nothing
	if err := commit(); err == nil {
		t.Fatal("commit after rollback succeeded")
	}
	if n := countEmails(e, alice, "rolled back"); n != 0 {
		t.Fatalf("%v emails after rollback", n)
	}
	if r := e.Req("GET", "emails("+first+")", alice, nil); r.Status != 404 {
		t.Fatalf("first create after rollback: %d", r.Status)
	}

	// Two creates, a failing write in between, then commit: both exist.
	txCtx, commit, rollback, err = e.Srv.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rollback()
	if r := e.Inner(txCtx, "POST", "emails", alice, map[string]any{"subject": "committed"}); r.Status != 204 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(txCtx, "POST", "emails", alice, map[string]any{"subject": "committed", "senton": "2025-01-01T00:00:00Z"}); r.Status != 400 {
		t.Fatalf("refused create: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(txCtx, "PATCH", "emails(00000000-0000-0000-0000-000000000001)", alice,
		map[string]any{"subject": "committed", "regardingobjectid_contact_email@odata.bind": "/contacts(00000000-0000-0000-0000-0000000000aa)"}); r.Status != 404 {
		t.Fatalf("failing upsert: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(txCtx, "POST", "emails", alice, map[string]any{"subject": "committed"}); r.Status != 204 {
		t.Fatalf("create after a failure: %d %s", r.Status, r.Raw)
	}
	if _, _, _, err := e.Srv.BeginTx(txCtx); err == nil {
		t.Fatal("nested BeginTx succeeded")
	}
	// A request outside the transaction waits for it: the store has one
	// connection, and SQLite one writer.
	done := make(chan crmtest.Response, 1)
	go func() { done <- e.ReqNoFatal("GET", "emails?$count=true&$filter=subject eq 'committed'", alice, nil) }()
	select {
	case r := <-done:
		t.Fatalf("a request outside the transaction ran during it: %d %s", r.Status, r.Raw)
	case <-time.After(100 * time.Millisecond):
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Status != 200 || r.Body["@odata.count"] != float64(2) {
		t.Fatalf("waiting request: %d %s", r.Status, r.Raw)
	}
	if err := commit(); err == nil {
		t.Fatal("second commit succeeded")
	}
	if n := countEmails(e, alice, "committed"); n != 2 {
		t.Fatalf("%v emails after commit", n)
	}
}

func TestAPIHandler(t *testing.T) {
	e := newEnv(t, localcrm.Options{RateLimit: 2, RateWindow: time.Minute})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	ctx := context.Background()
	// The parts of a batch do not count against the request limit...
	for i := 0; i < 5; i++ {
		if r := e.Inner(ctx, "GET", "WhoAmI()", alice, nil); r.Status != 200 || r.Str("UserId") != e.UserID("alice@demo.local") {
			t.Fatalf("inner request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	// ...while requests to the server do.
	for i := 0; i < 2; i++ {
		if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != 200 {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", r.Status)
	}
	if r := e.Inner(ctx, "GET", "WhoAmI()", alice, nil); r.Status != 200 {
		t.Fatalf("inner request over the limit: %d %s", r.Status, r.Raw)
	}
	// Sign-in, routing and errors are the server's.
	if r := e.Inner(ctx, "GET", "WhoAmI()", "", nil); r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer authorization_uri=") {
		t.Fatalf("no token: %d %v", r.Status, r.Header)
	}
	if r := e.Inner(ctx, "GET", "emailz", alice, nil); r.Status != 404 || r.ErrMessage() != "Resource not found for the segment 'emailz'." {
		t.Fatalf("unknown set: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(ctx, "GET", e.TS.URL+"/oauth2/v2.0/token", alice, nil); r.Status != 404 {
		t.Fatalf("outside the Web API: %d %s", r.Status, r.Raw)
	}
	// A host-relative URL works, and links use the request's host.
	r := e.Inner(ctx, "POST", "/api/data/v9.2/contacts", alice, map[string]any{"lastname": "Inner"})
	if r.Status != 204 || !strings.HasPrefix(r.Header.Get("OData-EntityId"), e.API+"contacts(") {
		t.Fatalf("relative create: %d %v %s", r.Status, r.Header, r.Raw)
	}
	// URLs up to 64 KB are accepted inside a batch (32 KB outside).
	long := "contacts?$select=lastname&padding=" + strings.Repeat("x", 40<<10) // a custom option, ignored
	if r := e.Inner(ctx, "GET", long, alice, nil); r.Status != 200 {
		t.Fatalf("40 KB URL in a batch: %d %s", r.Status, r.Raw)
	}
	if r := e.Inner(ctx, "GET", "contacts?padding="+strings.Repeat("x", 70<<10), alice, nil); r.Status != http.StatusRequestURITooLong {
		t.Fatalf("70 KB URL in a batch: %d", r.Status)
	}
}
