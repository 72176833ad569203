package dav

import (
	"testing"
)

// multistatusSeeds are answers as Radicale and others write them.
var multistatusSeeds = []string{
	`<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:"><sync-token>http://radicale.org/ns/sync/5653</sync-token><response><href>/alice/contacts/a%201.vcf</href><propstat><prop><getetag>"5e5f"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/alice/contacts/b.vcf</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>`,
	`<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/"><response><href>/alice/cal/</href><propstat><prop><displayname>CRM</displayname><resourcetype><C:calendar /><collection /></resourcetype><CS:getctag>"e3"</CS:getctag><sync-token>http://radicale.org/ns/sync/e3</sync-token><C:supported-calendar-component-set><C:comp name="VEVENT" /><C:comp name="VTODO" /></C:supported-calendar-component-set><supported-report-set><supported-report><report><sync-collection /></report></supported-report></supported-report-set></prop><status>HTTP/1.1 200 OK</status></propstat><propstat><prop><current-user-principal><href>/alice/</href></current-user-principal><CR:addressbook-home-set><href>/alice/</href></CR:addressbook-home-set></prop></propstat></response></multistatus>`,
	`<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:response><d:href>https://h/a/b.vcf</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><card:address-data><![CDATA[BEGIN:VCARD
END:VCARD
]]></card:address-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`,
	`<error xmlns="DAV:"><valid-sync-token/></error>`,
	`<multistatus xmlns="DAV:"><response><href>%zz</href><href></href><status>HTTP/1.1 99999 x</status></response></multistatus>`,
}

// TestParseMultistatus reads a Radicale PROPFIND answer: props from the
// 200 propstats only, merged.
func TestParseMultistatus(t *testing.T) {
	ms, err := parseMultistatus([]byte(multistatusSeeds[1]))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms.Responses) != 1 {
		t.Fatalf("responses = %+v", ms.Responses)
	}
	p, has := ms.Responses[0].found()
	col := toCollection("/alice/cal/", p)
	if !has || col.Kind != Calendar || col.Name != "CRM" || col.CTag != `"e3"` || len(col.Components) != 2 ||
		!p.supportsReport(nsDAV, "sync-collection") || firstHref(p.Principal, "/") != "/alice/" || firstHref(p.CardHome, "/") != "/alice/" {
		t.Fatalf("props = %+v, collection %+v", p, col)
	}
	if _, err := parseMultistatus([]byte(`<error xmlns="DAV:"/>`)); err == nil {
		t.Error("a DAV:error parsed as a multistatus")
	}
	if got := errorCondition([]byte(multistatusSeeds[3])); got != "valid-sync-token" {
		t.Errorf("errorCondition = %q", got)
	}
}

// FuzzMultistatus feeds the parsers anything: they may refuse it, but
// must not panic, and what they return is no larger than the input.
func FuzzMultistatus(f *testing.F) {
	for _, s := range multistatusSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = errorCondition(data)
		ms, err := parseMultistatus(data)
		if err != nil {
			return
		}
		if len(ms.Responses) > len(data) || len(ms.SyncToken) > len(data) {
			t.Fatalf("%d responses from %d bytes", len(ms.Responses), len(data))
		}
		eachResponse(ms, "/alice/book/", func(href string, r *response) {
			if href == "" || href[0] != '/' {
				t.Fatalf("decoded href %q is not an absolute path", href)
			}
			p, _ := r.found()
			_ = toCollection(href, p)
			_ = statusCode(r.Status)
			_ = p.supportsReport(nsDAV, "sync-collection")
		})
	})
}
