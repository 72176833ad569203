package localcrm

import (
	"net/url"
	"strings"
	"testing"
)

// odataString quotes a value as an OData string literal for an alias.
func odataString(s string) string {
	return url.QueryEscape("'" + strings.ReplaceAll(s, "'", "''") + "'")
}

func TestCheckIncomingEmail(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.signIn("alice@demo.local", "demo-alice")
	e.createEmail(alice, map[string]any{"subject": "tracked", "messageid": "<Known-1@mail.example>", "directioncode": false})
	// A lead shares an address with nobody else; a disabled user never matches.
	if r := e.req("POST", "leads", alice, map[string]any{"firstname": "Lee", "lastname": "Ead", "emailaddress1": "lee@prospect.example"}); r.status != 204 {
		t.Fatalf("create lead: %d %s", r.status, r.raw)
	}
	// Upper case beyond ASCII: found as a filter would find it.
	if r := e.req("POST", "leads", alice, map[string]any{"firstname": "Åsa", "lastname": "Öberg", "emailaddress2": "ÅSA.ÖBERG@Prospect.example"}); r.status != 204 {
		t.Fatalf("create lead: %d %s", r.status, r.raw)
	}
	if _, err := e.srv.AddUser("gone@demo.local", "pw", "Gone User", true); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetUserDisabled("gone@demo.local", true); err != nil {
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
			r := e.req("GET", path, alice, nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if r.body["ShouldDeliver"] != tc.deliver || r.body["ReasonCode"] != float64(tc.reason) {
				t.Fatalf("got %s, want ShouldDeliver=%v ReasonCode=%d", r.raw, tc.deliver, tc.reason)
			}
			if !strings.HasSuffix(r.str("@odata.context"), "#Microsoft.Dynamics.CRM.CheckIncomingEmailResponse") {
				t.Fatalf("context %q", r.str("@odata.context"))
			}
		})
	}
	// Inline literals work too, and a missing alias is an error.
	if r := e.req("GET", "CheckIncomingEmail(MessageId='<z@x>',From='paul.cannon@northwind.example')", alice, nil); r.body["ReasonCode"] != float64(5) {
		t.Fatalf("inline literals: %s", r.raw)
	}
	if r := e.req("GET", "CheckIncomingEmail(MessageId=@m)", alice, nil); r.status != 400 {
		t.Fatalf("missing alias: %d", r.status)
	}
	if r := e.req("GET", "CheckIncomingEmail(Nope='x')", alice, nil); r.status != 400 {
		t.Fatalf("unknown parameter: %d", r.status)
	}
}

func TestCheckPromoteAndDeliver(t *testing.T) {
	e := newEnv(t, Options{})
	bob := e.signIn("bob@demo.local", "demo-bob")
	alice := e.signIn("alice@demo.local", "demo-alice")
	check := func(msgID, dir string) (bool, float64) {
		t.Helper()
		r := e.req("GET", "CheckPromoteEmail(MessageId=@m,Subject=@s,DirectionCode=@d)?@m="+odataString(msgID)+"&@s='x'&@d="+dir, bob, nil)
		if r.status != 200 {
			t.Fatalf("CheckPromoteEmail: %d %s", r.status, r.raw)
		}
		return r.body["ShouldPromote"].(bool), r.body["ReasonCode"].(float64)
	}
	if ok, code := check("<d1@mail.example>", "0"); !ok || code != 1 {
		t.Fatalf("new message: %v %v", ok, code)
	}
	body := map[string]any{
		"MessageId": "<d1@mail.example>", "Subject": "Scanner firmware", "From": "Paul Cannon <paul.cannon@northwind.example>",
		"To": "bob@demo.local; someone@else.example", "Cc": "", "Bcc": "", "ReceivedOn": "2025-03-14T08:00:00Z",
		"SubmittedBy": "bob@demo.local", "Importance": "high", "Body": "<p>It fails at 40%</p>", "Attachments": []any{},
	}
	r := e.req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, body)
	if r.status != 200 || r.str("EmailId") == "" {
		t.Fatalf("DeliverIncomingEmail: %d %s", r.status, r.raw)
	}
	id := r.str("EmailId")
	r = e.req("GET", "emails("+id+")?$select=subject,directioncode,statecode,statuscode,_ownerid_value,prioritycode,senton,sender&$expand=email_activity_parties", alice, nil)
	if r.body["directioncode"] != false || r.body["statecode"] != float64(1) || r.body["statuscode"] != float64(4) ||
		r.str("_ownerid_value") != e.userID("bob@demo.local") || r.body["prioritycode"] != float64(2) ||
		r.str("senton") != "2025-03-14T08:00:00Z" {
		t.Fatalf("delivered email: %s", r.raw)
	}
	parties, _ := r.body["email_activity_parties"].([]any)
	if len(parties) != 3 {
		t.Fatalf("parties: %s", r.raw)
	}
	from, to1, to2 := parties[0].(map[string]any), parties[1].(map[string]any), parties[2].(map[string]any)
	if from["_partyid_value"] != DemoID("contact", "paul.cannon@northwind.example") || to1["_partyid_value"] != e.userID("bob@demo.local") ||
		to2["_partyid_value"] != nil || to2["addressused"] != "someone@else.example" {
		t.Fatalf("party resolution: %s", r.raw)
	}
	if ok, code := check("<d1@mail.example>", "0"); ok || code != 0 {
		t.Fatalf("delivered message: %v %v", ok, code)
	}
	if ok, _ := check("<d1@mail.example>", "1"); !ok {
		t.Fatal("outgoing copy should still be promotable")
	}
	if r := e.req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", alice, body); r.status != 412 || r.errCode() != "0x80040237" {
		t.Fatalf("duplicate delivery: %d %s", r.status, r.raw)
	}
	if r := e.req("POST", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, map[string]any{"Subject": "no id"}); r.status != 400 {
		t.Fatalf("missing MessageId: %d", r.status)
	}
	if r := e.req("POST", "emails/DeliverIncomingEmail", bob, body); r.status != 400 || !strings.Contains(r.errMessage(), "unresolved parameters") {
		t.Fatalf("missing namespace: %d %s", r.status, r.raw)
	}
	if r := e.req("GET", "emails/Microsoft.Dynamics.CRM.DeliverIncomingEmail", bob, nil); r.status != 405 {
		t.Fatalf("GET on an action: %d", r.status)
	}

	// DeliverPromoteEmail completes a draft in place.
	draft := e.createEmail(alice, map[string]any{"subject": "draft", "directioncode": false})
	r = e.req("POST", "emails("+draft+")/Microsoft.Dynamics.CRM.DeliverPromoteEmail", alice, map[string]any{
		"MessageId": "<d2@mail.example>", "From": "info@contoso.example", "To": "alice@demo.local"})
	if r.status != 200 || r.str("EmailId") != draft {
		t.Fatalf("DeliverPromoteEmail: %d %s", r.status, r.raw)
	}
	r = e.req("GET", "emails("+draft+")?$select=messageid,statecode,statuscode", alice, nil)
	if r.str("messageid") != "<d2@mail.example>" || r.body["statecode"] != float64(1) || r.body["statuscode"] != float64(4) {
		t.Fatalf("promoted draft: %s", r.raw)
	}
	if r := e.req("POST", "emails("+draft+")/Microsoft.Dynamics.CRM.DeliverPromoteEmail", bob, map[string]any{"MessageId": "<d3@x>"}); r.status != 403 {
		t.Fatalf("promote someone else's email: %d", r.status)
	}
}

func TestPrivileges(t *testing.T) {
	e := newEnv(t, Options{})
	carol := e.signIn("carol@demo.local", "demo-carol")
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
			r := e.req("GET", strings.Replace(form, "%s", e.userID(tc.user), 1), carol, nil)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", tc.user, r.status, r.raw)
			}
			privs, ok := r.body["RolePrivileges"].([]any)
			if !ok || (len(privs) == 1) != tc.has {
				t.Fatalf("%s: %s", tc.user, r.raw)
			}
			if tc.has {
				p := privs[0].(map[string]any)
				if p["Depth"] != "Global" || p["PrivilegeName"] != "prvSyncToOutlook" || p["BusinessUnitId"] != e.srv.BusinessUnitID() || p["PrivilegeId"] == "" {
					t.Fatalf("privilege: %v", p)
				}
			}
		}
	}
	r := e.req("GET", "systemusers("+e.userID("carol@demo.local")+")/Microsoft.Dynamics.CRM.RetrieveUserPrivileges", carol, nil)
	if privs, _ := r.body["RolePrivileges"].([]any); len(privs) < 5 {
		t.Fatalf("RetrieveUserPrivileges: %s", r.raw)
	}
	if r := e.req("GET", "systemusers(00000000-0000-0000-0000-000000000001)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges", carol, nil); r.status != 404 {
		t.Fatalf("unknown user: %d", r.status)
	}
}
