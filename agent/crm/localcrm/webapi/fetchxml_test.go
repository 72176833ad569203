package webapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

// TestFetchXMLOperators runs each condition operator on the demo data. The
// test clock is 2025-03-14 09:30 UTC, the day the seed dates from.
func TestFetchXMLOperators(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	aliceID := e.UserID("alice@demo.local")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	count := func(set, entity, filter string, extra ...string) int {
		t.Helper()
		x := `<fetch><entity name="` + entity + `"><attribute name="` + map[string]string{"contact": "fullname"}[entity] + `"/>` +
			`<filter>` + filter + `</filter>` + strings.Join(extra, "") + `</entity></fetch>`
		if entity != "contact" {
			x = `<fetch><entity name="` + entity + `"><attribute name="subject"/><filter>` + filter + `</filter>` + strings.Join(extra, "") + `</entity></fetch>`
		}
		r := fetch(e, alice, set, x)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", filter, r.Status, r.Raw)
		}
		return len(r.Values())
	}
	cases := []struct {
		set, entity, filter string
		want                int
	}{
		{"contacts", "contact", `<condition attribute="lastname" operator="eq" value="campbell"/>`, 1},
		{"contacts", "contact", `<condition attribute="jobtitle" operator="ne" value="CFO"/>`, 7},
		{"contacts", "contact", `<condition attribute="lastname" operator="gt" value="M"/>`, 2},
		{"contacts", "contact", `<condition attribute="lastname" operator="ge" value="McKay"/>`, 2},
		{"contacts", "contact", `<condition attribute="lastname" operator="lt" value="B"/>`, 2},
		{"contacts", "contact", `<condition attribute="lastname" operator="le" value="Anderson"/>`, 2},
		{"contacts", "contact", `<condition attribute="mobilephone" operator="null"/>`, 7},
		{"contacts", "contact", `<condition attribute="mobilephone" operator="not-null"/>`, 1},
		{"contacts", "contact", `<condition attribute="emailaddress1" operator="like" value="%@contoso.example"/>`, 2},
		{"contacts", "contact", `<condition attribute="emailaddress1" operator="not-like" value="%contoso%"/>`, 6},
		{"contacts", "contact", `<condition attribute="lastname" operator="in"><value>Campbell</value><value>Burk</value></condition>`, 2},
		{"contacts", "contact", `<condition attribute="lastname" operator="not-in"><value>Campbell</value><value>Burk</value></condition>`, 6},
		{"contacts", "contact", `<condition attribute="ownerid" operator="eq-userid"/>`, 5},
		{"contacts", "contact", `<condition attribute="ownerid" operator="ne-userid"/>`, 3},
		{"contacts", "contact", `<condition attribute="ownerid" operator="eq" value="{` + strings.ToUpper(aliceID) + `}"/>`, 5},
		{"contacts", "contact", `<condition attribute="parentcustomerid" operator="eq" value="` + contoso + `"/>`, 2},
		{"contacts", "contact", `<condition attribute="statecode" operator="eq" value="0"/>`, 8},
		{"appointments", "appointment", `<condition attribute="isalldayevent" operator="eq" value="0"/>`, 7},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="on" value="2025-03-15"/>`, 2},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="on-or-after" value="2025-03-16"/>`, 3},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="on-or-before" value="2025-03-04"/>`, 2},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="tomorrow"/>`, 2},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="today"/>`, 0},
		{"tasks", "task", `<condition attribute="scheduledend" operator="yesterday"/>`, 0},
		{"tasks", "task", `<condition attribute="scheduledend" operator="last-x-days" value="3"/>`, 1},
		{"appointments", "appointment", `<condition attribute="scheduledend" operator="next-x-days" value="3"/>`, 4},
		{"appointments", "appointment", `<condition attribute="scheduledend" operator="olderthan-x-days" value="30"/>`, 1},
		{"appointments", "appointment", `<condition attribute="scheduledstart" operator="gt" value="2025-03-16T00:00:00Z"/>`, 3},
		{"tasks", "task", `<condition attribute="percentcomplete" operator="ge" value="40"/>`, 2},
		{"contacts", "contact", `<filter type="or"><condition attribute="lastname" operator="eq" value="Burk"/><condition attribute="lastname" operator="eq" value="Higa"/></filter>`, 2},
	}
	for _, c := range cases {
		if got := count(c.set, c.entity, c.filter); got != c.want {
			t.Errorf("%s: %d rows, want %d", c.filter, got, c.want)
		}
	}
	// Inner link: appointments where alice is a required attendee.
	link := `<link-entity name="activityparty" from="activityid" to="activityid" link-type="inner">` +
		`<filter><condition attribute="partyid" operator="eq-userid"/><condition attribute="participationtypemask" operator="in"><value>5</value><value>6</value></condition></filter></link-entity>`
	if got := count("appointments", "appointment", "", link); got != 1 {
		t.Errorf("inner link: %d, want 1", got)
	}
	organizer := `<link-entity name="activityparty" from="activityid" to="activityid"><filter><condition attribute="participationtypemask" operator="eq" value="7"/><condition attribute="partyid" operator="eq-userid"/></filter></link-entity>`
	if got := count("appointments", "appointment", "", organizer); got != 4 {
		t.Errorf("organizer link: %d, want 4", got)
	}

	// Chosen attributes come back as the Web API names them, with the key
	// and the ETag; ordering works.
	r := fetch(e, alice, "contacts", `<fetch><entity name="contact"><attribute name="lastname"/><attribute name="parentcustomerid"/>`+
		`<order attribute="lastname" descending="true"/><filter><condition attribute="ownerid" operator="eq-userid"/></filter></entity></fetch>`)
	vals := r.Values()
	if r.Status != 200 || len(vals) != 5 || vals[0]["lastname"] != "Valdes" || vals[0]["contactid"] == nil ||
		vals[0]["@odata.etag"] == nil || len(vals[0]) != 4 || !strings.HasSuffix(r.Str("@odata.context"), "#contacts(lastname,_parentcustomerid_value,contactid)") {
		t.Fatalf("attributes: %d %s", r.Status, r.Raw)
	}
	if _, ok := vals[0]["_parentcustomerid_value"]; !ok {
		t.Fatalf("lookup value: %v", vals[0])
	}
}

func TestFetchXMLPaging(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	q := func(page int) string {
		return fmt.Sprintf(`<fetch count="3" page="%d" paging-cookie="&lt;cookie page=&quot;1&quot;/&gt;" returntotalrecordcount="true">`+
			`<entity name="contact"><attribute name="fullname"/><order attribute="fullname"/></entity></fetch>`, page)
	}
	prefer := `odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords,Microsoft.Dynamics.CRM.totalrecordcount"`
	var names []string
	for page := 1; ; page++ {
		r := fetch(e, alice, "contacts", q(page), "Prefer", prefer)
		if r.Status != 200 {
			t.Fatalf("page %d: %d %s", page, r.Status, r.Raw)
		}
		for _, v := range r.Values() {
			names = append(names, v["fullname"].(string))
		}
		if r.Body["@Microsoft.Dynamics.CRM.totalrecordcount"] != float64(8) {
			t.Fatalf("total: %s", r.Raw)
		}
		more, _ := r.Body["@Microsoft.Dynamics.CRM.morerecords"].(bool)
		if !more {
			if _, ok := r.Body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]; ok || page != 3 {
				t.Fatalf("last page %d: %s", page, r.Raw)
			}
			break
		}
		if c := r.Str("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"); !strings.HasPrefix(c, `<cookie pagenumber="`+fmt.Sprint(page+1)+`" pagingcookie="`) {
			t.Fatalf("cookie: %s", r.Raw)
		}
	}
	if len(names) != 8 || names[0] != "Maria Campbell" && names[0] != "Nancy Anderson" {
		t.Fatalf("pages: %v", names)
	}
	// Without the Prefer header the annotations are not sent.
	r := fetch(e, alice, "contacts", q(1))
	if _, ok := r.Body["@Microsoft.Dynamics.CRM.morerecords"]; ok || len(r.Values()) != 3 {
		t.Fatalf("no prefer: %s", r.Raw)
	}
}

func TestFetchXMLErrors(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	for _, c := range []struct{ xml, code, says string }{
		{`<fetch><entity name="contact"><attribute name="nope"/></entity></fetch>`, "0x80041103", "nope"},
		{`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="begins-with" value="x"/></filter></entity></fetch>`, "0x80040203", "begins-with"},
		{`<fetch><entity name="contact"><group/></entity></fetch>`, "0x80040203", "group"},
		{`<fetch><entity name="account"/></fetch>`, "0x80040203", "account"},
		{`<fetch><entity name="contact">`, "0x80040203", "well-formed"},
		{`<fetch count="6000"><entity name="contact"/></fetch>`, "0x80040203", "count"},
		{`<fetch><entity name="contact"><filter><condition attribute="statecode" operator="eq" value="x"/></filter></entity></fetch>`, "0x80040203", "number"},
		{`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="null" value="x"/></filter></entity></fetch>`, "0x80040203", "no value"},
		{`<fetch><entity name="contact"><link-entity name="account" from="accountid" to="parentcustomerid"/></entity></fetch>`, "0x80040203", "activityparty"},
	} {
		r := fetch(e, alice, "contacts", c.xml)
		if r.Status != http.StatusBadRequest || r.ErrCode() != c.code || !strings.Contains(r.ErrMessage(), c.says) {
			t.Errorf("%s: %d %s", c.xml, r.Status, r.Raw)
		}
	}
	x := `<fetch><entity name="contact"/></fetch>`
	if r := e.Req("GET", "contacts?$top=2&fetchXml="+x, alice, nil); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "$top") {
		t.Errorf("with $top: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "contacts("+localcrm.DemoID("contact", "maria.campbell@contoso.example")+")?fetchXml="+x, alice, nil); r.Status != http.StatusBadRequest {
		t.Errorf("on a record: %d %s", r.Status, r.Raw)
	}
}
