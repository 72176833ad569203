package localcrm_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

func TestSeedOutgoing(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	if err := e.Srv.SeedDemo(); err != nil { // a second run adds nothing
		t.Fatal(err)
	}
	alice := e.SignIn("alice@demo.local", "demo-alice")
	aliceID, bobID := e.UserID("alice@demo.local"), e.UserID("bob@demo.local")
	ids := localcrm.DemoOutgoingEmailIDs()
	want := []struct {
		subject        string
		owner          string
		state, status  float64
		attachments    float64
		to, cc, sender string
	}{
		{"Quote for 250 laptops", aliceID, 1, 6, 1, "maria.campbell@contoso.example", "thomas.andersen@contoso.example", "alice@demo.local"},
		{"Delivery dates for Fabrikam", aliceID, 1, 6, 0, "yvonne.mckay@fabrikam.example", "", "alice@demo.local"},
		{"Agenda for the Contoso quarterly review", aliceID, 0, 1, 0, "maria.campbell@contoso.example", "", "alice@demo.local"},
		{"Telemetry sensor pricing", bobID, 1, 6, 0, "nancy.anderson@adventure-works.example", "", "bob@demo.local"},
	}
	if len(ids) != len(want) {
		t.Fatalf("%d demo emails", len(ids))
	}
	for i, w := range want {
		r := e.Req("GET", "emails("+ids[i]+")?$select=subject,statecode,statuscode,directioncode,attachmentcount,_ownerid_value,description"+
			"&$expand=email_activity_parties($select=participationtypemask,addressused,_partyid_value)", alice, nil)
		if r.Status != 200 || r.Str("subject") != w.subject || r.Body["statecode"] != w.state || r.Body["statuscode"] != w.status ||
			r.Body["directioncode"] != true || r.Body["attachmentcount"] != w.attachments || r.Str("_ownerid_value") != w.owner ||
			!strings.HasPrefix(r.Str("description"), "<html>") {
			t.Fatalf("%s: %s", w.subject, r.Raw)
		}
		got := map[float64]string{}
		for _, p := range r.Body["email_activity_parties"].([]any) {
			m := p.(map[string]any)
			got[m["participationtypemask"].(float64)] += m["addressused"].(string)
		}
		if got[1] != w.sender || got[2] != w.to || got[3] != w.cc {
			t.Errorf("%s parties: %v", w.subject, got)
		}
	}
	// Only the one attachment, even after a second seed.
	if r := e.Req("GET", "activitymimeattachments?$count=true", alice, nil); r.Body["@odata.count"] != float64(1) {
		t.Errorf("attachments: %s", r.Raw)
	}
}

func TestDemoQuotePDF(t *testing.T) {
	pdf := localcrm.DemoQuotePDF()
	if len(pdf) < 200 || len(pdf) > 2000 || !bytes.HasPrefix(pdf, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatalf("not a small PDF: %q", pdf)
	}
	// startxref points at the cross-reference table, whose entries point
	// at their objects.
	s := string(pdf)
	i := strings.LastIndex(s, "startxref\n")
	off, err := strconv.Atoi(strings.Fields(s[i+len("startxref\n"):])[0])
	if err != nil || !strings.HasPrefix(s[off:], "xref\n0 6\n") {
		t.Fatalf("startxref %d: %v", off, err)
	}
	lines := strings.Split(s[off:], "\n")
	for n := 1; n <= 5; n++ {
		o, err := strconv.Atoi(lines[2+n][:10])
		if err != nil || !strings.HasPrefix(s[o:], strconv.Itoa(n)+" 0 obj\n") {
			t.Errorf("object %d at %d: %v", n, o, err)
		}
	}
}
