package webapi_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestPaging(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	for i := 0; i < 11; i++ {
		e.CreateEmail(alice, map[string]any{"subject": fmt.Sprintf("Paging %02d", i), "messageid": fmt.Sprintf("<p%d@x.example>", i)})
		e.Clock.Advance(1e9)
	}
	next := e.API + "emails?$select=subject&$filter=startswith(subject,'paging')&$orderby=subject desc&$count=true"
	var got []string
	pages := 0
	for next != "" {
		r := e.Req("GET", next, alice, nil, "Prefer", "odata.maxpagesize=4")
		if r.Status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.Status, r.Raw)
		}
		if r.Header.Get("Preference-Applied") != "odata.maxpagesize=4" {
			t.Fatalf("Preference-Applied %q", r.Header.Get("Preference-Applied"))
		}
		if pages == 0 && r.Body["@odata.count"] != float64(11) {
			t.Fatalf("count: %v", r.Body["@odata.count"])
		}
		for _, v := range r.Values() {
			got = append(got, v["subject"].(string))
		}
		next = r.Str("@odata.nextLink")
		if next != "" && (!strings.HasPrefix(next, e.API+"emails?") || !strings.Contains(next, "$skiptoken=")) {
			t.Fatalf("nextLink %q", next)
		}
		pages++
		if pages == 2 {
			// A row added mid-way does not shift later pages (keyset paging).
			e.CreateEmail(alice, map[string]any{"subject": "Paging 99"})
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 || len(got) != 11 {
		t.Fatalf("%d pages, %d rows: %v", pages, len(got), got)
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] > got[j] }) {
		t.Fatalf("not in descending order: %v", got)
	}
	// $top without maxpagesize limits the total and gives no nextLink.
	r := e.Req("GET", "emails?$top=3&$orderby=createdon", alice, nil)
	if len(r.Values()) != 3 || r.Str("@odata.nextLink") != "" {
		t.Fatalf("$top: %s", r.Raw)
	}
	// A skiptoken from another query is refused.
	tok := strings.SplitN(e.Req("GET", "emails?$orderby=subject", alice, nil, "Prefer", "odata.maxpagesize=2").Str("@odata.nextLink"), "$skiptoken=", 2)[1]
	if r := e.Req("GET", "emails?$orderby=createdon&$skiptoken="+tok, alice, nil); r.Status != 400 {
		t.Fatalf("foreign skiptoken: %d", r.Status)
	}
}

// primaryNames are the primary name columns of the tables.
var primaryNames = map[string]string{
	"emails": "subject", "contacts": "fullname", "accounts": "name", "incidents": "title",
	"opportunities": "name", "systemusers": "fullname", "leads": "fullname",
}

func TestFilterQueries(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	e.CreateEmail(alice, map[string]any{"subject": "O'Brien quote", "directioncode": false, "messageid": "<a@x.example>",
		"regardingobjectid_contact_email@odata.bind": "/contacts(" + maria + ")"})
	e.CreateEmail(alice, map[string]any{"subject": "Weekly report", "directioncode": true})
	e.CreateEmail(bob, map[string]any{"subject": "Bike sensors", "directioncode": false, "prioritycode": 2})
	aliceID := e.UserID("alice@demo.local")

	tests := []struct {
		set, filter string
		aliases     string
		want        []string // primary names, in creation order
	}{
		{"emails", "subject eq 'o''brien QUOTE'", "", []string{"O'Brien quote"}},
		{"emails", "contains(subject,'BRIEN Q')", "", []string{"O'Brien quote"}},
		{"emails", "contains(subject,'r')", "", []string{"O'Brien quote", "Weekly report", "Bike sensors"}},
		{"emails", "startswith(subject,'bike') or endswith(subject,'report')", "", []string{"Weekly report", "Bike sensors"}},
		{"emails", "directioncode eq false and not (prioritycode eq 2)", "", []string{"O'Brien quote"}},
		{"emails", "_ownerid_value eq " + aliceID, "", []string{"O'Brien quote", "Weekly report"}},
		{"emails", "_ownerid_value eq '" + strings.ToUpper(aliceID) + "'", "", []string{"O'Brien quote", "Weekly report"}},
		{"emails", "_regardingobjectid_value eq @r", "&@r=" + maria, []string{"O'Brien quote"}},
		{"emails", "_regardingobjectid_value eq null", "", []string{"Weekly report", "Bike sensors"}},
		{"emails", "messageid ne null", "", []string{"O'Brien quote"}},
		{"emails", "@p1 ne null", "&@p1=messageid", []string{"O'Brien quote"}},
		{"emails", "prioritycode ge 2", "", []string{"Bike sensors"}},
		{"emails", "createdon gt 2000-01-01T00:00:00Z and createdon lt 2100-01-01", "", []string{"O'Brien quote", "Weekly report", "Bike sensors"}},
		{"contacts", "emailaddress1 eq 'MARIA.campbell@contoso.example' or emailaddress2 eq 'maria.campbell@contoso.example'", "", []string{"Maria Campbell"}},
		{"contacts", "emailaddress2 eq 'nancy.a@home.example'", "", []string{"Nancy Anderson"}},
		{"accounts", "contains(name,'works')", "", []string{"Adventure Works Cycles"}},
		{"incidents", "ticketnumber eq 'CAS-01003-D3M0C3'", "", []string{"Delivery arrived damaged"}},
		{"opportunities", "estimatedvalue gt 90000", "", []string{"250 laptops for the field team", "Bike fleet telemetry sensors"}},
		{"systemusers", "internalemailaddress eq 'carol@demo.local'", "", []string{"Carol Diaz"}},
	}
	for _, tc := range tests {
		t.Run(tc.set+" "+tc.filter, func(t *testing.T) {
			name := primaryNames[tc.set]
			filter := tc.filter
			if tc.set == "emails" {
				// The demo's outgoing email is not what these filters test.
				filter = "(" + filter + ") and " + crmtest.NotDemoEmails()
			}
			r := e.Req("GET", tc.set+"?$select="+name+"&$orderby=createdon&$filter="+url.QueryEscape(filter)+tc.aliases, alice, nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			var got []string
			for _, v := range r.Values() {
				got = append(got, fmt.Sprint(v[name]))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSelectOrderAndContext(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	carol := e.SignIn("carol@demo.local", "demo-carol")
	r := e.Req("GET", "accounts?$select=name,emailaddress1&$orderby=address1_city desc,name asc&$top=2", carol, nil)
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	if r.Str("@odata.context") != e.API+"$metadata#accounts(name,emailaddress1)" {
		t.Fatalf("context %q", r.Str("@odata.context"))
	}
	vals := r.Values()
	if len(vals) != 2 || vals[0]["name"] != "Wide World Importers" || vals[1]["name"] != "Contoso Ltd" {
		t.Fatalf("order: %s", r.Raw)
	}
	if _, ok := vals[0]["telephone1"]; ok {
		t.Fatal("unselected column returned")
	}
	if vals[0]["accountid"] != localcrm.DemoID("account", "Wide World Importers") || vals[0]["@odata.etag"] == nil {
		t.Fatalf("key and etag always returned: %v", vals[0])
	}
	// The raw JSON lists @odata.etag first, as Dataverse does.
	if !strings.Contains(string(r.Raw), `"value":[{"@odata.etag":`) {
		t.Fatalf("key order: %s", r.Raw)
	}
	// Service document and metadata.
	if r := e.Req("GET", "", carol, nil); len(r.Values()) < 6 {
		t.Fatalf("service document: %s", r.Raw)
	}
	if r := e.Req("GET", "$metadata", carol, nil); r.Status != 200 || !strings.Contains(string(r.Raw), `<EntitySet Name="emails"`) {
		t.Fatalf("metadata: %d", r.Status)
	}
}
