package localcrm_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestSetSyncDirection(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	ctx := context.Background()
	// fullname is one-way (to Exchange): none and that way are allowed.
	if err := e.Srv.SetSyncDirection(ctx, "contact", "fullname", localcrm.SyncToCRM); !errors.Is(err, localcrm.ErrDirectionNotAllowed) {
		t.Fatalf("fullname to CRM: %v", err)
	}
	if err := e.Srv.SetSyncDirection(ctx, "contact", "fullname", localcrm.SyncBidirectional); !errors.Is(err, localcrm.ErrDirectionNotAllowed) {
		t.Fatalf("fullname both ways: %v", err)
	}
	if err := e.Srv.SetSyncDirection(ctx, "contact", "fullname", localcrm.SyncNone); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.SetSyncDirection(ctx, "task", "subject", localcrm.SyncToCRM); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.SetSyncDirection(ctx, "task", "subject", 7); !errors.Is(err, localcrm.ErrDirectionNotAllowed) {
		t.Fatalf("direction 7: %v", err)
	}
	if err := e.Srv.SetSyncDirection(ctx, "task", "nosuch", localcrm.SyncNone); !errors.Is(err, localcrm.ErrNotFound) {
		t.Fatalf("unknown field: %v", err)
	}
	alice := e.SignIn("alice@demo.local", "demo-alice")
	r := e.Req("GET", "syncattributemappings?$filter=entityname eq 'task' and attributecrmname eq 'subject'&$select=syncdirection,defaultsyncdirection,allowedsyncdirection", alice, nil)
	if v := r.Values(); len(v) != 1 || v[0]["syncdirection"] != float64(2) || v[0]["defaultsyncdirection"] != float64(3) || v[0]["allowedsyncdirection"] != float64(3) {
		t.Fatalf("task subject: %s", r.Raw)
	}
	r = e.Req("GET", "syncattributemappingprofiles", alice, nil)
	if v := r.Values(); len(v) != 1 || v[0]["name"] != "Default" || v[0]["issystem"] != true {
		t.Fatalf("profiles: %s", r.Raw)
	}
	if n := len(e.Req("GET", "syncattributemappings", alice, nil).Values()); n != 25 {
		t.Fatalf("%d mappings", n)
	}
}

func TestSavedAndUserQueries(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	ctx := context.Background()
	id := "3c0a6f0e-7a61-4c2b-9d55-0f1e2d3c4b5a"
	x := `<fetch><entity name="task"><filter><condition attribute="statecode" operator="eq" value="0"/></filter></entity></fetch>`
	if err := e.Srv.PutSavedQuery(ctx, id, "Open tasks", "task", x, localcrm.QueryTypeOutlookFilters, false); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.PutSavedQuery(ctx, id, "Open tasks", "contact", x, localcrm.QueryTypeOutlookFilters, true); err == nil {
		t.Fatal("a mismatched entity was accepted")
	}
	if err := e.Srv.PutSavedQuery(ctx, id, "Open tasks", "task", "<fetch>", 256, true); err == nil {
		t.Fatal("broken FetchXML was accepted")
	}
	bob := e.SignIn("bob@demo.local", "demo-bob")
	r := e.Req("GET", "savedqueries("+id+")?$select=name,statecode,returnedtypecode", bob, nil)
	if r.Status != 200 || r.Body["statecode"] != float64(1) || r.Str("returnedtypecode") != "task" {
		t.Fatalf("saved query: %d %s", r.Status, r.Raw)
	}
	if err := e.Srv.SetUserQueryActive(ctx, "bob@demo.local", "My Tasks", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.SetUserQueryActive(ctx, "bob@demo.local", "Nothing", false); !errors.Is(err, localcrm.ErrNotFound) {
		t.Fatalf("unknown view: %v", err)
	}
	r = e.Req("GET", "userqueries?$filter=statecode eq 1&$select=name", bob, nil)
	if v := r.Values(); len(v) != 1 || v[0]["name"] != "My Tasks" {
		t.Fatalf("inactive: %s", r.Raw)
	}
	// A user added later gets the default filters too.
	if _, err := e.Srv.AddUser("erin@demo.local", "demo-erin-1", "Erin Ito", true); err != nil {
		t.Fatal(err)
	}
	erin := e.SignIn("erin@demo.local", "demo-erin-1")
	if n := len(e.Req("GET", "userqueries", erin, nil).Values()); n != 3 {
		t.Fatalf("erin has %d filters", n)
	}
	// Erin's "My Tasks" selects nothing: erin owns no tasks.
	r = e.Req("GET", "userqueries?$filter=name eq 'My Tasks'&$select=fetchxml", erin, nil)
	got := e.Req("GET", "tasks?fetchXml="+url.QueryEscape(r.Values()[0]["fetchxml"].(string)), erin, nil)
	if got.Status != http.StatusOK || len(got.Values()) != 0 {
		t.Fatalf("erin's tasks: %d %s", got.Status, got.Raw)
	}
}

// TestSyncSeedIsIdempotent reseeds a persistent store: a filter the user
// deleted stays deleted, and nothing is duplicated.
func TestSyncSeedIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "crm")
	var before map[string]int
	for round := range 2 {
		srv, err := localcrm.New(localcrm.Options{DataDir: dir, PasswordIterations: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.SeedDemo(); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		e := &crmtest.Env{T: t, Srv: srv, TS: ts, API: ts.URL + "/api/data/v9.2/"}
		alice := e.SignIn("alice@demo.local", "demo-alice")
		counts := map[string]int{}
		for _, set := range []string{"appointments", "tasks", "userqueries", "savedqueries", "syncattributemappings"} {
			counts[set] = len(e.Req("GET", set, alice, nil).Values())
		}
		if round == 0 {
			r := e.Req("GET", "userqueries?$filter=name eq 'My Tasks'", alice, nil)
			if r := e.Req("DELETE", "userqueries("+r.Values()[0]["userqueryid"].(string)+")", alice, nil); r.Status != http.StatusNoContent {
				t.Fatalf("delete filter: %d %s", r.Status, r.Raw)
			}
			counts["userqueries"]--
			before = counts
		} else if len(counts) != len(before) || counts["appointments"] != 7 || counts["tasks"] != 5 {
			t.Fatalf("round 2: %v", counts)
		} else {
			for k, v := range before {
				if counts[k] != v {
					t.Fatalf("%s: %d then %d", k, v, counts[k])
				}
			}
		}
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
