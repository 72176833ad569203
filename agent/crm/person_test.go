package crm

import (
	"net/http"
	"testing"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

func TestPersonOfSeededContact(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice := f.alice()
	ctx := ctxT(t)
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	p, err := alice.Person(ctx, "Maria Campbell <MARIA.Campbell@contoso.example>")
	if err != nil || p == nil {
		t.Fatalf("Person: %v %v", p, err)
	}
	want := agent.Person{
		Ref:   agent.RecordRef{Entity: "contact", ID: maria, Name: "Maria Campbell"},
		Email: "maria.campbell@contoso.example", Company: "Contoso Ltd", JobTitle: "Purchasing Manager",
		Phone: "+1 425 555 0101", Owner: "Alice Martin",
		WebURL: f.ts.URL + "/main.aspx?etn=contact&id=" + maria + "&pagetype=entityrecord",
	}
	if *p != want {
		t.Fatalf("Person:\n got %+v\nwant %+v", *p, want)
	}
	// Found by a second address; the mobile phone stands in for a missing business phone.
	if p, err := alice.Person(ctx, "maria@campbell.example"); err != nil || p == nil || p.Ref.ID != maria || p.Email != "maria@campbell.example" {
		t.Fatalf("by emailaddress2: %+v %v", p, err)
	}
	if p, err := alice.Person(ctx, "thomas.andersen@contoso.example"); err != nil || p == nil || p.Phone != "+1 425 555 0188" {
		t.Fatalf("mobile phone: %+v %v", p, err)
	}
	// Unknown, over-long and malformed addresses.
	if p, err := alice.Person(ctx, "nobody@nowhere.example"); p != nil || err != nil {
		t.Fatalf("unknown: %+v %v", p, err)
	}
	if p, err := alice.Person(ctx, "o'neil'%_[x]@nowhere.example"); p != nil || err != nil {
		t.Fatalf("quotes and wildcards: %+v %v", p, err)
	}
	if _, err := alice.Person(ctx, "not an address"); KindOf(err) != KindBadRequest {
		t.Fatalf("malformed: %v", err)
	}
}

func TestPersonFallsBackToLeads(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	bob := f.bob()
	ctx := ctxT(t)
	_, err := bob.do(ctx, request{op: "test", method: http.MethodPost, path: "leads", body: map[string]any{
		"firstname": "Lena", "lastname": "O'Hara", "companyname": "Litware, Inc.", "jobtitle": "CTO",
		"emailaddress1": "lena.ohara@litware.example", "mobilephone": "+1 555 0199",
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := bob.Person(ctx, "lena.ohara@litware.example")
	if err != nil || p == nil {
		t.Fatalf("lead: %v %v", p, err)
	}
	if p.Ref.Entity != "lead" || p.Ref.Name != "Lena O'Hara" || p.Company != "Litware, Inc." || p.JobTitle != "CTO" ||
		p.Phone != "+1 555 0199" || p.Owner != "Bob Nguyen" || p.WebURL == "" {
		t.Fatalf("lead: %+v", *p)
	}

	// An environment without leads answers 404 for the table: no person.
	plain := newFixture(t, localcrm.Options{App: localcrm.AppNone})
	c := plain.alice()
	if p, err := c.Person(ctx, "nobody@nowhere.example"); p != nil || err != nil {
		t.Fatalf("no leads table: %+v %v", p, err)
	}
	if p, err := c.Person(ctx, "susan.burk@example.com"); err != nil || p == nil || p.Company != "" || p.Ref.Name != "Susan Burk" {
		t.Fatalf("contact without company: %+v %v", p, err)
	}
}

func TestCreateContact(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice := f.alice()
	ctx := ctxT(t)
	p, err := alice.CreateContact(ctx, `"Seán O'Brien"`, "Sean.OBrien@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Ref.Entity != "contact" || !IsGUID(p.Ref.ID) || p.Ref.Name != "Seán O'Brien" || p.Email != "sean.obrien@example.org" ||
		p.Company != "" || p.Owner != "Alice Martin" || p.WebURL != alice.WebURL(p.Ref) {
		t.Fatalf("created: %+v", p)
	}
	if found, err := alice.Person(ctx, "sean.obrien@example.org"); err != nil || found == nil || *found != p {
		t.Fatalf("found again: %+v %v", found, err)
	}

	contoso := &agent.RecordRef{Entity: "account", ID: localcrm.DemoID("account", "Contoso Ltd"), Name: "Contoso Ltd"}
	p, err = alice.CreateContact(ctx, "Doe, Jane", "jane.o'doe@example.com", contoso)
	if err != nil {
		t.Fatal(err)
	}
	if p.Ref.Name != "Jane Doe" || p.Company != "Contoso Ltd" || p.Email != "jane.o'doe@example.com" {
		t.Fatalf("with account: %+v", p)
	}
	if found, err := alice.Person(ctx, "Jane <jane.o'doe@example.com>"); err != nil || found == nil || found.Ref.ID != p.Ref.ID {
		t.Fatalf("quoted address found again: %+v %v", found, err)
	}

	p, err = alice.CreateContact(ctx, "", "x.y@example.net", nil)
	if err != nil || p.Ref.Name != "x.y" {
		t.Fatalf("no name: %+v %v", p, err)
	}
	if _, err := alice.CreateContact(ctx, "A B", "nope", nil); KindOf(err) != KindBadRequest {
		t.Fatalf("bad address: %v", err)
	}
	if _, err := alice.CreateContact(ctx, "A B", "a@b.example", &agent.RecordRef{Entity: "contact", ID: p.Ref.ID}); KindOf(err) != KindBadRequest {
		t.Fatalf("company that is a contact: %v", err)
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ name, addr, first, last string }{
		{"Jane Doe", "j@x.example", "Jane", "Doe"},
		{"  Jane   Q.  Doe ", "j@x.example", "Jane Q.", "Doe"},
		{`"Doe, Jane"`, "j@x.example", "Jane", "Doe"},
		{"'Jane Doe'", "j@x.example", "Jane", "Doe"},
		{"Jane Doe, PhD", "j@x.example", "Jane", "Doe"},
		{", Jane", "j@x.example", "", "Jane"},
		{"O'Brien", "j@x.example", "", "O'Brien"},
		{"", "jane.doe@x.example", "", "jane.doe"},
		{"jane.doe@x.example", "jane.doe@x.example", "", "jane.doe"},
		{"Ünal Çelik", "u@x.example", "Ünal", "Çelik"},
	} {
		first, last := splitName(tc.name, tc.addr)
		if first != tc.first || last != tc.last {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", tc.name, first, last, tc.first, tc.last)
		}
	}
}

func TestWebURL(t *testing.T) {
	ref := agent.RecordRef{Entity: "contact", ID: "7EB682F1-CA75-E511-80D4-00155D2A68D1"}
	for _, tc := range []struct{ crm, want string }{
		{"https://contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com/main.aspx?etn=contact&id=7eb682f1-ca75-e511-80d4-00155d2a68d1&pagetype=entityrecord"},
		{"https://contoso.api.crm4.dynamics.com/api/data/v9.2", "https://contoso.crm4.dynamics.com/main.aspx?etn=contact&id=7eb682f1-ca75-e511-80d4-00155d2a68d1&pagetype=entityrecord"},
		{"https://crm.example.com/Contoso/api/data/v9.1/", "https://crm.example.com/Contoso/main.aspx?etn=contact&id=7eb682f1-ca75-e511-80d4-00155d2a68d1&pagetype=entityrecord"},
		{"http://127.0.0.1:8555", "http://127.0.0.1:8555/main.aspx?etn=contact&id=7eb682f1-ca75-e511-80d4-00155d2a68d1&pagetype=entityrecord"},
	} {
		c, err := New(Config{URL: tc.crm})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.WebURL(ref); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.crm, got, tc.want)
		}
		if got := c.WebURL(agent.RecordRef{Entity: "contact", ID: "nope"}); got != "" {
			t.Errorf("bad id: %q", got)
		}
	}
}
