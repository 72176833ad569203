package webapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

const annotationsAll = `odata.include-annotations="*"`

func TestEmailLifecycle(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	aliceID := e.UserID("alice@demo.local")

	r := e.Req("POST", "emails", alice, map[string]any{
		"subject": "Re: laptop quote", "description": "<p>Thanks</p>", "directioncode": false,
		"messageid": "<CAF123@mail.contoso.example>",
		"regardingobjectid_contact_email@odata.bind": "/contacts(" + maria + ")",
		"email_activity_parties": []any{
			map[string]any{"addressused": "maria.campbell@contoso.example", "participationtypemask": 1},
			map[string]any{"partyid_contact@odata.bind": "/contacts(" + maria + ")", "participationtypemask": 2},
			map[string]any{"partyid_systemuser@odata.bind": "systemusers(" + aliceID + ")", "participationtypemask": 2},
			map[string]any{"addressused": "someone@unknown.example", "participationtypemask": 3},
		},
	})
	if r.Status != http.StatusNoContent {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	loc := r.Header.Get("OData-EntityId")
	if !strings.HasPrefix(loc, e.API+"emails(") {
		t.Fatalf("OData-EntityId %q", loc)
	}
	id := crmtest.IDFromEntityID(t, loc)

	r = e.Req("GET", "emails("+id+")?$select=subject,messageid,_regardingobjectid_value,_ownerid_value,sender,createdon"+
		"&$expand=email_activity_parties($select=addressused,participationtypemask,_partyid_value)", alice, nil,
		"Prefer", annotationsAll)
	if r.Status != 200 {
		t.Fatalf("get: %d %s", r.Status, r.Raw)
	}
	if r.Str("_regardingobjectid_value") != maria ||
		r.Str("_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname") != "contact" ||
		r.Str("_regardingobjectid_value@OData.Community.Display.V1.FormattedValue") != "Maria Campbell" ||
		r.Str("_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty") != "regardingobjectid_contact_email" {
		t.Fatalf("regarding: %s", r.Raw)
	}
	if r.Str("_ownerid_value") != aliceID || r.Str("activityid") != id || r.Str("sender") != "maria.campbell@contoso.example" {
		t.Fatalf("owner/key/sender: %s", r.Raw)
	}
	if !strings.HasPrefix(r.Str("@odata.etag"), `W/"`) || !strings.HasSuffix(r.Str("createdon"), "Z") {
		t.Fatalf("etag/createdon: %s", r.Raw)
	}
	if r.Header.Get("Preference-Applied") != annotationsAll {
		t.Fatalf("Preference-Applied %q", r.Header.Get("Preference-Applied"))
	}
	parties, _ := r.Body["email_activity_parties"].([]any)
	if len(parties) != 4 {
		t.Fatalf("parties: %s", r.Raw)
	}
	p0, p1, p3 := parties[0].(map[string]any), parties[1].(map[string]any), parties[3].(map[string]any)
	if p0["_partyid_value"] != nil || p0["addressused"] != "maria.campbell@contoso.example" || p0["participationtypemask"] != float64(1) {
		t.Fatalf("unresolved sender party: %v", p0)
	}
	if p1["_partyid_value"] != maria || p1["_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != "contact" ||
		p1["addressused"] != "maria.campbell@contoso.example" || p1["participationtypemask"] != float64(2) || p1["activitypartyid"] == nil {
		t.Fatalf("contact party: %v", p1)
	}
	if p3["_partyid_value"] != nil || p3["addressused"] != "someone@unknown.example" {
		t.Fatalf("unresolved party: %v", p3)
	}

	// Without the Prefer header there are no annotations.
	r = e.Req("GET", "emails("+id+")?$select=_regardingobjectid_value", alice, nil)
	if _, ok := r.Body["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]; ok {
		t.Fatalf("annotation without Prefer: %s", r.Raw)
	}

	// Bob may read alice's email but not change or delete it.
	bob := e.SignIn("bob@demo.local", "demo-bob")
	if r := e.Req("GET", "emails("+id+")", bob, nil); r.Status != 200 {
		t.Fatalf("bob GET: %d", r.Status)
	}
	r = e.Req("PATCH", "emails("+id+")", bob, map[string]any{"subject": "hijack"})
	if r.Status != http.StatusForbidden || r.ErrCode() != "0x80040220" || !strings.Contains(r.ErrMessage(), "prvWriteActivity") {
		t.Fatalf("bob PATCH: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "emails("+id+")", bob, nil); r.Status != http.StatusForbidden || r.ErrCode() != "0x80040220" {
		t.Fatalf("bob DELETE: %d %s", r.Status, r.Raw)
	}
	access := e.Req("GET", "systemusers("+e.UserID("bob@demo.local")+")/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={'@odata.id':'emails("+id+")'}", bob, nil)
	if access.Status != 200 || access.Str("AccessRights") != "ReadAccess" {
		t.Fatalf("bob's access: %d %s", access.Status, access.Raw)
	}
	access = e.Req("GET", "systemusers("+aliceID+")/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)?@tid={'@odata.id':'emails("+id+")'}", bob, nil)
	if !strings.Contains(access.Str("AccessRights"), "DeleteAccess") || !strings.Contains(access.Str("AccessRights"), "WriteAccess") {
		t.Fatalf("alice's access: %s", access.Raw)
	}

	// Alice re-points the email at an account, then clears it.
	etag := e.Req("GET", "emails("+id+")?$select=subject", alice, nil).Str("@odata.etag")
	r = e.Req("PATCH", "emails("+id+")", alice, map[string]any{"regardingobjectid_account_email@odata.bind": "/accounts(" + contoso + ")"},
		"If-Match", etag)
	if r.Status != http.StatusNoContent {
		t.Fatalf("PATCH regarding: %d %s", r.Status, r.Raw)
	}
	r = e.Req("PATCH", "emails("+id+")", alice, map[string]any{"subject": "stale"}, "If-Match", etag)
	if r.Status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", r.Status, r.Raw)
	}
	r = e.Req("PATCH", "emails("+id+")", alice, map[string]any{"regardingobjectid_account_email@odata.bind": nil},
		"Prefer", "return=representation")
	if r.Status != 200 || r.Body["_regardingobjectid_value"] != nil || r.Header.Get("Preference-Applied") != "return=representation" {
		t.Fatalf("clear regarding: %d %s", r.Status, r.Raw)
	}
	// Completed emails keep only regarding, owner and state writable.
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"statecode": 1, "statuscode": 4}); r.Status != 204 {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"subject": "late edit"}); r.Status != 400 {
		t.Fatalf("edit completed email: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"regardingobjectid_contact_email@odata.bind": "/contacts(" + maria + ")"}); r.Status != 204 {
		t.Fatalf("regarding on completed email: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "emails("+id+")", alice, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "emails("+id+")", alice, nil); r.Status != http.StatusNotFound || r.ErrCode() != "0x80040217" {
		t.Fatalf("second delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+id+")/email_activity_parties", alice, nil); r.Status != 404 {
		t.Fatalf("parties of deleted email: %d", r.Status)
	}
}

func TestCreateWithRepresentation(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	opp := localcrm.DemoID("opportunity", "250 laptops for the field team")
	r := e.Req("POST", "emails?$select=subject,directioncode,statecode,statuscode,_regardingobjectid_value", alice,
		map[string]any{"subject": "Kick-off", "regardingobjectid_opportunity@odata.bind": e.API + "opportunities(" + opp + ")"},
		"Prefer", "return=representation")
	if r.Status != http.StatusCreated || r.Header.Get("Preference-Applied") != "return=representation" {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if r.Header.Get("OData-EntityId") != "" {
		t.Fatal("OData-EntityId sent with return=representation")
	}
	if r.Str("subject") != "Kick-off" || r.Body["directioncode"] != true || r.Body["statecode"] != float64(0) ||
		r.Body["statuscode"] != float64(1) || r.Str("_regardingobjectid_value") != opp || r.Str("activityid") == "" {
		t.Fatalf("Body: %s", r.Raw)
	}
	if !strings.HasSuffix(r.Str("@odata.context"), "$metadata#emails(subject,directioncode,statecode,statuscode,_regardingobjectid_value)/$entity") {
		t.Fatalf("context %q", r.Str("@odata.context"))
	}
}

func TestUpsertAndConditions(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	id := "5d0e4f6a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	tests := []struct {
		name    string
		headers []string
		Status  int
	}{
		{"If-Match * on missing", []string{"If-Match", "*"}, http.StatusNotFound},
		{"upsert creates", nil, http.StatusNoContent},
		{"If-None-Match * on existing", []string{"If-None-Match", "*"}, http.StatusPreconditionFailed},
		{"If-Match * on existing", []string{"If-Match", "*"}, http.StatusNoContent},
		{"etag mismatch", []string{"If-Match", `W/"1"`}, http.StatusPreconditionFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Req("PATCH", "contacts("+id+")", alice, map[string]any{"firstname": "Ana", "lastname": "Silva"}, tc.headers...)
			if r.Status != tc.Status {
				t.Fatalf("got %d, want %d: %s", r.Status, tc.Status, r.Raw)
			}
		})
	}
	r := e.Req("GET", "contacts("+strings.ToUpper(id)+")?$select=fullname", alice, nil)
	if r.Status != 200 || r.Str("fullname") != "Ana Silva" || r.Str("contactid") != id {
		t.Fatalf("upserted contact: %d %s", r.Status, r.Raw)
	}
	if r2 := e.Req("GET", "contacts("+id+")", alice, nil, "If-None-Match", r.Str("@odata.etag")); r2.Status != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r2.Status)
	}
	// A client-chosen id that exists is a duplicate.
	if r := e.Req("POST", "contacts", alice, map[string]any{"contactid": id, "lastname": "X"}); r.Status != http.StatusPreconditionFailed {
		t.Fatalf("duplicate key: %d %s", r.Status, r.Raw)
	}
	// Bob may update a shared business record but not delete alice's.
	bob := e.SignIn("bob@demo.local", "demo-bob")
	if r := e.Req("PATCH", "contacts("+id+")", bob, map[string]any{"jobtitle": "CTO"}); r.Status != http.StatusNoContent {
		t.Fatalf("bob updates contact: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "contacts("+id+")", bob, nil); r.Status != http.StatusForbidden {
		t.Fatalf("bob deletes contact: %d %s", r.Status, r.Raw)
	}
	// Users are read-only.
	if r := e.Req("PATCH", "systemusers("+e.UserID("bob@demo.local")+")", bob, map[string]any{"fullname": "B"}); r.Status != http.StatusForbidden {
		t.Fatalf("PATCH systemuser: %d %s", r.Status, r.Raw)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, localcrm.Options{MaxBodyBytes: 4096})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	missing := "00000000-0000-0000-0000-0000000000aa"
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		Status  int
		inMsg   string
	}{
		{"malformed JSON", "POST", "emails", `{"subject": "x"`, nil, 400, "not valid JSON"},
		{"JSON array body", "POST", "emails", `[1,2]`, nil, 400, "must be a JSON object"},
		{"trailing data", "POST", "emails", `{"subject":"a"} {}`, nil, 400, "more than one"},
		{"unknown field", "POST", "emails", map[string]any{"subjekt": "x"}, nil, 400, "Could not find a property named 'subjekt' on type 'Microsoft.Dynamics.CRM.email'."},
		{"wrong JSON type", "POST", "emails", map[string]any{"subject": 5}, nil, 400, "Edm.String"},
		{"bool as string", "POST", "emails", map[string]any{"directioncode": "true"}, nil, 400, "Edm.Boolean"},
		{"subject too long", "POST", "emails", map[string]any{"subject": strings.Repeat("s", 801)}, nil, 400, "maximum allowed length of '800'"},
		{"messageid too long", "POST", "emails", map[string]any{"messageid": strings.Repeat("m", 321)}, nil, 400, "'messageid'"},
		{"invalid UTF-8 body", "POST", "emails", "{\"subject\":\"\xff\xfe\"}", nil, 400, "UTF-8"},
		{"oversized body", "POST", "emails", map[string]any{"description": strings.Repeat("x", 5000)}, nil, 413, "larger than"},
		{"text/plain body", "POST", "emails", `{}`, []string{"Content-Type", "text/plain"}, 415, "content type"},
		{"bind to missing record", "POST", "emails", map[string]any{"regardingobjectid_contact_email@odata.bind": "/contacts(" + missing + ")"}, nil, 404, "Does Not Exist"},
		{"bind to wrong table", "POST", "emails", map[string]any{"regardingobjectid_contact_email@odata.bind": "/accounts(" + localcrm.DemoID("account", "Contoso Ltd") + ")"}, nil, 400, "points at contact"},
		{"unknown nav bind", "POST", "emails", map[string]any{"foo@odata.bind": "/contacts(" + missing + ")"}, nil, 400, "undeclared property 'foo'"},
		{"malformed bind", "POST", "emails", map[string]any{"regardingobjectid_contact_email@odata.bind": "contacts/123"}, nil, 400, "/<entityset>(<guid>)"},
		{"lookup value written", "POST", "emails", map[string]any{"_ownerid_value": missing}, nil, 400, "read-only"},
		{"party without address", "POST", "emails", map[string]any{"email_activity_parties": []any{map[string]any{"participationtypemask": 2}}}, nil, 400, "addressused"},
		{"party bad mask", "POST", "emails", map[string]any{"email_activity_parties": []any{map[string]any{"participationtypemask": 9, "addressused": "a@b.example"}}}, nil, 400, "participationtypemask"},
		{"bad state pair", "POST", "emails", map[string]any{"statecode": 1, "statuscode": 1}, nil, 400, "statuscode"},
		{"bad GUID", "GET", "emails(not-a-guid)", nil, nil, 400, "not a GUID"},
		{"braced GUID", "GET", "emails({" + missing + "})", nil, nil, 400, "not a GUID"},
		{"missing record", "GET", "emails(" + missing + ")", nil, nil, 404, "email With Id = " + missing + " Does Not Exist"},
		{"unknown set", "GET", "emailz", nil, nil, 404, "Resource not found for the segment 'emailz'."},
		{"unknown option", "GET", "emails?$foo=1", nil, nil, 400, "'$foo' is not supported"},
		{"option case", "GET", "emails?$Select=subject", nil, nil, 400, "case-sensitive"},
		{"skip", "GET", "emails?$skip=10", nil, nil, 400, "$skip is not supported"},
		{"search", "GET", "emails?$search=x", nil, nil, 400, "$search is not supported"},
		{"format", "GET", "emails?$format=json", nil, nil, 400, "$format is not supported"},
		{"duplicate option", "GET", "emails?$top=1&$top=2", nil, nil, 400, "more than once"},
		{"bad top", "GET", "emails?$top=-1", nil, nil, 400, "$top"},
		{"unknown select", "GET", "emails?$select=nope", nil, nil, 400, "Could not find a property named 'nope'"},
		{"unknown orderby", "GET", "emails?$orderby=nope%20desc", nil, nil, 400, "'nope'"},
		{"bad filter", "GET", "emails?$filter=subject%20eq", nil, nil, 400, "$filter"},
		{"filter type mismatch", "GET", "emails?$filter=statecode%20eq%20'x'", nil, nil, 400, "incompatible types"},
		{"invalid UTF-8 in URL", "GET", "emails?$filter=subject%20eq%20%27%FF%27", nil, nil, 400, "UTF-8"},
		{"bad percent-encoding", "GET", "emails?$filter=%zz", nil, nil, 400, "percent-encoding"},
		{"bad skiptoken", "GET", "emails?$skiptoken=abc", nil, nil, 400, "$skiptoken"},
		{"wrong method", "PUT", "emails", map[string]any{}, nil, 405, "PUT"},
		{"wrong method on record", "POST", "emails(" + missing + ")", map[string]any{}, nil, 405, "POST"},
		{"options method", "OPTIONS", "emails", nil, nil, 405, "OPTIONS"},
		{"missing namespace", "GET", "systemusers(" + localcrm.DemoID("systemuser", "alice@demo.local") + ")/RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='prvSyncToOutlook')", nil, nil, 400, "Request message has unresolved parameters"},
		{"unknown bound op", "GET", "systemusers(" + localcrm.DemoID("systemuser", "alice@demo.local") + ")/Microsoft.Dynamics.CRM.Nope()", nil, nil, 404, "Resource not found"},
		{"batch without multipart", "POST", "$batch", `x`, nil, 400, "multipart/mixed with a boundary"},
		// A single property is read with $select; the client never reads
		// <set>(<id>)/<column>, so this server does not serve it.
		{"property path", "GET", "emails(" + missing + ")/subject", nil, nil, 404, "Resource not found for the segment 'subject'."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Req(tc.method, tc.path, alice, tc.body, tc.headers...)
			if r.Status != tc.Status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.Status, r.Raw)
			}
			if !strings.HasPrefix(r.ErrCode(), "0x") || !strings.Contains(r.ErrMessage(), tc.inMsg) {
				t.Fatalf("error %q %q, want message containing %q", r.ErrCode(), r.ErrMessage(), tc.inMsg)
			}
		})
	}
	// Nothing of the above left a record behind.
	if r := e.Req("GET", "emails?$count=true&$filter="+url.QueryEscape(crmtest.NotDemoEmails()), alice, nil); r.Body["@odata.count"] != float64(0) {
		t.Fatalf("bad requests created emails: %s", r.Raw)
	}
}

func TestPartiesAndReferences(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	paul := localcrm.DemoID("contact", "paul.cannon@northwind.example")
	caseID := localcrm.DemoID("incident", "CAS-01003-D3M0C3")
	id := e.CreateEmail(alice, map[string]any{"subject": "Damaged delivery"})
	r := e.Req("PUT", "emails("+id+")/email_activity_parties", alice, map[string]any{"value": []any{
		map[string]any{"addressused": "claims@insurer.example", "participationtypemask": 1},
		map[string]any{"partyid_contact@odata.bind": "/contacts(" + paul + ")", "participationtypemask": 2},
	}})
	if r.Status != 204 {
		t.Fatalf("PUT parties: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "emails("+id+")/email_activity_parties?$select=addressused", alice, nil)
	if vals := r.Values(); len(vals) != 2 || vals[0]["addressused"] != "claims@insurer.example" {
		t.Fatalf("parties: %s", r.Raw)
	}
	if r := e.Req("PUT", "emails("+id+")/regardingobjectid_incident_email/$ref", alice,
		map[string]any{"@odata.id": "incidents(" + caseID + ")"}); r.Status != 204 {
		t.Fatalf("PUT $ref: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+id+")?$select=_regardingobjectid_value", alice, nil); r.Str("_regardingobjectid_value") != caseID {
		t.Fatalf("regarding after $ref: %s", r.Raw)
	}
	if r := e.Req("DELETE", "emails("+id+")/regardingobjectid_incident_email/$ref", alice, nil); r.Status != 204 {
		t.Fatalf("DELETE $ref: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+id+")?$select=_regardingobjectid_value", alice, nil); r.Status != 200 || r.Body["_regardingobjectid_value"] != nil {
		t.Fatalf("regarding after clear: %d %s", r.Status, r.Raw)
	}
	// Owner assignment through both navigation property names.
	bobID := e.UserID("bob@demo.local")
	for _, nav := range []string{"ownerid", "ownerid_email"} {
		id := e.CreateEmail(alice, map[string]any{"subject": "for bob", nav + "@odata.bind": "/systemusers(" + bobID + ")"})
		if r := e.Req("GET", "emails("+id+")?$select=_ownerid_value,_createdby_value", alice, nil); r.Str("_ownerid_value") != bobID ||
			r.Str("_createdby_value") != e.UserID("alice@demo.local") {
			t.Fatalf("%s: %s", nav, r.Raw)
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, localcrm.Options{DataDir: t.TempDir()})
	tokens := []string{e.SignIn("alice@demo.local", "demo-alice"), e.SignIn("bob@demo.local", "demo-bob")}
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			token := tokens[g%2]
			for i := 0; i < 5; i++ {
				r := e.ReqNoFatal("POST", "emails", token, map[string]any{
					"subject": fmt.Sprintf("g%d-%d", g, i), "messageid": fmt.Sprintf("<g%d-%d@x.example>", g, i),
					"regardingobjectid_contact_email@odata.bind": "/contacts(" + maria + ")",
					"email_activity_parties":                     []any{map[string]any{"addressused": "a@b.example", "participationtypemask": 2}},
				})
				if r.Status != 204 {
					errs <- fmt.Sprintf("create: %d %s", r.Status, r.Raw)
					return
				}
				if r := e.ReqNoFatal("GET", "emails?$filter=_regardingobjectid_value eq "+maria+"&$expand=email_activity_parties", token, nil); r.Status != 200 {
					errs <- fmt.Sprintf("list: %d %s", r.Status, r.Raw)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r := e.Req("GET", "emails?$count=true&$select=activityid&$filter="+url.QueryEscape(crmtest.NotDemoEmails()), tokens[0], nil); r.Body["@odata.count"] != float64(40) {
		t.Fatalf("count: %v", r.Body["@odata.count"])
	}
}

// TestMessageIDFilter: a messageid filter is answered from the index
// (the fast path) with the same rows the full filter gives: ASCII case
// ignored, the other and-ed terms still applied, "or" not short-cut.
func TestMessageIDFilter(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	tok := e.SignIn("alice@demo.local", "demo-alice")
	e.CreateEmail(tok, map[string]any{"subject": "fast", "messageid": "<Fast@Path.example>"})
	e.CreateEmail(tok, map[string]any{"subject": "other", "messageid": "<other@path.example>"})
	for _, tt := range []struct {
		filter string
		want   int
	}{
		{"messageid eq '<Fast@Path.example>'", 1},
		{"messageid eq '<fast@path.example>'", 1},
		{"'<FAST@PATH.EXAMPLE>' eq messageid", 1},
		{"messageid eq '<fast@path.example>' and subject eq 'nope'", 0},
		{"messageid eq '<fast@path.example>' or subject eq 'other'", 2},
		{"messageid eq '<missing@path.example>'", 0},
	} {
		r := e.Req("GET", "emails?$select=subject&$filter="+url.QueryEscape(tt.filter), tok, nil)
		if got := len(r.Values()); got != tt.want {
			t.Errorf("%s: %d rows, want %d", tt.filter, got, tt.want)
		}
	}
}

// TestAddressFilterFromIndex checks that a filter on address columns,
// answered from the address indexes, finds exactly what reading the whole
// table finds: the same filter or-ed with a term that never matches is
// answered the slow way.
func TestAddressFilterFromIndex(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	for i, c := range []map[string]any{
		{"lastname": "One", "emailaddress1": "shared@example.com"},
		{"lastname": "Two", "emailaddress2": "SHARED@Example.com"},
		{"lastname": "Three", "emailaddress3": "shared@example.com", "emailaddress1": "other@example.com"},
		{"lastname": "Four", "emailaddress1": "ÅSA@example.se"},
		{"lastname": "Five", "emailaddress1": "shared@example.com.evil"},
		{"lastname": "Six", "emailaddress1": "shared@example.com", "statecode": 1},
	} {
		if r := e.Req("POST", "contacts", alice, c); r.Status != 204 {
			t.Fatalf("contact %d: %d %s", i, r.Status, r.Raw)
		}
	}
	names := func(filter string) []string {
		t.Helper()
		r := e.Req("GET", "contacts?$select=lastname&$orderby=createdon&$filter="+url.QueryEscape(filter), alice, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", filter, r.Status, r.Raw)
		}
		var out []string
		for _, v := range r.Values() {
			out = append(out, fmt.Sprint(v["lastname"]))
		}
		return out
	}
	const never = " or contains(lastname,'never-a-name')"
	for _, tc := range []struct {
		filter string
		want   string
	}{
		{"emailaddress1 eq 'shared@example.com' or emailaddress2 eq 'shared@example.com' or emailaddress3 eq 'shared@example.com'", "One Two Three Six"},
		{"(emailaddress1 eq 'Shared@Example.COM' or emailaddress2 eq 'shared@example.com') and statecode eq 0", "One Two"},
		{"emailaddress1 eq 'åsa@example.se'", "Four"},
		{"emailaddress2 eq 'other@example.com'", ""},
		{"emailaddress1 eq 'other@example.com' or emailaddress1 eq 'åsa@EXAMPLE.se'", "Three Four"},
	} {
		fast := strings.Join(names(tc.filter), " ")
		slow := strings.Join(names("("+tc.filter+")"+never), " ")
		if fast != tc.want || slow != tc.want {
			t.Errorf("%s: from the index %q, from the table %q, want %q", tc.filter, fast, slow, tc.want)
		}
	}
}
