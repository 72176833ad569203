package functions_test

import (
	"net/url"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

// odataString quotes a value as an OData string literal for an alias.
func odataString(s string) string {
	return url.QueryEscape("'" + strings.ReplaceAll(s, "'", "''") + "'")
}

func TestCheckIncomingEmail(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	e.CreateEmail(alice, map[string]any{"subject": "tracked", "messageid": "<Known-1@mail.example>", "directioncode": false})
	// A lead shares an address with nobody else; a disabled user never matches.
	if r := e.Req("POST", "leads", alice, map[string]any{"firstname": "Lee", "lastname": "Ead", "emailaddress1": "lee@prospect.example"}); r.Status != 204 {
		t.Fatalf("create lead: %d %s", r.Status, r.Raw)
	}
	// Upper case beyond ASCII: found as a filter would find it.
	if r := e.Req("POST", "leads", alice, map[string]any{"firstname": "Åsa", "lastname": "Öberg", "emailaddress2": "ÅSA.ÖBERG@Prospect.example"}); r.Status != 204 {
		t.Fatalf("create lead: %d %s", r.Status, r.Raw)
	}
	if _, err := e.Srv.AddUser("gone@demo.local", "pw", "Gone User", true); err != nil {
		t.Fatal(err)
	}
	if err := e.Srv.SetUserDisabled("gone@demo.local", true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		msgID   string
		from    string
		deliver bool
		reason  int
	}{
		{"duplicate", "<Known-1@mail.example>", "maria.campbell@contoso.example", false, 0},
		{"message id is case-sensitive", "<known-1@mail.example>", "maria.campbell@contoso.example", true, 5},
		{"contact sender", "<n1@mail.example>", "Maria Campbell <Maria.Campbell@contoso.example>", true, 5},
		{"account sender", "<n2@mail.example>", "orders@northwind.example", true, 5},
		{"user sender", "<n3@mail.example>", "bob@demo.local", true, 5},
		{"lead sender", "<n4@mail.example>", "lee@prospect.example", true, 5},
		{"lead sender, second address, upper case beyond ASCII", "<n9@mail.example>", "åsa.öberg@prospect.example", true, 5},
		{"unknown sender", "<n5@mail.example>", "stranger@elsewhere.example", false, 3},
		{"disabled user", "<n6@mail.example>", "gone@demo.local", false, 3},
		{"empty sender", "<n7@mail.example>", "", false, 7},
		{"invalid sender", "<n8@mail.example>", "not an address", false, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "CheckIncomingEmail(MessageId=@m,Subject=@s,From=@f,To=@t,Cc=@c,Bcc=@b)?@m=" + odataString(tc.msgID) +
				"&@s=" + odataString("Hello 'there'") + "&@f=" + odataString(tc.from) +
				"&@t=" + odataString("alice@demo.local; x@y.example") + "&@c=''&@b=''"
			r := e.Req("GET", path, alice, nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if r.Body["ShouldDeliver"] != tc.deliver || r.Body["ReasonCode"] != float64(tc.reason) {
				t.Fatalf("got %s, want ShouldDeliver=%v ReasonCode=%d", r.Raw, tc.deliver, tc.reason)
			}
			if !strings.HasSuffix(r.Str("@odata.context"), "#Microsoft.Dynamics.CRM.CheckIncomingEmailResponse") {
				t.Fatalf("context %q", r.Str("@odata.context"))
			}
		})
	}
	// Inline literals work too, and a missing alias is an error.
	if r := e.Req("GET", "CheckIncomingEmail(MessageId='<z@x>',From='paul.cannon@northwind.example')", alice, nil); r.Body["ReasonCode"] != float64(5) {
		t.Fatalf("inline literals: %s", r.Raw)
	}
	if r := e.Req("GET", "CheckIncomingEmail(MessageId=@m)", alice, nil); r.Status != 400 {
		t.Fatalf("missing alias: %d", r.Status)
	}
	if r := e.Req("GET", "CheckIncomingEmail(Nope='x')", alice, nil); r.Status != 400 {
		t.Fatalf("unknown parameter: %d", r.Status)
	}
}

func TestCheckPromoteAndDeliver(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	bob := e.SignIn("bob@demo.local", "demo-bob")
	alice := e.SignIn("alice@demo.local", "demo-alice")
	check := func(msgID, dir string) (bool, float64) {
		t.Helper()
		r := e.Req("GET", "CheckPromoteEmail(MessageId=@m,Subject=@s,DirectionCode=@d)?@m="+odataString(msgID)+"&@s='x'&@d="+dir, bob, nil)
		if r.Status != 200 {
			t.Fatalf("CheckPromoteEmail: %d %s", r.Status, r.Raw)
		}
		return r.Body["ShouldPromote"].(bool), r.Body["ReasonCode"].(float64)
	}
	if ok, code := check("<d1@mail.example>", "0"); !ok || code != 1 {
		t.Fatalf("new message: %v %v", ok, code)
	}
	body := map[string]any{
		"MessageId": "<d1@mail.example>", "Subject": "Scanner firmware", "From": "Paul Cannon <paul.cannon@northwind.example>",
		"To": "bob@demo.local; someone@else.example", "Cc": "", "Bcc": "", "ReceivedOn": "2025-03-14T08:00:00Z",
		"SubmittedBy": "bob@demo.local", "Importance": "high", "Body": "<p>It fails at 40%</p>", "Attachments": []any{},
	}
	r := e.Req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, body)
	if r.Status != 200 || r.Str("EmailId") == "" {
		t.Fatalf("DeliverIncomingEmail: %d %s", r.Status, r.Raw)
	}
	id := r.Str("EmailId")
	r = e.Req("GET", "emails("+id+")?$select=subject,directioncode,statecode,statuscode,_ownerid_value,prioritycode,senton,sender&$expand=email_activity_parties", alice, nil)
	if r.Body["directioncode"] != false || r.Body["statecode"] != float64(1) || r.Body["statuscode"] != float64(4) ||
		r.Str("_ownerid_value") != e.UserID("bob@demo.local") || r.Body["prioritycode"] != float64(2) ||
		r.Str("senton") != "2025-03-14T08:00:00Z" {
		t.Fatalf("delivered email: %s", r.Raw)
	}
	parties, _ := r.Body["email_activity_parties"].([]any)
	if len(parties) != 3 {
		t.Fatalf("parties: %s", r.Raw)
	}
	from, to1, to2 := parties[0].(map[string]any), parties[1].(map[string]any), parties[2].(map[string]any)
	if from["_partyid_value"] != localcrm.DemoID("contact", "paul.cannon@northwind.example") || to1["_partyid_value"] != e.UserID("bob@demo.local") ||
		to2["_partyid_value"] != nil || to2["addressused"] != "someone@else.example" {
		t.Fatalf("party resolution: %s", r.Raw)
	}
	if ok, code := check("<d1@mail.example>", "0"); ok || code != 0 {
		t.Fatalf("delivered message: %v %v", ok, code)
	}
	if ok, _ := check("<d1@mail.example>", "1"); !ok {
		t.Fatal("outgoing copy should still be promotable")
	}
	if r := e.Req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", alice, body); r.Status != 412 || r.ErrCode() != "0x80040237" {
		t.Fatalf("duplicate delivery: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, map[string]any{"Subject": "no id"}); r.Status != 400 {
		t.Fatalf("missing MessageId: %d", r.Status)
	}
	if r := e.Req("POST", "emails/DeliverIncomingEmail", bob, body); r.Status != 400 || !strings.Contains(r.ErrMessage(), "unresolved parameters") {
		t.Fatalf("missing namespace: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, nil); r.Status != 405 {
		t.Fatalf("GET on an action: %d", r.Status)
	}

	// DeliverPromoteEmail completes a draft in place.
	draft := e.CreateEmail(alice, map[string]any{"subject": "draft", "directioncode": false})
	r = e.Req("POST", "emails("+draft+")/Microsoft.Dynamics.CRM.DeliverPromoteEmail", alice, map[string]any{
		"MessageId": "<d2@mail.example>", "From": "info@contoso.example", "To": "alice@demo.local"})
	if r.Status != 200 || r.Str("EmailId") != draft {
		t.Fatalf("DeliverPromoteEmail: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "emails("+draft+")?$select=messageid,statecode,statuscode", alice, nil)
	if r.Str("messageid") != "<d2@mail.example>" || r.Body["statecode"] != float64(1) || r.Body["statuscode"] != float64(4) {
		t.Fatalf("promoted draft: %s", r.Raw)
	}
	if r := e.Req("POST", "emails("+draft+")/Microsoft.Dynamics.CRM.DeliverPromoteEmail", bob, map[string]any{"MessageId": "<d3@x>"}); r.Status != 403 {
		t.Fatalf("promote someone else's email: %d", r.Status)
	}
}

func TestPrivileges(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	carol := e.SignIn("carol@demo.local", "demo-carol")
	tests := []struct {
		user string
		has  bool
	}{
		{"alice@demo.local", true},
		{"bob@demo.local", true},
		{"carol@demo.local", false},
	}
	for _, tc := range tests {
		for _, form := range []string{
			"systemusers(%s)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='prvSyncToOutlook')",
			"systemusers(%s)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName=@p)?@p='prvSyncToOutlook'",
		} {
			r := e.Req("GET", strings.Replace(form, "%s", e.UserID(tc.user), 1), carol, nil)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", tc.user, r.Status, r.Raw)
			}
			privs, ok := r.Body["RolePrivileges"].([]any)
			if !ok || (len(privs) == 1) != tc.has {
				t.Fatalf("%s: %s", tc.user, r.Raw)
			}
			if tc.has {
				p := privs[0].(map[string]any)
				if p["Depth"] != "Global" || p["PrivilegeName"] != "prvSyncToOutlook" || p["BusinessUnitId"] != e.Srv.BusinessUnitID() || p["PrivilegeId"] == "" {
					t.Fatalf("privilege: %v", p)
				}
			}
		}
	}
	r := e.Req("GET", "systemusers("+e.UserID("carol@demo.local")+")/Microsoft.Dynamics.CRM.RetrieveUserPrivileges", carol, nil)
	if privs, _ := r.Body["RolePrivileges"].([]any); len(privs) < 5 {
		t.Fatalf("RetrieveUserPrivileges: %s", r.Raw)
	}
	if r := e.Req("GET", "systemusers(00000000-0000-0000-0000-000000000001)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges", carol, nil); r.Status != 404 {
		t.Fatalf("unknown user: %d", r.Status)
	}
}
