package records_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestReadOnlyColumnsRefused(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	aliceID := e.UserID("alice@demo.local")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	id := e.CreateEmail(alice, map[string]any{"subject": "open"})
	for _, tc := range []struct {
		body map[string]any
		attr string
	}{
		{map[string]any{"inreplyto": "<parent@x.example>"}, "inreplyto"},
		{map[string]any{"senton": "2025-03-14T09:30:00Z"}, "senton"},
		{map[string]any{"conversationindex": "AQHT"}, "conversationindex"},
		{map[string]any{"createdon": "2025-03-14T09:30:00Z"}, "createdon"},
		{map[string]any{"modifiedon": "2025-03-14T09:30:00Z"}, "modifiedon"},
		{map[string]any{"versionnumber": 7}, "versionnumber"},
		{map[string]any{"attachmentcount": 1}, "attachmentcount"},
		{map[string]any{"correlationmethod": 3}, "correlationmethod"},
		{map[string]any{"activitytypecode": "email"}, "activitytypecode"},
		{map[string]any{"emailsender_contact@odata.bind": "/contacts(" + maria + ")"}, "emailsender"},
		{map[string]any{"_emailsender_value": maria}, "emailsender"},
		{map[string]any{"owninguser@odata.bind": "/systemusers(" + aliceID + ")"}, "owninguser"},
		{map[string]any{"createdby@odata.bind": "/systemusers(" + aliceID + ")"}, "createdby"},
		{map[string]any{"modifiedby@odata.bind": "/systemusers(" + aliceID + ")"}, "modifiedby"},
		{map[string]any{"_createdby_value": aliceID}, "createdby"},
	} {
		want := "The '" + tc.attr + "' attribute is read-only and cannot be set on create or update."
		for _, rq := range []struct{ method, path string }{{"POST", "emails"}, {"PATCH", "emails(" + id + ")"}} {
			body := map[string]any{"subject": "x"}
			for k, v := range tc.body {
				body[k] = v
			}
			r := e.Req(rq.method, rq.path, alice, body)
			if r.Status != http.StatusBadRequest || r.ErrMessage() != want || !strings.HasPrefix(r.ErrCode(), "0x") {
				t.Errorf("%s %s with %v: %d %s", rq.method, rq.path, tc.body, r.Status, r.Raw)
			}
		}
	}
	// Read-only columns are refused on other tables too.
	if r := e.Req("PATCH", "contacts("+maria+")", alice, map[string]any{"createdon": "2025-01-01T00:00:00Z"}); r.Status != 400 ||
		!strings.Contains(r.ErrMessage(), "'createdon' attribute is read-only") {
		t.Errorf("contact createdon: %d %s", r.Status, r.Raw)
	}
	// Nothing was written by the refused requests.
	if r := e.Req("GET", "emails?$count=true&$select=subject&$filter="+url.QueryEscape(crmtest.NotDemoEmails()), alice, nil); r.Body["@odata.count"] != float64(1) {
		t.Fatalf("refused creates left emails: %s", r.Raw)
	}
	if r := e.Req("GET", "emails("+id+")?$select=subject", alice, nil); r.Str("subject") != "open" {
		t.Fatalf("refused updates changed the email: %s", r.Raw)
	}
}

func TestActualStartAndEnd(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	id := e.CreateEmail(alice, map[string]any{"subject": "timed",
		"actualstart": "2025-03-14T10:30:00+01:00", "actualend": "2025-03-14T09:45:00.123Z"})
	r := e.Req("GET", "emails("+id+")?$select=actualstart,actualend", alice, nil)
	if r.Str("actualstart") != "2025-03-14T09:30:00Z" || r.Str("actualend") != "2025-03-14T09:45:00Z" {
		t.Fatalf("stored times: %s", r.Raw)
	}
	for _, bad := range []string{"yesterday", "2025-03-14", "2025-03-14T09:30:00", "2025-13-01T00:00:00Z"} {
		r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"actualend": bad})
		if r.Status != 400 || !strings.Contains(r.ErrMessage(), "'actualend' is not a valid date and time") ||
			!strings.Contains(r.ErrMessage(), "ISO 8601") {
			t.Errorf("actualend %q: %d %s", bad, r.Status, r.Raw)
		}
	}
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"actualstart": 5}); r.Status != 400 {
		t.Errorf("numeric actualstart: %d %s", r.Status, r.Raw)
	}
	// A DateOnly column takes a plain date.
	opp := localcrm.DemoID("opportunity", "250 laptops for the field team")
	if r := e.Req("PATCH", "opportunities("+opp+")", alice, map[string]any{"estimatedclosedate": "2025-06-30"}); r.Status != 204 {
		t.Errorf("estimatedclosedate: %d %s", r.Status, r.Raw)
	}

	// Completing sets actualend to the completion time when it is empty...
	open := e.CreateEmail(alice, map[string]any{"subject": "to complete"})
	if r := e.Req("GET", "emails("+open+")?$select=actualend", alice, nil); r.Body["actualend"] != nil {
		t.Fatalf("open email has actualend: %s", r.Raw)
	}
	e.Clock.Advance(90 * time.Second)
	want := e.Clock.Now().UTC().Format("2006-01-02T15:04:05Z")
	if r := e.Req("PATCH", "emails("+open+")", alice, map[string]any{"statecode": 1, "statuscode": 2}); r.Status != 204 {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+open+")?$select=actualend", alice, nil); r.Str("actualend") != want {
		t.Fatalf("actualend after completion: %s, want %s", r.Raw, want)
	}
	// ...keeps one the completing request carries (the email is open before it)...
	other := e.CreateEmail(alice, map[string]any{"subject": "completed with a time"})
	r = e.Req("PATCH", "emails("+other+")", alice, map[string]any{"statecode": 1, "statuscode": 4,
		"actualend": "2025-01-02T03:04:05Z", "subject": "last words"})
	if r.Status != 204 {
		t.Fatalf("complete with columns: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+other+")?$select=actualend,subject", alice, nil); r.Str("actualend") != "2025-01-02T03:04:05Z" || r.Str("subject") != "last words" {
		t.Fatalf("completing request's columns: %s", r.Raw)
	}
	// ...and applies to an email created as completed.
	done := e.CreateEmail(alice, map[string]any{"subject": "born done", "statecode": 1, "statuscode": 4})
	if r := e.Req("GET", "emails("+done+")?$select=actualend", alice, nil); r.Str("actualend") != want {
		t.Fatalf("created completed: %s", r.Raw)
	}
}

func TestCompletedEmailIsReadOnly(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	bobID := e.UserID("bob@demo.local")
	id := e.CreateEmail(alice, map[string]any{"subject": "sent mail"})
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"statecode": 1, "statuscode": 2}); r.Status != 204 {
		t.Fatalf("complete: %d %s", r.Status, r.Raw)
	}
	const msg = "The email is completed and can't be edited; only its regarding record can be changed"
	refused := []map[string]any{
		{"subject": "late edit"},
		{"description": "x"},
		{"actualend": "2025-01-01T00:00:00Z"},
		{"messageid": "<late@x.example>"},
		{"ownerid@odata.bind": "/systemusers(" + bobID + ")"},
		{"statecode": 0, "statuscode": 1, "subject": "reopen and edit"},
		{"email_activity_parties": []any{map[string]any{"addressused": "a@b.example", "participationtypemask": 2}}},
	}
	for _, body := range refused {
		r := e.Req("PATCH", "emails("+id+")", alice, body)
		if r.Status != 400 || !strings.HasPrefix(r.ErrMessage(), msg) {
			t.Errorf("PATCH %v: %d %s", body, r.Status, r.Raw)
		}
	}
	if r := e.Req("PUT", "emails("+id+")/email_activity_parties", alice, map[string]any{"value": []any{}}); r.Status != 400 ||
		!strings.HasPrefix(r.ErrMessage(), msg) {
		t.Errorf("PUT parties: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PUT", "emails("+id+")/ownerid/$ref", alice, map[string]any{"@odata.id": "systemusers(" + bobID + ")"}); r.Status != 400 ||
		!strings.HasPrefix(r.ErrMessage(), msg) {
		t.Errorf("PUT ownerid/$ref: %d %s", r.Status, r.Raw)
	}
	// The regarding link may change every way it can be written.
	allowed := []map[string]any{
		{"regardingobjectid_contact_email@odata.bind": "/contacts(" + maria + ")"},
		{"regardingobjectid_contact_email@odata.bind": nil},
		{"regardingobjectid_account@odata.bind": "/accounts(" + contoso + ")"},
		{"regardingobjectid_account@odata.bind": nil},
		{"regardingobjectid_account_email@odata.bind": "/accounts(" + contoso + ")"},
	}
	for _, body := range allowed {
		if r := e.Req("PATCH", "emails("+id+")", alice, body); r.Status != 204 {
			t.Errorf("PATCH %v: %d %s", body, r.Status, r.Raw)
		}
	}
	if r := e.Req("DELETE", "emails("+id+")/regardingobjectid_account_email/$ref", alice, nil); r.Status != 204 {
		t.Errorf("DELETE $ref: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PUT", "emails("+id+")/regardingobjectid_contact_email/$ref", alice, map[string]any{"@odata.id": "contacts(" + maria + ")"}); r.Status != 204 {
		t.Errorf("PUT $ref: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+id+")?$select=subject,_regardingobjectid_value", alice, nil); r.Str("subject") != "sent mail" ||
		r.Str("_regardingobjectid_value") != maria {
		t.Fatalf("after the allowed changes: %s", r.Raw)
	}

	// messageid goes with the change to Sent, and only then.
	pending := e.CreateEmail(alice, map[string]any{"subject": "outgoing"})
	if r := e.Req("PATCH", "emails("+pending+")", alice, map[string]any{"statecode": 1, "statuscode": 6}); r.Status != 204 {
		t.Fatalf("pending send: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+pending+")", alice, map[string]any{"messageid": "<early@x.example>"}); r.Status != 400 {
		t.Errorf("messageid without Sent: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+pending+")", alice, map[string]any{"statuscode": 3, "messageid": "<sent@x.example>"}); r.Status != 204 {
		t.Fatalf("Sent with messageid: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+pending+")", alice, map[string]any{"statuscode": 3, "messageid": "<again@x.example>"}); r.Status != 400 {
		t.Errorf("messageid on an email already Sent: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails("+pending+")?$select=messageid,statuscode", alice, nil); r.Str("messageid") != "<sent@x.example>" || r.Body["statuscode"] != float64(3) {
		t.Fatalf("sent email: %s", r.Raw)
	}

	// A state change alone is allowed: reopen, then edit.
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"statecode": 0, "statuscode": 1}); r.Status != 204 {
		t.Fatalf("reopen: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+id+")", alice, map[string]any{"subject": "edited after reopening"}); r.Status != 204 {
		t.Fatalf("edit reopened: %d %s", r.Status, r.Raw)
	}

	// Canceled emails are read-only as well.
	canceled := e.CreateEmail(alice, map[string]any{"subject": "never sent"})
	if r := e.Req("PATCH", "emails("+canceled+")", alice, map[string]any{"statecode": 2, "statuscode": 5}); r.Status != 204 {
		t.Fatalf("cancel: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+canceled+")", alice, map[string]any{"subject": "x"}); r.Status != 400 ||
		!strings.HasPrefix(r.ErrMessage(), "The email is canceled and can't be edited") {
		t.Errorf("edit canceled: %d %s", r.Status, r.Raw)
	}
}

func TestSenderParty(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	aliceID := e.UserID("alice@demo.local")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	r := e.Req("POST", "queues", alice, map[string]any{"name": "Sales inbox", "emailaddress": "sales@demo.local"})
	if r.Status != 204 {
		t.Fatalf("create queue: %d %s", r.Status, r.Raw)
	}
	queue := crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
	lead := crmtest.IDFromEntityID(t, e.Req("POST", "leads", alice, map[string]any{"lastname": "Prospect", "emailaddress1": "p@lead.example"}).Header.Get("OData-EntityId"))
	// party builds an activity party: a bind to /<table>s(<id>), or an
	// unresolved address when table is "".
	party := func(mask int, table, idOrAddress string) map[string]any {
		p := map[string]any{"participationtypemask": mask}
		if table == "" {
			p["addressused"] = idOrAddress
		} else {
			p["partyid_"+table+"@odata.bind"] = "/" + table + "s(" + idOrAddress + ")"
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		parties []any
		Status  int
		inMsg   string
	}{
		{"contact sender", []any{party(1, "contact", maria)}, 400, "The sender of an email can be a user or a queue, not a contact; send the address in addressused instead"},
		{"account sender", []any{party(1, "account", contoso)}, 400, "not an account"},
		{"lead sender", []any{party(1, "lead", lead)}, 400, "not a lead"},
		{"user sender", []any{party(1, "systemuser", aliceID)}, 204, ""},
		{"queue sender", []any{party(1, "queue", queue)}, 204, ""},
		{"unresolved sender", []any{party(1, "", "maria.campbell@contoso.example")}, 204, ""},
		{"recipients of every kind", []any{party(1, "systemuser", aliceID), party(2, "contact", maria),
			party(2, "account", contoso), party(3, "queue", queue), party(3, "lead", lead),
			party(4, "systemuser", aliceID), party(4, "", "x@unknown.example")}, 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Req("POST", "emails", alice, map[string]any{"subject": tc.name, "email_activity_parties": tc.parties})
			if r.Status != tc.Status || !strings.Contains(r.ErrMessage(), tc.inMsg) {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
	}
	// The queue's address is the one used when none is given.
	id := e.CreateEmail(alice, map[string]any{"subject": "from the queue", "email_activity_parties": []any{party(1, "queue", queue)}})
	if r := e.Req("GET", "emails("+id+")?$select=sender", alice, nil); r.Str("sender") != "sales@demo.local" {
		t.Fatalf("queue sender line: %s", r.Raw)
	}
}

func TestOptionalTables(t *testing.T) {
	if _, err := localcrm.New(localcrm.Options{App: "marketing"}); err == nil || !strings.Contains(err.Error(), `"sales"`) {
		t.Fatalf("unknown app: %v", err)
	}
	notFound := func(t *testing.T, r crmtest.Response, segment string) {
		t.Helper()
		if r.Status != http.StatusNotFound || r.ErrCode() != "0x80060888" ||
			r.ErrMessage() != "Resource not found for the segment '"+segment+"'." {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	}
	opp := localcrm.DemoID("opportunity", "250 laptops for the field team")
	caseID := localcrm.DemoID("incident", "CAS-01003-D3M0C3")
	for _, tc := range []struct {
		app              string
		present, missing []string
	}{
		{"", []string{"opportunities", "leads", "incidents"}, nil},
		{localcrm.AppAll, []string{"opportunities", "leads", "incidents"}, nil},
		{localcrm.AppSales, []string{"opportunities", "leads"}, []string{"incidents"}},
		{localcrm.AppService, []string{"incidents"}, []string{"opportunities", "leads"}},
		{localcrm.AppNone, nil, []string{"opportunities", "leads", "incidents"}},
	} {
		t.Run("app "+tc.app, func(t *testing.T) {
			e := crmtest.New(t, localcrm.Options{App: tc.app})
			alice := e.SignIn("alice@demo.local", "demo-alice")
			doc := string(e.Req("GET", "", alice, nil).Raw)
			meta := string(e.Req("GET", "$metadata", alice, nil).Raw)
			for _, set := range tc.present {
				if r := e.Req("GET", set+"?$count=true", alice, nil); r.Status != 200 {
					t.Errorf("%s: %d %s", set, r.Status, r.Raw)
				}
				if !strings.Contains(doc, `"`+set+`"`) || !strings.Contains(meta, `EntitySet Name="`+set+`"`) {
					t.Errorf("%s missing from the service document or $metadata", set)
				}
			}
			for _, set := range tc.missing {
				notFound(t, e.Req("GET", set, alice, nil), set)
				notFound(t, e.Req("GET", set+"("+opp+")", alice, nil), set)
				notFound(t, e.Req("POST", set, alice, map[string]any{"name": "x"}), set)
				logical := map[string]string{"opportunities": "opportunity", "leads": "lead", "incidents": "incident"}[set]
				if strings.Contains(doc, `"`+set+`"`) || strings.Contains(meta, `Name="`+set+`"`) ||
					strings.Contains(meta, `"mscrm.`+logical+`"`) || strings.Contains(meta, "regardingobjectid_"+logical) {
					t.Errorf("%s listed in the service document or $metadata", set)
				}
			}
			// Regarding binds to a missing table are refused; to a present one work.
			binds := map[string]string{
				"opportunities": "regardingobjectid_opportunity_email@odata.bind", "incidents": "regardingobjectid_incident_email@odata.bind",
			}
			targets := map[string]string{"opportunities": "/opportunities(" + opp + ")", "incidents": "/incidents(" + caseID + ")"}
			for set, nav := range binds {
				r := e.Req("POST", "emails", alice, map[string]any{"subject": "re", nav: targets[set]})
				has := !strings.Contains(strings.Join(tc.missing, ","), set)
				if has && r.Status != 204 || !has && r.Status != 400 {
					t.Errorf("bind to %s: %d %s", set, r.Status, r.Raw)
				}
				short := strings.Replace(nav, "_email@", "@", 1)
				if r := e.Req("POST", "emails", alice, map[string]any{"subject": "re", short: targets[set]}); !has && r.Status != 400 {
					t.Errorf("short bind to %s: %d %s", set, r.Status, r.Raw)
				}
			}
			// The seed created records only in tables that exist.
			if err := e.Srv.SeedDemo(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A persistent store seeded with every table, opened as a plain
	// environment, hides the extra tables' records.
	dir := t.TempDir()
	full, err := localcrm.New(localcrm.Options{DataDir: dir, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := full.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	full.Close()
	e := crmtest.New(t, localcrm.Options{DataDir: dir, App: localcrm.AppNone})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	notFound(t, e.Req("GET", "incidents", alice, nil), "incidents")
	if r := e.Req("GET", "accounts?$count=true", alice, nil); r.Body["@odata.count"] != float64(6) {
		t.Fatalf("accounts: %s", r.Raw)
	}
}
