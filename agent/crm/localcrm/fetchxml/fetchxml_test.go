package fetchxml

import (
	"strings"
	"testing"
	"time"
)

// testSchema is a small contact table.
type testSchema struct{}

func (testSchema) LogicalName() string { return "contact" }
func (testSchema) PrimaryKey() string  { return "contactid" }
func (testSchema) AttributeKind(name string) (Kind, bool) {
	k, ok := map[string]Kind{"contactid": KindGUID, "lastname": KindString, "statecode": KindInt,
		"ownerid": KindGUID, "createdon": KindDateTime, "donotemail": KindBool, "activityid": KindGUID}[name]
	return k, ok
}

func TestParseAndMatch(t *testing.T) {
	f, err := Parse(`<?xml version="1.0"?><!-- a comment --><fetch version="1.0" mapping="logical" count="2" page="1">
	  <entity name="contact"><attribute name="lastname"/>
	    <filter type="or"><condition attribute="lastname" operator="like" value="a%"/>
	      <filter><condition attribute="donotemail" operator="eq" value="true"/><condition attribute="statecode" operator="in"><value>0</value><value> 1 </value></condition></filter>
	    </filter><order attribute="lastname" descending="1"/></entity></fetch>`)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Compile(f, testSchema{}, Env{UserID: "u", Now: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	rows := []Row{
		{Attrs: map[string]any{"lastname": "Adams", "statecode": float64(0), "donotemail": false}},
		{Attrs: map[string]any{"lastname": "Brown", "statecode": float64(1), "donotemail": true}},
		{Attrs: map[string]any{"lastname": "Clark", "statecode": float64(2), "donotemail": true}},
		{Attrs: map[string]any{"lastname": "avery", "statecode": nil, "donotemail": nil}},
	}
	res := q.Run(rows)
	if len(res.Indexes) != 2 || res.Indexes[0] != 1 || res.Indexes[1] != 3 || !res.More || res.Total != 3 {
		t.Fatalf("run: %+v", res)
	}
	if strings.Join(q.Attributes, ",") != "lastname,contactid" {
		t.Fatalf("attributes: %v", q.Attributes)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		``, `<entity name="contact"/>`, `<fetch/>`, `<fetch><entity/></fetch>`,
		`<fetch><entity name="contact"/><entity name="contact"/></fetch>`,
		`<fetch top="5"><entity name="contact"/></fetch>`,
		`<fetch><entity name="contact">text</entity></fetch>`,
		`<fetch><entity name="contact"/></fetch><fetch/>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><fetch><entity name="contact"/></fetch>`,
		`<fetch><entity name="contact"><filter type="xor"/></entity></fetch>`,
		`<fetch><entity name="contact"><filter><condition operator="eq"/></filter></entity></fetch>`,
		`<fetch><entity name="contact"><link-entity name="activityparty" link-type="left"/></entity></fetch>`,
		strings.Repeat("<filter>", 40),
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
	deep := `<fetch><entity name="contact">` + strings.Repeat("<filter>", 40) + strings.Repeat("</filter>", 40) + `</entity></fetch>`
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep filters: %v", err)
	}
}

// FuzzParse checks that no input makes the parser or the compiler panic,
// and that what parses compiles or fails with an *Error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<fetch><entity name="contact"><all-attributes/></entity></fetch>`,
		`<fetch count="3" page="2" paging-cookie="&lt;cookie/&gt;" distinct="true" returntotalrecordcount="true"><entity name="contact"><attribute name="lastname"/><order attribute="lastname"/></entity></fetch>`,
		`<fetch><entity name="contact"><filter type="or"><condition attribute="createdon" operator="last-x-days" value="30"/><condition attribute="createdon" operator="on" value="2025-01-01"/></filter></entity></fetch>`,
		`<fetch><entity name="contact"><filter><condition attribute="ownerid" operator="eq-userid"/><condition attribute="statecode" operator="not-in"><value>1</value></condition></filter></entity></fetch>`,
		`<fetch distinct="true"><entity name="contact"><filter><condition entityname="p" attribute="partyid" operator="eq-userid"/></filter><link-entity name="activityparty" from="activityid" to="activityid" link-type="outer" alias="p"><filter><condition attribute="participationtypemask" operator="eq" value="7"/></filter></link-entity></entity></fetch>`,
		`<fetch><entity name="contact"><filter><condition attribute="lastname" operator="like" value="[a-"/></filter></entity></fetch>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fx, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse error of type %T", err)
			}
			return
		}
		q, err := Compile(fx, testSchema{}, Env{UserID: "u", Now: time.Unix(0, 0)})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile error of type %T", err)
			}
			return
		}
		q.Run([]Row{{Attrs: map[string]any{"lastname": "x", "createdon": "2025-01-01T00:00:00Z"},
			Parties: []Party{{PartyID: "u", Mask: 7}}}, {Attrs: map[string]any{}}})
	})
}
