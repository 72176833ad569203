package functions_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

// sendPath is the SendEmail action of an email.
func sendPath(id string) string { return "emails(" + id + ")/Microsoft.Dynamics.CRM.SendEmail" }

// pendingFetch is the query a desktop client sends with BackgroundSendEmail.
const pendingFetch = `<fetch><entity name="email"><attribute name="activityid"/><attribute name="subject"/>` +
	`<attribute name="description"/><attribute name="statuscode"/><attribute name="messageid"/>` +
	`<attribute name="modifiedon"/><attribute name="versionnumber"/><filter>` +
	`<condition attribute="statuscode" operator="eq" value="6"/>` +
	`<condition attribute="ownerid" operator="eq-userid"/></filter>` +
	`<order attribute="modifiedon"/></entity></fetch>`

func background(fetch string) map[string]any {
	return map[string]any{"Query": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression", "Query": fetch}}
}

// status reads an email's statecode and statuscode.
func status(e *crmtest.Env, token, id string) (float64, float64) {
	e.T.Helper()
	r := e.Req("GET", "emails("+id+")?$select=statecode,statuscode", token, nil)
	if r.Status != 200 {
		e.T.Fatalf("read %s: %d %s", id, r.Status, r.Raw)
	}
	s, _ := r.Body["statecode"].(float64)
	c, _ := r.Body["statuscode"].(float64)
	return s, c
}

// draft creates an outgoing draft with the parties given.
func draft(e *crmtest.Env, token, subject string, parties ...map[string]any) string {
	e.T.Helper()
	body := map[string]any{"subject": subject, "description": "<p>" + subject + "</p>"}
	if parties != nil {
		list := make([]any, len(parties))
		for i, p := range parties {
			list[i] = p
		}
		body["email_activity_parties"] = list
	}
	return e.CreateEmail(token, body)
}

func party(mask int, table, id string) map[string]any {
	return map[string]any{"participationtypemask": mask, "partyid_" + table + "@odata.bind": "/" + table + "s(" + id + ")"}
}

func TestSendEmail(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	carol := e.SignIn("carol@demo.local", "demo-carol")
	aliceID, bobID := e.UserID("alice@demo.local"), e.UserID("bob@demo.local")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	nancy := localcrm.DemoID("contact", "nancy.anderson@adventure-works.example")

	// IssueSend true: Pending Send, waiting for alice's desktop client.
	id := draft(e, alice, "Price list", party(1, "systemuser", aliceID), party(2, "contact", maria))
	r := e.Req("POST", sendPath(id), alice, map[string]any{"IssueSend": true, "TrackingToken": ""})
	if r.Status != 200 || r.Str("Subject") != "Price list" ||
		!strings.HasSuffix(r.Str("@odata.context"), "$metadata#Microsoft.Dynamics.CRM.SendEmailResponse") {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	if s, c := status(e, alice, id); s != 1 || c != 6 {
		t.Fatalf("after SendEmail: %v/%v, want 1/6", s, c)
	}
	// A pending email is read-only, and sending it again is refused.
	if r := e.Req("POST", sendPath(id), alice, map[string]any{"IssueSend": true}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "Pending Send (6)") {
		t.Errorf("send a pending email: %d %s", r.Status, r.Raw)
	}

	// bob's mailbox uses server-side synchronization: Pending Send too.
	bobs := draft(e, bob, "Sensor quote", party(2, "contact", nancy))
	if r := e.Req("POST", sendPath(bobs), bob, map[string]any{"IssueSend": true}); r.Status != 200 {
		t.Fatalf("bob's send: %d %s", r.Status, r.Raw)
	}
	if s, c := status(e, bob, bobs); s != 1 || c != 6 {
		t.Fatalf("bob's email: %v/%v, want 1/6", s, c)
	}
	// Without a sender the caller became it.
	r = e.Req("GET", "emails("+bobs+")/email_activity_parties?$select=participationtypemask,_partyid_value,addressused", bob, nil)
	if v := r.Values(); len(v) != 2 || v[0]["participationtypemask"] != float64(1) || v[0]["_partyid_value"] != bobID || v[0]["addressused"] != "bob@demo.local" {
		t.Fatalf("sender set by SendEmail: %s", r.Raw)
	}

	// IssueSend false: recorded as Sent at once, with senton, and a
	// tracking token kept.
	marked := draft(e, alice, "Sent from my phone", party(2, "contact", maria))
	r = e.Req("POST", sendPath(marked), alice, map[string]any{"IssueSend": false, "TrackingToken": "CRM:0001"})
	if r.Status != 200 {
		t.Fatalf("mark as sent: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "emails("+marked+")?$select=statecode,statuscode,senton,trackingtoken", alice, nil)
	if r.Body["statecode"] != float64(1) || r.Body["statuscode"] != float64(3) || r.Str("senton") != "2025-03-14T09:30:00Z" || r.Str("trackingtoken") != "CRM:0001" {
		t.Fatalf("marked as sent: %s", r.Raw)
	}

	refusals := []struct {
		name, token, id string
		body            map[string]any
		status          int
		inMsg           string
	}{
		{"no recipient", alice, draft(e, alice, "Nobody"), map[string]any{"IssueSend": true}, 400, "has no recipient"},
		{"someone else's address", bob, draft(e, bob, "As alice", party(1, "systemuser", aliceID), party(2, "contact", nancy)),
			map[string]any{"IssueSend": true}, 403, "prvSendAsUser"},
		{"completed email", alice, marked, map[string]any{"IssueSend": true}, 400, "Sent (3)"},
		{"incoming email", alice, e.CreateEmail(alice, map[string]any{"subject": "in", "directioncode": false}), map[string]any{"IssueSend": true}, 400, "incoming"},
		{"carol lacks prvWriteActivity", carol, draft(e, alice, "Carol tries", party(2, "contact", maria)), map[string]any{"IssueSend": true}, 403, "prvWriteActivity"},
		{"another owner's email", bob, draft(e, alice, "Bob tries", party(2, "contact", maria)), map[string]any{"IssueSend": true}, 403, "owned by another user"},
		{"missing IssueSend", alice, draft(e, alice, "No flag", party(2, "contact", maria)), map[string]any{"TrackingToken": ""}, 400, "IssueSend"},
		{"unknown parameter", alice, id, map[string]any{"IssueSend": true, "Nope": 1}, 400, "no parameter named 'Nope'"},
		{"IssueSend not a boolean", alice, id, map[string]any{"IssueSend": "yes"}, 400, "IssueSend"},
		{"missing email", alice, "00000000-0000-0000-0000-0000000000aa", map[string]any{"IssueSend": true}, 404, "Does Not Exist"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Req("POST", sendPath(tc.id), tc.token, tc.body)
			if r.Status != tc.status || !strings.HasPrefix(r.ErrCode(), "0x") || !strings.Contains(r.ErrMessage(), tc.inMsg) {
				t.Fatalf("%d %s, want %d with %q", r.Status, r.Raw, tc.status, tc.inMsg)
			}
		})
	}
	if r := e.Req("GET", sendPath(id), alice, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET SendEmail: %d", r.Status)
	}
	if r := e.Req("POST", "emails("+id+")/SendEmail", alice, map[string]any{"IssueSend": true}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "namespace") {
		t.Errorf("without the namespace: %d %s", r.Status, r.Raw)
	}

	// A mailbox without an outgoing delivery method cannot send; marking
	// as sent still works.
	if err := e.Srv.SetMailboxDelivery("alice@demo.local", localcrm.DeliveryNone, localcrm.DeliveryNone); err != nil {
		t.Fatal(err)
	}
	none := draft(e, alice, "No way out", party(2, "contact", maria))
	if r := e.Req("POST", sendPath(none), alice, map[string]any{"IssueSend": true}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "outgoingemaildeliverymethod 0") {
		t.Errorf("mailbox None: %d %s", r.Status, r.Raw)
	}
	if s, c := status(e, alice, none); s != 0 || c != 1 {
		t.Errorf("refused email changed: %v/%v", s, c)
	}
	if r := e.Req("POST", sendPath(none), alice, map[string]any{"IssueSend": false}); r.Status != 200 {
		t.Errorf("mark as sent with mailbox None: %d %s", r.Status, r.Raw)
	}
}

func TestSendPrivileges(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	carol := e.SignIn("carol@demo.local", "demo-carol")
	for _, tc := range []struct {
		user, priv string
		has        bool
	}{
		{"alice@demo.local", "prvWriteActivity", true},
		{"alice@demo.local", "prvReadUser", true},
		{"alice@demo.local", "prvSendAsUser", false},
		{"bob@demo.local", "prvWriteActivity", true},
		{"carol@demo.local", "prvWriteActivity", false},
		{"carol@demo.local", "prvReadActivity", true},
		{"carol@demo.local", "prvSendEmail", false}, // no such privilege in Dataverse
		{"alice@demo.local", "prvSendEmail", false},
	} {
		r := e.Req("GET", "systemusers("+e.UserID(tc.user)+")/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='"+tc.priv+"')", carol, nil)
		privs, _ := r.Body["RolePrivileges"].([]any)
		if r.Status != 200 || (len(privs) == 1) != tc.has {
			t.Errorf("%s %s: %d %s", tc.user, tc.priv, r.Status, r.Raw)
		}
	}
	// The viewer role reads activities but does not write them.
	if r := e.Req("POST", "emails", carol, map[string]any{"subject": "x"}); r.Status != 403 || !strings.Contains(r.ErrMessage(), "prvCreateActivity") {
		t.Errorf("carol creates an email: %d %s", r.Status, r.Raw)
	}
	// A system administrator may send as another user.
	if err := e.Srv.SetUserRole("bob@demo.local", localcrm.RoleSystemAdministrator); err != nil {
		t.Fatal(err)
	}
	bob := e.SignIn("bob@demo.local", "demo-bob")
	id := draft(e, bob, "On alice's behalf", party(1, "systemuser", e.UserID("alice@demo.local")),
		party(2, "contact", localcrm.DemoID("contact", "maria.campbell@contoso.example")))
	if r := e.Req("POST", sendPath(id), bob, map[string]any{"IssueSend": true}); r.Status != 200 {
		t.Fatalf("administrator sends as alice: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "$metadata", carol, nil); !strings.Contains(string(r.Raw), `<Action Name="SendEmail" IsBound="true">`) ||
		!strings.Contains(string(r.Raw), `<Action Name="BackgroundSendEmail">`) {
		t.Errorf("$metadata lacks the actions")
	}
}

func TestBackgroundSendEmail(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	carol := e.SignIn("carol@demo.local", "demo-carol")
	aliceID := e.UserID("alice@demo.local")
	ids := localcrm.DemoOutgoingEmailIDs()
	quote, delivery := ids[0], ids[1]

	r := e.Req("POST", "BackgroundSendEmail", alice, background(pendingFetch))
	if r.Status != 200 || !strings.HasSuffix(r.Str("@odata.context"), "$metadata#Microsoft.Dynamics.CRM.BackgroundSendEmailResponse") {
		t.Fatalf("BackgroundSendEmail: %d %s", r.Status, r.Raw)
	}
	list, _ := r.Body["EntityCollection"].([]any)
	has, _ := r.Body["HasAttachments"].([]any)
	if len(list) != 2 || len(has) != 2 || has[0] != true || has[1] != false {
		t.Fatalf("alice's pending emails: %s", r.Raw)
	}
	first, second := list[0].(map[string]any), list[1].(map[string]any)
	if first["activityid"] != quote || second["activityid"] != delivery {
		t.Fatalf("order: %s", r.Raw)
	}
	for _, k := range []string{"@odata.type", "@odata.etag", "subject", "description", "statecode", "statuscode",
		"_ownerid_value", "messageid", "directioncode", "createdon", "modifiedon", "versionnumber"} {
		if _, ok := first[k]; !ok {
			t.Errorf("email lacks %s: %v", k, first)
		}
	}
	if first["@odata.type"] != "#Microsoft.Dynamics.CRM.email" || first["subject"] != "Quote for 250 laptops" ||
		first["_ownerid_value"] != aliceID || first["statuscode"] != float64(6) ||
		!strings.Contains(first["description"].(string), "<b>Q-2025-0042</b>") ||
		first["@odata.etag"] != fmt.Sprintf(`W/"%d"`, int64(first["versionnumber"].(float64))) {
		t.Errorf("quote: %v", first)
	}
	// Nothing changed state: the client claims each email itself.
	if _, c := status(e, alice, quote); c != 6 {
		t.Errorf("BackgroundSendEmail changed the status to %v", c)
	}
	// Whatever the query, only pending email from the caller comes back:
	// not alice's draft, not bob's pending email.
	r = e.Req("POST", "BackgroundSendEmail", alice, background(`<fetch><entity name="email"><all-attributes/></entity></fetch>`))
	if list, _ := r.Body["EntityCollection"].([]any); r.Status != 200 || len(list) != 2 {
		t.Errorf("all emails asked: %s", r.Raw)
	}
	// bob's mailbox uses server-side synchronization: nothing for his client.
	r = e.Req("POST", "BackgroundSendEmail", bob, background(pendingFetch))
	if list, _ := r.Body["EntityCollection"].([]any); r.Status != 200 || len(list) != 0 || len(r.Body["HasAttachments"].([]any)) != 0 {
		t.Errorf("bob: %s", r.Raw)
	}
	// ...and when it delivers through the client, his pending email is his.
	if err := e.Srv.SetMailboxDelivery("bob@demo.local", localcrm.DeliveryOutlook, localcrm.DeliveryOutlook); err != nil {
		t.Fatal(err)
	}
	r = e.Req("POST", "BackgroundSendEmail", bob, background(pendingFetch))
	if list, _ := r.Body["EntityCollection"].([]any); len(list) != 1 || list[0].(map[string]any)["subject"] != "Telemetry sensor pricing" {
		t.Errorf("bob with client delivery: %s", r.Raw)
	}
	// alice's mailbox switched to server-side synchronization: none.
	if err := e.Srv.SetMailboxDelivery("alice@demo.local", localcrm.DeliveryServerSideSync, localcrm.DeliveryServerSideSync); err != nil {
		t.Fatal(err)
	}
	if r := e.Req("POST", "BackgroundSendEmail", alice, background(pendingFetch)); len(r.Body["EntityCollection"].([]any)) != 0 {
		t.Errorf("alice with server-side sync: %s", r.Raw)
	}

	for _, tc := range []struct {
		name, token string
		body        any
		status      int
		inMsg       string
	}{
		{"carol", carol, background(pendingFetch), 403, "prvWriteActivity"},
		{"QueryExpression", alice, map[string]any{"Query": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.QueryExpression", "EntityName": "email"}}, 400, "FetchExpression"},
		{"no query", alice, map[string]any{}, 400, "requires the parameter 'Query'"},
		{"other entity", alice, background(`<fetch><entity name="contact"/></fetch>`), 400, "entity 'email'"},
		{"bad FetchXML", alice, background(`<fetch><entity name="email">`), 400, "not well-formed"},
		{"unknown attribute", alice, background(`<fetch><entity name="email"><attribute name="nope"/></entity></fetch>`), 400, "Name = 'nope'"},
		{"unknown parameter", alice, map[string]any{"Query": background(pendingFetch)["Query"], "X": 1}, 400, "no parameter named 'X'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Req("POST", "BackgroundSendEmail", tc.token, tc.body)
			if r.Status != tc.status || !strings.HasPrefix(r.ErrCode(), "0x") || !strings.Contains(r.ErrMessage(), tc.inMsg) {
				t.Fatalf("%d %s, want %d with %q", r.Status, r.Raw, tc.status, tc.inMsg)
			}
		})
	}
	if r := e.Req("GET", "BackgroundSendEmail", alice, nil); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET BackgroundSendEmail: %d", r.Status)
	}
}

// TestOutgoingLifecycle follows alice's pending email the way her desktop
// client does: claim it (Sending, with If-Match), then Sent with the
// Message-ID; and the failure path with its note and a retry.
func TestOutgoingLifecycle(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	ids := localcrm.DemoOutgoingEmailIDs()
	quote, delivery, agenda := ids[0], ids[1], ids[2]
	etag := func(id string) string {
		r := e.Req("GET", "emails("+id+")?$select=statuscode", alice, nil)
		return r.Header.Get("ETag")
	}
	old := etag(quote)
	sending := map[string]any{"statecode": 1, "statuscode": 7}
	if r := e.Req("PATCH", "emails("+quote+")", alice, sending, "If-Match", old); r.Status != 204 {
		t.Fatalf("claim: %d %s", r.Status, r.Raw)
	}
	// A second client with the ETag it read before loses.
	if r := e.Req("PATCH", "emails("+quote+")", alice, sending, "If-Match", old); r.Status != 412 || r.ErrCode() != "0x80060882" {
		t.Fatalf("second claim with the old ETag: %d %s", r.Status, r.Raw)
	}
	// And one that read it after the claim sees Sending and may not claim it.
	if r := e.Req("PATCH", "emails("+quote+")", alice, sending, "If-Match", etag(quote)); r.Status != 400 || !strings.Contains(r.ErrMessage(), "already Sending") {
		t.Fatalf("second claim: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+quote+")", alice, map[string]any{"subject": "changed"}); r.Status != 400 {
		t.Errorf("edit while Sending: %d %s", r.Status, r.Raw)
	}
	sent := map[string]any{"statecode": 1, "statuscode": 3, "messageid": "<crm.quote@demo.local>"}
	if r := e.Req("PATCH", "emails("+quote+")", alice, sent, "If-Match", etag(quote)); r.Status != 204 {
		t.Fatalf("sent with messageid: %d %s", r.Status, r.Raw)
	}
	r := e.Req("GET", "emails("+quote+")?$select=statecode,statuscode,messageid,senton", alice, nil)
	if r.Body["statuscode"] != float64(3) || r.Str("messageid") != "<crm.quote@demo.local>" || r.Str("senton") != "2025-03-14T09:30:00Z" {
		t.Fatalf("sent email: %s", r.Raw)
	}
	for _, body := range []map[string]any{{"subject": "x"}, {"description": "y"}, {"messageid": "<other@x>"},
		{"statecode": 1, "statuscode": 7}} {
		if r := e.Req("PATCH", "emails("+quote+")", alice, body); r.Status != 400 {
			t.Errorf("change %v on a Sent email: %d %s", body, r.Status, r.Raw)
		}
	}

	// The failure path: claim, fail, a note on why, a retry.
	if r := e.Req("PATCH", "emails("+delivery+")", alice, sending, "If-Match", etag(delivery)); r.Status != 204 {
		t.Fatalf("claim delivery: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+delivery+")", alice, map[string]any{"statecode": 1, "statuscode": 6}); r.Status != 400 {
		t.Errorf("Sending back to Pending Send: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("PATCH", "emails("+delivery+")", alice, map[string]any{"statecode": 0, "statuscode": 8}); r.Status != 204 {
		t.Fatalf("fail: %d %s", r.Status, r.Raw)
	}
	note := map[string]any{"subject": "Sending failed", "notetext": "550 5.1.1 <yvonne.mckay@fabrikam.example>: Recipient address rejected",
		"objectid_email@odata.bind": "/emails(" + delivery + ")"}
	if r := e.Req("POST", "annotations", alice, note); r.Status != 204 {
		t.Fatalf("note: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "annotations?$select=subject,notetext,objecttypecode,_objectid_value&$filter=_objectid_value eq "+delivery+"&$orderby=createdon asc", alice, nil)
	if v := r.Values(); len(v) != 1 || v[0]["subject"] != "Sending failed" || !strings.HasPrefix(v[0]["notetext"].(string), "550 5.1.1") ||
		v[0]["objecttypecode"] != "email" || v[0]["_objectid_value"] != delivery {
		t.Fatalf("notes: %s", r.Raw)
	}
	if r := e.Req("PATCH", "emails("+delivery+")", alice, map[string]any{"statecode": 1, "statuscode": 6}); r.Status != 400 || !strings.Contains(r.ErrMessage(), "SendEmail") {
		t.Errorf("Failed to Pending Send by PATCH: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", sendPath(delivery), alice, map[string]any{"IssueSend": true, "TrackingToken": ""}); r.Status != 200 {
		t.Fatalf("retry: %d %s", r.Status, r.Raw)
	}
	if s, c := status(e, alice, delivery); s != 1 || c != 6 {
		t.Fatalf("after the retry: %v/%v", s, c)
	}
	// Pending Send may also fail directly (the client gave up before claiming).
	if r := e.Req("PATCH", "emails("+delivery+")", alice, map[string]any{"statecode": 0, "statuscode": 8}); r.Status != 204 {
		t.Errorf("Pending Send to Failed: %d %s", r.Status, r.Raw)
	}

	// A draft is neither claimed nor failed, and nothing is created pending.
	for _, body := range []map[string]any{sending, {"statecode": 0, "statuscode": 8}} {
		if r := e.Req("PATCH", "emails("+agenda+")", alice, body); r.Status != 400 {
			t.Errorf("draft %v: %d %s", body, r.Status, r.Raw)
		}
	}
	for _, st := range []int{6, 7, 8} {
		if r := e.Req("POST", "emails", alice, map[string]any{"subject": "x", "statecode": 1, "statuscode": st}); r.Status != 400 {
			t.Errorf("create with statuscode %d: %d %s", st, r.Status, r.Raw)
		}
	}
}
