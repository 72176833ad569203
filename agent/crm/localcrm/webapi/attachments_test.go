package webapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
	"crmsync/agent/crm/localcrm/records"
)

func TestAttachments(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	carol := e.SignIn("carol@demo.local", "demo-carol")
	email := e.CreateEmail(alice, map[string]any{"subject": "With files"})
	data := []byte("hello, attachment\n")
	attach := func(token string, body map[string]any) crmtest.Response {
		t.Helper()
		return e.Req("POST", "activitymimeattachments", token, body)
	}
	file := func(nav, id string) map[string]any {
		return map[string]any{nav + "@odata.bind": "/" + map[string]string{"objectid_activitypointer": "activitypointers", "objectid_email": "emails"}[nav] + "(" + id + ")",
			"objecttypecode": "email", "filename": "notes.txt", "mimetype": "text/plain", "body": base64.StdEncoding.EncodeToString(data)}
	}
	// Microsoft's two bindings: through activitypointer and through email.
	r := attach(alice, file("objectid_activitypointer", email))
	if r.Status != http.StatusNoContent {
		t.Fatalf("attach through activitypointer: %d %s", r.Status, r.Raw)
	}
	first := crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
	if r := attach(alice, file("objectid_email", email)); r.Status != http.StatusNoContent {
		t.Fatalf("attach through email: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "activitymimeattachments?$select=filename,mimetype,body,filesize&$filter=_objectid_value eq "+email, alice, nil)
	vals := r.Values()
	if r.Status != 200 || len(vals) != 2 || vals[0]["filename"] != "notes.txt" || vals[0]["mimetype"] != "text/plain" ||
		vals[0]["filesize"] != float64(len(data)) || vals[0]["activitymimeattachmentid"] != first {
		t.Fatalf("read attachments: %s", r.Raw)
	}
	if got, _ := base64.StdEncoding.DecodeString(vals[1]["body"].(string)); string(got) != string(data) {
		t.Fatalf("body: %q", got)
	}
	count := func() any {
		return e.Req("GET", "emails("+email+")?$select=attachmentcount", alice, nil).Body["attachmentcount"]
	}
	if c := count(); c != float64(2) {
		t.Fatalf("attachmentcount %v, want 2", c)
	}
	r = e.Req("GET", "activitymimeattachments("+first+")?$select=objecttypecode,_objectid_value,_ownerid_value", alice, nil)
	if r.Str("objecttypecode") != "email" || r.Str("_objectid_value") != email || r.Str("_ownerid_value") != e.UserID("alice@demo.local") {
		t.Fatalf("attachment: %s", r.Raw)
	}

	tooBig := file("objectid_email", email)
	tooBig["body"] = strings.Repeat("A", records.MaxUploadFileSize+4)
	withSize := file("objectid_email", email)
	withSize["filesize"] = 3
	noObject := file("objectid_email", email)
	delete(noObject, "objectid_email@odata.bind")
	delete(noObject, "objecttypecode")
	wrongType := file("objectid_email", email)
	wrongType["objecttypecode"] = "task"
	badBase64 := file("objectid_email", email)
	badBase64["body"] = "not base64!"
	sent := e.CreateEmail(alice, map[string]any{"subject": "done", "statecode": 1, "statuscode": 3})
	for _, tc := range []struct {
		name, token string
		body        map[string]any
		status      int
		code, inMsg string
	}{
		{"over the maximum upload file size", alice, tooBig, 400, "0x80044a02", "Attachment file size is too big."},
		{"filesize is read-only", alice, withSize, 400, "", "'filesize' attribute is read-only"},
		{"no activity", alice, noObject, 400, "", "objectid_email@odata.bind"},
		{"objecttypecode of another table", alice, wrongType, 400, "", "objecttypecode 'task'"},
		{"not Base64", alice, badBase64, 400, "", "Base64"},
		{"another user's email", bob, file("objectid_email", email), 403, "0x80040220", "only the owner"},
		{"a completed email", alice, file("objectid_email", sent), 400, "", "can't be edited"},
		{"the viewer role", carol, file("objectid_email", email), 403, "0x80040220", "prvWriteActivity"},
		{"a missing email", alice, file("objectid_email", "00000000-0000-0000-0000-0000000000ab"), 404, "", "Does Not Exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attach(tc.token, tc.body)
			if r.Status != tc.status || (tc.code != "" && r.ErrCode() != tc.code) || !strings.Contains(r.ErrMessage(), tc.inMsg) {
				t.Fatalf("%d %s, want %d %s with %q", r.Status, r.Raw, tc.status, tc.code, tc.inMsg)
			}
		})
	}
	if c := count(); c != float64(2) {
		t.Fatalf("refusals changed attachmentcount to %v", c)
	}

	// Delete: the owner, while the email is open.
	if r := e.Req("DELETE", "activitymimeattachments("+first+")", bob, nil); r.Status != 403 {
		t.Errorf("bob deletes: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("DELETE", "activitymimeattachments("+first+")", alice, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if c := count(); c != float64(1) {
		t.Fatalf("attachmentcount after delete %v, want 1", c)
	}
	// Deleting the email deletes its attachments.
	if r := e.Req("DELETE", "emails("+email+")", alice, nil); r.Status != 204 {
		t.Fatalf("delete email: %d %s", r.Status, r.Raw)
	}
	if r := e.Req("GET", "activitymimeattachments?$filter=_objectid_value eq "+email, alice, nil); len(r.Values()) != 0 {
		t.Fatalf("attachments of a deleted email: %s", r.Raw)
	}

	// The demo's quote is a PDF, and its size is the decoded size.
	quote := localcrm.DemoOutgoingEmailIDs()[0]
	r = e.Req("GET", "activitymimeattachments?$select=filename,mimetype,body,filesize&$filter=_objectid_value eq "+quote, alice, nil)
	if v := r.Values(); len(v) != 1 || v[0]["filename"] != localcrm.DemoQuoteFileName || v[0]["mimetype"] != "application/pdf" {
		t.Fatalf("quote.pdf: %s", r.Raw)
	} else if pdf, err := base64.StdEncoding.DecodeString(v[0]["body"].(string)); err != nil || !strings.HasPrefix(string(pdf), "%PDF-1.4") ||
		v[0]["filesize"] != float64(len(pdf)) {
		t.Fatalf("quote.pdf body: %v %d %v", err, len(pdf), v[0]["filesize"])
	}
}

func TestNotes(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	email := e.CreateEmail(alice, map[string]any{"subject": "Failed to send"})
	r := e.Req("POST", "annotations", alice, map[string]any{"subject": "Sending failed", "notetext": "552 message too large",
		"objectid_email@odata.bind": "/emails(" + email + ")"})
	if r.Status != 204 {
		t.Fatalf("create note: %d %s", r.Status, r.Raw)
	}
	note := crmtest.IDFromEntityID(t, r.Header.Get("OData-EntityId"))
	// Anyone may add a note to an email; it is theirs.
	if r := e.Req("POST", "annotations", bob, map[string]any{"subject": "Seen", "notetext": "bob was here",
		"objectid_email@odata.bind": "/emails(" + email + ")", "objecttypecode": "email"}); r.Status != 204 {
		t.Fatalf("bob's note: %d %s", r.Status, r.Raw)
	}
	r = e.Req("GET", "annotations?$select=subject,notetext,isdocument,_ownerid_value&$filter=_objectid_value eq "+email+"&$orderby=createdon asc", alice, nil)
	if v := r.Values(); len(v) != 2 || v[0]["subject"] != "Sending failed" || v[0]["notetext"] != "552 message too large" ||
		v[0]["isdocument"] != false || v[0]["_ownerid_value"] != e.UserID("alice@demo.local") {
		t.Fatalf("notes: %s", r.Raw)
	}
	if r := e.Req("PATCH", "annotations("+note+")", bob, map[string]any{"notetext": "changed"}); r.Status != 403 {
		t.Errorf("bob changes alice's note: %d %s", r.Status, r.Raw)
	}
	for _, body := range []map[string]any{
		{"subject": "x", "objectid_email@odata.bind": "/emails(" + email + ")", "objecttypecode": "contact"},
		{"subject": "x", "objectid_email@odata.bind": "/emails(" + email + ")", "filesize": 1},
		{"subject": "x", "objectid_email@odata.bind": "/contacts(" + localcrm.DemoID("contact", "maria.campbell@contoso.example") + ")"},
		{"subject": strings.Repeat("s", 501)},
	} {
		if r := e.Req("POST", "annotations", alice, body); r.Status != 400 {
			t.Errorf("note %v: %d %s", body, r.Status, r.Raw)
		}
	}
	// A note on a contact uses objectid_contact.
	if r := e.Req("POST", "annotations", alice, map[string]any{"subject": "Call back",
		"objectid_contact@odata.bind": "/contacts(" + localcrm.DemoID("contact", "maria.campbell@contoso.example") + ")"}); r.Status != 204 {
		t.Errorf("note on a contact: %d %s", r.Status, r.Raw)
	}
	// Deleting the email deletes its notes.
	if r := e.Req("DELETE", "emails("+email+")", alice, nil); r.Status != 204 {
		t.Fatal(r.Status)
	}
	if r := e.Req("GET", "annotations?$filter=_objectid_value eq "+email, alice, nil); len(r.Values()) != 0 {
		t.Fatalf("notes of a deleted email: %s", r.Raw)
	}
}
