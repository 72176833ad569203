package webapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func mailboxID(t *testing.T, e *crmtest.Env, email string) string {
	t.Helper()
	id, err := e.Srv.MailboxID(email)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMailboxesOfDemoUsers(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	for _, u := range localcrm.DemoUsers() {
		mb := mailboxID(t, e, u.Email)
		if mb != localcrm.DemoID("mailbox", u.Email) {
			t.Errorf("%s: mailbox %s is not its fixed demo id", u.Email, mb)
		}
		// Anyone may read a user's defaultmailbox; the mailbox itself only its user.
		r := e.Req("GET", "systemusers("+e.UserID(u.Email)+")?$select=_defaultmailbox_value", alice, nil, "Prefer", annotationsAll)
		if r.Status != 200 || r.Str("_defaultmailbox_value") != mb ||
			r.Str("_defaultmailbox_value@Microsoft.Dynamics.CRM.lookuplogicalname") != "mailbox" {
			t.Errorf("%s defaultmailbox: %d %s", u.Email, r.Status, r.Raw)
		}
	}

	r := e.Req("GET", "mailboxes("+mailboxID(t, e, "alice@demo.local")+")", alice, nil, "Prefer", annotationsAll)
	if r.Status != 200 || r.Body["outgoingemaildeliverymethod"] != float64(1) ||
		r.Str("outgoingemaildeliverymethod@OData.Community.Display.V1.FormattedValue") != "Microsoft Dynamics 365 for Outlook" ||
		r.Str("emailaddress") != "alice@demo.local" || r.Str("name") != "Alice Martin" ||
		r.Str("_regardingobjectid_value") != e.UserID("alice@demo.local") ||
		r.Str("_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname") != "systemuser" {
		t.Fatalf("alice's mailbox: %d %s", r.Status, r.Raw)
	}
	bob := e.SignIn("bob@demo.local", "demo-bob")
	r = e.Req("GET", "mailboxes?$select=outgoingemaildeliverymethod,incomingemaildeliverymethod", bob, nil, "Prefer", annotationsAll)
	vals := r.Values()
	if r.Status != 200 || len(vals) != 1 || vals[0]["mailboxid"] != mailboxID(t, e, "bob@demo.local") ||
		vals[0]["outgoingemaildeliverymethod"] != float64(2) ||
		vals[0]["outgoingemaildeliverymethod@OData.Community.Display.V1.FormattedValue"] != "Server-Side Synchronization" {
		t.Fatalf("a list shows bob his own mailbox only: %d %s", r.Status, r.Raw)
	}

	// Another user's mailbox is refused, and nobody changes a mailbox
	// through the Web API.
	r = e.Req("GET", "mailboxes("+mailboxID(t, e, "bob@demo.local")+")", alice, nil)
	if r.Status != http.StatusForbidden || r.ErrCode() != "0x80040220" || !strings.Contains(r.ErrMessage(), "another user") {
		t.Fatalf("bob's mailbox read by alice: %d %s", r.Status, r.Raw)
	}
	r = e.Req("PATCH", "mailboxes("+mailboxID(t, e, "alice@demo.local")+")", alice, map[string]any{"outgoingemaildeliverymethod": 2})
	if r.Status != http.StatusForbidden || !strings.Contains(r.ErrMessage(), "prvWriteMailbox") || !strings.Contains(r.ErrMessage(), "administrator") {
		t.Fatalf("mailbox write: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "mailboxes", alice, map[string]any{"name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("mailbox create: %d %s", r.Status, r.Raw)
	}

	// The administrator's way: the Go API.
	if err := e.Srv.SetMailboxDelivery("alice@demo.local", localcrm.DeliveryServerSideSync, localcrm.DeliveryServerSideSync); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.SetMailboxDelivery("alice@demo.local", 7, 0); err == nil {
		t.Fatal("an unknown delivery method was accepted")
	}
	r = e.Req("GET", "mailboxes("+mailboxID(t, e, "alice@demo.local")+")?$select=outgoingemaildeliverymethod", alice, nil)
	if r.Body["outgoingemaildeliverymethod"] != float64(2) {
		t.Fatalf("after SetMailboxDelivery: %s", r.Raw)
	}
}

func TestAddedUserGetsMailbox(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	if _, err := e.Srv.AddUser("erin@demo.local", "pw-erin", "Erin Lee", true); err != nil {
		t.Fatal(err)
	}
	erin := e.SignIn("erin@demo.local", "pw-erin")
	r := e.Req("GET", "mailboxes", erin, nil)
	if vals := r.Values(); len(vals) != 1 || vals[0]["outgoingemaildeliverymethod"] != float64(2) ||
		vals[0]["mailboxid"] != mailboxID(t, e, "erin@demo.local") {
		t.Fatalf("erin's mailbox: %s", r.Raw)
	}
}

// rule posts a folder-level tracking rule and returns the answer.
func rule(e *crmtest.Env, token, mailbox, folder string, regarding ...string) crmtest.Response {
	body := map[string]any{"exchangefolderid": folder, "exchangefoldername": "Name of " + folder}
	if mailbox != "" {
		body["mailboxid@odata.bind"] = "/mailboxes(" + mailbox + ")"
	}
	if len(regarding) == 2 {
		body["regardingobjectid_"+regarding[0]+"@odata.bind"] = regarding[1]
	}
	return e.Req("POST", "mailboxtrackingfolders", token, body)
}

func TestFolderRules(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	aliceBox, bobBox := mailboxID(t, e, "alice@demo.local"), mailboxID(t, e, "bob@demo.local")
	contoso := localcrm.DemoID("account", "Contoso Ltd")
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")

	r := rule(e, alice, aliceBox, "INBOX/Contoso", "account", "/accounts("+contoso+")")
	if r.Status != http.StatusNoContent {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	id := crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
	r = e.Req("GET", "mailboxtrackingfolders?$select=exchangefolderid,exchangefoldername,_regardingobjectid_value,_mailboxid_value"+
		"&$filter=_mailboxid_value eq "+aliceBox, alice, nil, "Prefer", annotationsAll)
	vals := r.Values()
	if r.Status != 200 || len(vals) != 1 {
		t.Fatalf("list: %d %s", r.Status, r.Raw)
	}
	v := vals[0]
	if v["mailboxtrackingfolderid"] != id || v["exchangefolderid"] != "INBOX/Contoso" || v["_regardingobjectid_value"] != contoso ||
		v["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] != "account" ||
		v["_regardingobjectid_value@OData.Community.Display.V1.FormattedValue"] != "Contoso Ltd" ||
		v["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] != "regardingobjectid_account" ||
		v["_mailboxid_value"] != aliceBox {
		t.Fatalf("rule: %s", r.Raw)
	}

	// Refusals: required columns, an activity-style navigation property,
	// a duplicate folder, another user's mailbox.
	if r := rule(e, alice, aliceBox, ""); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "exchangefolderid") {
		t.Fatalf("no folder: %d %s", r.Status, r.Raw)
	}
	if r := rule(e, alice, "", "INBOX/x"); r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "mailboxid@odata.bind") {
		t.Fatalf("no mailbox: %d %s", r.Status, r.Raw)
	}
	if r := rule(e, alice, aliceBox, "INBOX/y", "contact_email", "/contacts("+maria+")"); r.Status != http.StatusBadRequest {
		t.Fatalf("email-style nav: %d %s", r.Status, r.Raw)
	}
	r = rule(e, alice, aliceBox, "INBOX/Contoso", "contact", "/contacts("+maria+")")
	if r.Status != http.StatusPreconditionFailed || r.ErrCode() != "0x80040237" || !strings.Contains(r.ErrMessage(), "already exists") {
		t.Fatalf("duplicate: %d %s", r.Status, r.Raw)
	}
	r = rule(e, alice, bobBox, "INBOX/Bob")
	if r.Status != http.StatusForbidden || r.ErrCode() != "0x80040220" || !strings.Contains(r.ErrMessage(), "another user") {
		t.Fatalf("bob's mailbox: %d %s", r.Status, r.Raw)
	}

	// Bob neither sees nor touches alice's rule.
	if r := e.Req("GET", "mailboxtrackingfolders?$filter=_mailboxid_value eq "+aliceBox, bob, nil); len(r.Values()) != 0 {
		t.Fatalf("bob lists alice's rules: %s", r.Raw)
	}
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"exchangefoldername": "mine"}
		}
		if r := e.Req(m, "mailboxtrackingfolders("+id+")", bob, body); r.Status != http.StatusForbidden {
			t.Fatalf("%s by bob: %d %s", m, r.Status, r.Raw)
		}
	}
	// Moving a rule to another user's mailbox is refused too.
	r = e.Req("PATCH", "mailboxtrackingfolders("+id+")", alice, map[string]any{"mailboxid@odata.bind": "/mailboxes(" + bobBox + ")"})
	if r.Status != http.StatusForbidden {
		t.Fatalf("move to bob: %d %s", r.Status, r.Raw)
	}

	// The owner changes and deletes it.
	r = e.Req("PATCH", "mailboxtrackingfolders("+id+")", alice, map[string]any{
		"regardingobjectid_contact@odata.bind": "/contacts(" + maria + ")", "exchangefoldername": "Maria"})
	if r.Status != http.StatusNoContent {
		t.Fatalf("update: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "RetrieveMailboxTrackingFolders(MailboxId=@m)?@m='"+aliceBox+"'", alice, nil)
	maps, _ := r.Body["MailboxTrackingFolderMappings"].([]any)
	if r.Status != 200 || len(maps) != 1 {
		t.Fatalf("RetrieveMailboxTrackingFolders: %d %s", r.Status, r.Raw)
	}
	m, _ := maps[0].(map[string]any)
	if m["ExchangeFolderId"] != "INBOX/Contoso" || m["ExchangeFolderName"] != "Maria" || m["RegardingObjectId"] != maria ||
		m["RegardingObjectName"] != "Maria Campbell" || m["RegardingObjectTypeCode"] != float64(2) || m["IsFolderOnboarded"] != false {
		t.Fatalf("mapping: %s", r.Raw)
	}
	if r := e.Req("GET", "RetrieveMailboxTrackingFolders(MailboxId=@m)?@m='"+aliceBox+"'", bob, nil); r.Status != http.StatusForbidden {
		t.Fatalf("RetrieveMailboxTrackingFolders by bob: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "mailboxtrackingfolders("+id+")", alice, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "mailboxtrackingfolders("+id+")", alice, nil); r.Status != http.StatusNotFound {
		t.Fatalf("delete again: %d %s", r.Status, r.Raw)
	}
}

func TestFolderRuleLimit(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	bob := e.SignIn("bob@demo.local", "demo-bob")
	box := mailboxID(t, e, "bob@demo.local")
	var first string
	for i := range localcrm.MaxFolderRules {
		r := rule(e, bob, box, fmt.Sprintf("INBOX/f%02d", i))
		if r.Status != http.StatusNoContent {
			t.Fatalf("rule %d: %d %s", i, r.Status, r.Raw)
		}
		if i == 0 {
			first = crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
		}
	}
	r := rule(e, bob, box, "INBOX/one-too-many")
	if r.Status != http.StatusBadRequest || !strings.Contains(r.ErrMessage(), "at most 25") {
		t.Fatalf("26th: %d %s", r.Status, r.Raw)
	}
	// A full mailbox's rules can still change, and a deleted one frees a place.
	if r := e.Req("PATCH", "mailboxtrackingfolders("+first+")", bob, map[string]any{"exchangefoldername": "renamed"}); r.Status != http.StatusNoContent {
		t.Fatalf("update in a full mailbox: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "mailboxtrackingfolders("+first+")", bob, nil); r.Status != http.StatusNoContent {
		t.Fatal(r.Status)
	}
	if r := rule(e, bob, box, "INBOX/one-too-many"); r.Status != http.StatusNoContent {
		t.Fatalf("after a delete: %d %s", r.Status, r.Raw)
	}
	// Another mailbox has its own 25.
	alice := e.SignIn("alice@demo.local", "demo-alice")
	if r := rule(e, alice, mailboxID(t, e, "alice@demo.local"), "INBOX/f00"); r.Status != http.StatusNoContent {
		t.Fatalf("alice's first: %d %s", r.Status, r.Raw)
	}
}
