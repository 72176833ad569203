package webapi_test

import (
	"net/http"
	"testing"

	"crmsync/agent/crm/localcrm"
)

func TestFieldSecurity(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")

	// Reads: alice gets null everywhere, bob gets the value.
	for _, path := range []string{"contacts(" + maria + ")", "contacts(" + maria + ")?$select=telephone2,lastname"} {
		if r := e.Req("GET", path, alice, nil); r.Status != 200 || r.Body["telephone2"] != nil || r.Str("lastname") != "Campbell" {
			t.Fatalf("alice %s: %s", path, r.Raw)
		}
		if r := e.Req("GET", path, bob, nil); r.Str("telephone2") != "+1 425 555 0199" {
			t.Fatalf("bob %s: %s", path, r.Raw)
		}
	}
	// A filter on it sees null for alice, so it discloses nothing.
	if n := len(e.Req("GET", "contacts?$filter=telephone2 ne null", alice, nil).Values()); n != 0 {
		t.Fatalf("alice filters on telephone2: %d rows", n)
	}
	if n := len(e.Req("GET", "contacts?$filter=telephone2 ne null", bob, nil).Values()); n != 3 {
		t.Fatalf("bob filters on telephone2: %d rows", n)
	}
	x := `<fetch><entity name="contact"><attribute name="telephone2"/><filter><condition attribute="telephone2" operator="not-null"/></filter></entity></fetch>`
	if r := fetch(e, alice, "contacts", x); len(r.Values()) != 0 {
		t.Fatalf("alice fetch: %s", r.Raw)
	}
	if r := fetch(e, bob, "contacts", x); len(r.Values()) != 3 || r.Values()[0]["telephone2"] == nil {
		t.Fatalf("bob fetch: %s", r.Raw)
	}

	// Writes: alice's PATCH is refused whole; bob's works.
	r := e.Req("PATCH", "contacts("+maria+")", alice, map[string]any{"jobtitle": "Head of Purchasing", "telephone2": "+1 000"})
	if r.Status != http.StatusForbidden || r.ErrCode() != "0x8004F507" {
		t.Fatalf("alice patch: %d %s", r.Status, r.Raw)
	}
	if got := e.Req("GET", "contacts("+maria+")?$select=jobtitle,telephone2", bob, nil); got.Str("jobtitle") != "Purchasing Manager" || got.Str("telephone2") != "+1 425 555 0199" {
		t.Fatalf("after refused patch: %s", got.Raw)
	}
	r = e.Req("POST", "contacts", alice, map[string]any{"lastname": "Secret", "telephone2": "+1 111"})
	if r.Status != http.StatusForbidden || r.ErrCode() != "0x8004F502" {
		t.Fatalf("alice create: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "contacts", alice, map[string]any{"lastname": "Open", "telephone2": nil}); r.Status != http.StatusNoContent {
		t.Fatalf("alice create with null: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "contacts("+maria+")", bob, map[string]any{"telephone2": "+1 425 555 0100"}); r.Status != http.StatusNoContent {
		t.Fatalf("bob patch: %d %s", r.Status, r.Raw)
	}

	// Metadata: every column, telephone2 secured, stable ids.
	r = e.Req("GET", "EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,IsSecured,MetadataId", alice, nil)
	if r.Status != 200 || len(r.Values()) < 15 {
		t.Fatalf("attributes: %d %s", r.Status, r.Raw)
	}
	ids := map[string]string{}
	for _, v := range r.Values() {
		ids[v["LogicalName"].(string)] = v["MetadataId"].(string)
		if (v["LogicalName"] == "telephone2") != (v["IsSecured"] == true) {
			t.Fatalf("IsSecured: %v", v)
		}
	}
	if ids["telephone2"] != localcrm.AttributeMetadataID("contact", "telephone2") || ids["parentcustomerid"] == "" {
		t.Fatalf("ids: %v", ids)
	}
	r = e.Req("GET", "EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,IsSecured,MetadataId&$filter=IsSecured eq true", alice, nil)
	if vals := r.Values(); len(vals) != 1 || vals[0]["LogicalName"] != "telephone2" || len(vals[0]) != 4 {
		t.Fatalf("secured only: %s", r.Raw)
	}
	if r := e.Req("GET", "EntityDefinitions(LogicalName='nosuch')/Attributes", alice, nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown table: %d", r.Status)
	}

	// RetrievePrincipalAttributePrivileges for both users.
	fn := "/Microsoft.Dynamics.CRM.RetrievePrincipalAttributePrivileges()"
	r = e.Req("GET", "systemusers("+e.UserID("bob@demo.local")+")"+fn, bob, nil)
	privs, _ := r.Body["AttributePrivileges"].([]any)
	if r.Status != 200 || len(privs) != 1 {
		t.Fatalf("bob's privileges: %d %s", r.Status, r.Raw)
	}
	p := privs[0].(map[string]any)
	if p["AttributeId"] != ids["telephone2"] || p["CanRead"] != float64(4) || p["CanUpdate"] != float64(4) || p["CanCreate"] != float64(4) {
		t.Fatalf("bob's privilege: %v", p)
	}
	r = e.Req("GET", "systemusers("+e.UserID("alice@demo.local")+")"+fn, alice, nil)
	if privs, _ := r.Body["AttributePrivileges"].([]any); r.Status != 200 || len(privs) != 0 {
		t.Fatalf("alice's privileges: %d %s", r.Status, r.Raw)
	}
	// A system administrator reads and writes secured columns without a profile.
	if err := e.Srv.SetUserRole("alice@demo.local", localcrm.RoleSystemAdministrator); err != nil {
		t.Fatal(err)
	}
	if r := e.Req("GET", "contacts("+maria+")?$select=telephone2", alice, nil); r.Str("telephone2") != "+1 425 555 0100" {
		t.Fatalf("admin read: %s", r.Raw)
	}
	r = e.Req("GET", "systemusers("+e.UserID("alice@demo.local")+")"+fn, bob, nil)
	if privs, _ := r.Body["AttributePrivileges"].([]any); len(privs) != 1 {
		t.Fatalf("admin's privileges: %s", r.Raw)
	}
}
