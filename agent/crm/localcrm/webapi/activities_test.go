package webapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestAppointmentPartiesLifecycle(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	aliceID := e.UserID("alice@demo.local")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	id := "6f1d3c2a-8b4e-4d7a-9c1f-2e3d4c5b6a70"

	r := e.Req("POST", "appointments", alice, map[string]any{
		"activityid": id, "subject": "Roadmap review", "location": "Room 4",
		"scheduledstart": "2025-03-20T10:00:00Z", "scheduledend": "2025-03-20T11:00:00Z",
		"isalldayevent": false, "globalobjectid": "040000008200E00074C5B7101A82E008",
		"regardingobjectid_account_appointment@odata.bind": "/accounts(" + contoso + ")",
		"appointment_activity_parties": []any{
			map[string]any{"partyid_systemuser@odata.bind": "/systemusers(" + aliceID + ")", "participationtypemask": 7},
			map[string]any{"partyid_contact@odata.bind": "/contacts(" + maria + ")", "participationtypemask": 5},
			map[string]any{"addressused": "guest@unknown.example", "participationtypemask": 6},
		},
	})
	if r.Status != http.StatusNoContent || crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId")) != id {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	// A second create with the same client-chosen key is refused.
	r = e.Req("POST", "appointments", alice, map[string]any{"activityid": id, "subject": "again"})
	if r.Status != http.StatusPreconditionFailed || r.ErrCode() != "0x80040237" {
		t.Fatalf("duplicate key: %d %s", r.Status, r.Raw)
	}

	r = e.Req("GET", "appointments("+id+")?$select=subject,statecode,statuscode,_regardingobjectid_value"+
		"&$expand=appointment_activity_parties($select=participationtypemask,_partyid_value,addressused)", alice, nil,
		"Prefer", annotationsAll)
	if r.Status != 200 || r.Body["statecode"] != float64(3) || r.Body["statuscode"] != float64(5) || r.Str("_regardingobjectid_value") != contoso {
		t.Fatalf("get: %d %s", r.Status, r.Raw)
	}
	if r.Str("_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty") != "regardingobjectid_account_appointment" {
		t.Fatalf("regarding nav: %s", r.Raw)
	}
	parties, _ := r.Body["appointment_activity_parties"].([]any)
	if len(parties) != 3 {
		t.Fatalf("parties: %s", r.Raw)
	}
	p0, p2 := parties[0].(map[string]any), parties[2].(map[string]any)
	if p0["_partyid_value"] != aliceID || p0["participationtypemask"] != float64(7) ||
		p0["_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != "systemuser" {
		t.Fatalf("organizer: %v", p0)
	}
	if p2["_partyid_value"] != nil || p2["addressused"] != "guest@unknown.example" {
		t.Fatalf("unresolved attendee: %v", p2)
	}

	// A PATCH carrying the collection replaces the parties wholesale.
	r = e.Req("PATCH", "appointments("+id+")", alice, map[string]any{
		"subject": "Roadmap review (moved)",
		"appointment_activity_parties": []any{
			map[string]any{"partyid_systemuser@odata.bind": "/systemusers(" + aliceID + ")", "participationtypemask": 7},
			map[string]any{"partyid_account@odata.bind": "/accounts(" + contoso + ")", "participationtypemask": 6},
		},
	})
	if r.Status != http.StatusNoContent {
		t.Fatalf("patch: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "appointments("+id+")/appointment_activity_parties", alice, nil)
	if vals := r.Values(); len(vals) != 2 || vals[1]["_partyid_value"] != contoso || vals[1]["participationtypemask"] != float64(6) {
		t.Fatalf("parties after patch: %s", r.Raw)
	}

	// Masks and organizers are checked.
	for _, bad := range []map[string]any{
		{"addressused": "x@example.com", "participationtypemask": 2},
		{"partyid_contact@odata.bind": "/contacts(" + maria + ")", "participationtypemask": 7},
	} {
		r = e.Req("PATCH", "appointments("+id+")", alice, map[string]any{"appointment_activity_parties": []any{bad}})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("bad party %v: %d %s", bad, r.Status, r.Raw)
		}
	}
	r = e.Req("POST", "appointments", alice, map[string]any{"subject": "two organizers", "appointment_activity_parties": []any{
		map[string]any{"partyid_systemuser@odata.bind": "/systemusers(" + aliceID + ")", "participationtypemask": 7},
		map[string]any{"addressused": "a@example.com", "participationtypemask": 7},
	}})
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "one organizer") {
		t.Fatalf("two organizers: %d %s", r.Status, r.Raw)
	}

	// Only the owner changes an activity; completing it makes it read-only.
	bob := e.SignIn("bob@demo.local", "demo-bob")
	if r := e.Req("PATCH", "appointments("+id+")", bob, map[string]any{"subject": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("bob patch: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "appointments("+id+")", alice, map[string]any{"statecode": 1, "statuscode": 3}); r.Status != http.StatusNoContent {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "appointments("+id+")", alice, map[string]any{"location": "elsewhere"}); r.Status != http.StatusBadRequest {
		t.Fatalf("edit completed: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "appointments("+id+")", alice, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "appointments("+id+")", alice, nil); r.Status != http.StatusNotFound {
		t.Fatalf("after delete: %d", r.Status)
	}
}

func TestTaskAndDuplicateKeys(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	id := "0b7e2f4c-1d3a-4e5b-8c6d-7f8091a2b3c4"
	r := e.Req("POST", "tasks", alice, map[string]any{
		"activityid": id, "subject": "Follow up", "scheduledend": "2025-03-18T17:00:00Z", "percentcomplete": 10,
		"regardingobjectid_contact_task@odata.bind": "/contacts(" + localcrm.DemoID("contact", "maria.campbell@contoso.example") + ")",
	}, "Prefer", "return=representation")
	if r.Status != http.StatusCreated || r.Body["statecode"] != float64(0) || r.Body["statuscode"] != float64(2) {
		t.Fatalf("create task: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "tasks", alice, map[string]any{"activityid": id, "subject": "dup"}); r.Status != http.StatusPreconditionFailed || r.ErrCode() != "0x80040237" {
		t.Fatalf("duplicate task: %d %s", r.Status, r.Raw)
	}
	r = e.Req("PATCH", "tasks("+id+")", alice, map[string]any{"statecode": 1}, "Prefer", "return=representation")
	if r.Status != 200 || r.Body["statuscode"] != float64(5) || r.Str("actualend") == "" {
		t.Fatalf("complete task: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "tasks("+id+")", alice, map[string]any{"statuscode": 9}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad status: %d %s", r.Status, r.Raw)
	}
	// Contacts take a client-chosen key too, once.
	cid := "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	if r := e.Req("POST", "contacts", alice, map[string]any{"contactid": cid, "firstname": "Ada", "lastname": "Byron"}); r.Status != http.StatusNoContent {
		t.Fatalf("contact: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "contacts", alice, map[string]any{"contactid": cid, "lastname": "Again"}); r.Status != http.StatusPreconditionFailed || r.ErrCode() != "0x80040237" {
		t.Fatalf("duplicate contact: %d %s", r.Status, r.Raw)
	}
}

// fetch runs a FetchXML query on a set.
func fetch(e *crmtest.Env, token, set, xml string, headers ...string) crmtest.Response {
	e.T.Helper()
	return e.Req("GET", set+"?fetchXml="+url.QueryEscape(xml), token, nil, headers...)
}

func TestUserQueryOwnership(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	aliceID := e.UserID("alice@demo.local")

	r := e.Req("GET", "userqueries?$select=name,returnedtypecode,querytype,_ownerid_value&$orderby=name", alice, nil)
	vals := r.Values()
	if r.Status != 200 || len(vals) != 3 || vals[0]["name"] != "My Appointments" || vals[0]["returnedtypecode"] != "appointment" ||
		vals[0]["querytype"] != float64(256) || vals[0]["_ownerid_value"] != aliceID {
		t.Fatalf("alice's filters: %d %s", r.Status, r.Raw)
	}
	aliceView := vals[0]["userqueryid"].(string)
	if r := e.Req("GET", "userqueries("+aliceView+")", bob, nil); r.Status != http.StatusForbidden {
		t.Fatalf("bob reads alice's view: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "userqueries("+aliceView+")", bob, map[string]any{"name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("bob changes alice's view: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "userqueries("+aliceView+")", bob, nil); r.Status != http.StatusForbidden {
		t.Fatalf("bob deletes alice's view: %d %s", r.Status, r.Raw)
	}
	good := `<fetch><entity name="contact"><filter><condition attribute="jobtitle" operator="like" value="%Manager%"/></filter></entity></fetch>`
	r = e.Req("POST", "userqueries", alice, map[string]any{"name": "Managers", "returnedtypecode": "contact", "querytype": 256, "fetchxml": good})
	if r.Status != http.StatusNoContent {
		t.Fatalf("create view: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []map[string]any{
		{"name": "broken", "returnedtypecode": "contact", "fetchxml": "<fetch><entity name='contact'>"},
		{"name": "mismatch", "returnedtypecode": "task", "fetchxml": good},
		{"name": "unknown column", "returnedtypecode": "contact", "fetchxml": `<fetch><entity name="contact"><attribute name="nope"/></entity></fetch>`},
	} {
		if r := e.Req("POST", "userqueries", alice, bad); r.Status != http.StatusBadRequest {
			t.Fatalf("bad view %v: %d %s", bad["name"], r.Status, r.Raw)
		}
	}
	if r := e.Req("POST", "userqueries", alice, map[string]any{"name": "for bob", "returnedtypecode": "contact", "fetchxml": good,
		"ownerid@odata.bind": "/systemusers(" + e.UserID("bob@demo.local") + ")"}); r.Status != http.StatusForbidden {
		t.Fatalf("view for bob: %d %s", r.Status, r.Raw)
	}
	if n := len(e.Req("GET", "userqueries", bob, nil).Values()); n != 3 {
		t.Fatalf("bob sees %d views", n)
	}
	// System views are readable by all and read-only.
	r = e.Req("GET", "savedqueries?$select=name,fetchxml,returnedtypecode", bob, nil)
	if r.Status != 200 || len(r.Values()) != 1 || r.Values()[0]["name"] != "Contacts at Contoso" {
		t.Fatalf("saved queries: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "savedqueries("+localcrm.ContosoFilterID+")", alice, map[string]any{"name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("patch saved query: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "syncattributemappings", alice, map[string]any{"mappingname": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("create mapping: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "syncattributemappings?$filter=entityname eq 'contact' and attributecrmname eq 'telephone2'", alice, nil)
	if vals := r.Values(); len(vals) != 1 || vals[0]["attributeexchangename"] != "HomePhone" || vals[0]["syncdirection"] != float64(3) ||
		vals[0]["_syncattributemappingprofileid_value"] != localcrm.DefaultSyncProfileID {
		t.Fatalf("mapping: %s", r.Raw)
	}
}

// TestSeedFiltersForAlice runs alice's synchronization filters and the
// organization's Contoso filter and counts the demo records they select.
func TestSeedFiltersForAlice(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	views := e.Req("GET", "userqueries?$select=name,fetchxml,returnedtypecode", alice, nil).Values()
	want := map[string][]string{
		"My Outlook Contacts": {"Maria Campbell", "Thomas Andersen", "Yvonne McKay", "Rene Valdes", "Susan Burk"},
		"My Appointments": {"Contoso quarterly review", "Call with Fabrikam", "Kick-off with Northwind",
			"Adventure Works pricing workshop"},
		"My Tasks": {"Send the revised quote to Contoso", "Prepare the QBR slides"},
	}
	set := map[string]string{"contact": "contacts", "appointment": "appointments", "task": "tasks"}
	name := map[string]string{"contact": "fullname", "appointment": "subject", "task": "subject"}
	for _, v := range views {
		typ := v["returnedtypecode"].(string)
		r := fetch(e, alice, set[typ], v["fetchxml"].(string))
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", v["name"], r.Status, r.Raw)
		}
		got := map[string]bool{}
		for _, row := range r.Values() {
			got[row[name[typ]].(string)] = true
		}
		exp := want[v["name"].(string)]
		if len(got) != len(exp) || len(r.Values()) != len(exp) {
			t.Fatalf("%s selects %v, want %v", v["name"], got, exp)
		}
		for _, n := range exp {
			if !got[n] {
				t.Fatalf("%s misses %q: %v", v["name"], n, got)
			}
		}
	}
	saved := e.Req("GET", "savedqueries("+localcrm.ContosoFilterID+")?$select=fetchxml", alice, nil)
	r := fetch(e, alice, "contacts", saved.Str("fetchxml"))
	if r.Status != 200 || len(r.Values()) != 2 {
		t.Fatalf("Contacts at Contoso: %d %s", r.Status, r.Raw)
	}
}
