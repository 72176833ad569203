package dav

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// XML namespaces of the properties and reports used here.
const (
	nsDAV  = "DAV:"
	nsCard = "urn:ietf:params:xml:ns:carddav"
	nsCal  = "urn:ietf:params:xml:ns:caldav"
	nsCS   = "http://calendarserver.org/ns/"
)

// multistatus is a 207 answer (RFC 4918 §14.16) with the sync token of a
// sync-collection report (RFC 6578 §6.4).
type multistatus struct {
	Responses []response `xml:"DAV: response"`
	SyncToken string     `xml:"DAV: sync-token"`
}

// response is one resource of a multistatus: either a status of its own
// (404 for a removed member) or one propstat per status of its props.
type response struct {
	Hrefs     []string   `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
}

// propstat is a group of properties that share a status.
type propstat struct {
	Prop   prop   `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

// prop holds every property this package asks for; a server answers
// with those it has.
type prop struct {
	DisplayName  string       `xml:"DAV: displayname"`
	ResourceType resourceType `xml:"DAV: resourcetype"`
	ETag         string       `xml:"DAV: getetag"`
	CTag         string       `xml:"http://calendarserver.org/ns/ getctag"`
	SyncToken    string       `xml:"DAV: sync-token"`
	Principal    hrefSet      `xml:"DAV: current-user-principal"`
	CardHome     hrefSet      `xml:"urn:ietf:params:xml:ns:carddav addressbook-home-set"`
	CalHome      hrefSet      `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
	Components   []comp       `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set>comp"`
	Reports      []anyElement `xml:"DAV: supported-report-set>supported-report>report"`
	AddressData  string       `xml:"urn:ietf:params:xml:ns:carddav address-data"`
	CalendarData string       `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
}

// resourceType records which of the resource types of interest are set.
type resourceType struct {
	Collection  *struct{} `xml:"DAV: collection"`
	Principal   *struct{} `xml:"DAV: principal"`
	AddressBook *struct{} `xml:"urn:ietf:params:xml:ns:carddav addressbook"`
	Calendar    *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
}

// hrefSet is a property whose value is one or more hrefs.
type hrefSet struct {
	Hrefs []string `xml:"DAV: href"`
}

// comp is one component of a supported-calendar-component-set.
type comp struct {
	Name string `xml:"name,attr"`
}

// anyElement holds the children of an element whose names matter, such
// as the report of a supported-report.
type anyElement struct {
	Children []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// parseMultistatus reads a 207 body. The body is already limited in size
// (readBody), and encoding/xml limits nesting, so no input makes this
// panic or grow without bound.
func parseMultistatus(body []byte) (*multistatus, error) {
	var ms multistatus
	d := xml.NewDecoder(bytes.NewReader(body))
	// Servers declare encodings other than UTF-8 only in theory; one that
	// does is read as if it were UTF-8 rather than refused.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	start, err := rootElement(d)
	if err != nil {
		return nil, fmt.Errorf("the server's answer is not XML: %w", err)
	}
	if start.Name.Space != nsDAV || start.Name.Local != "multistatus" {
		return nil, fmt.Errorf("the server answered with <%s> instead of a DAV multistatus", clean(start.Name.Local, 50))
	}
	if err := d.DecodeElement(&ms, &start); err != nil {
		return nil, fmt.Errorf("the server's multistatus is not well-formed: %w", err)
	}
	return &ms, nil
}

// rootElement returns the first start element of d.
func rootElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}

// errorCondition returns the name of the precondition a DAV:error body
// names (RFC 4918 §16), as "valid-sync-token"; "" when the body is not
// one.
func errorCondition(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '<' {
		return ""
	}
	var e struct {
		XMLName  xml.Name
		Children []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := d.Decode(&e); err != nil || e.XMLName.Space != nsDAV || e.XMLName.Local != "error" {
		return ""
	}
	for _, c := range e.Children {
		if c.XMLName.Local != "" {
			return clean(c.XMLName.Local, 60)
		}
	}
	return ""
}

// statusCode reads the code of a status line, "HTTP/1.1 404 Not Found";
// 0 when there is none or it cannot be read.
func statusCode(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 999 {
		return 0
	}
	return n
}

// ok reports whether a status line is 2xx. A missing status counts as
// success: some servers leave it out of a propstat that is all found.
func ok(line string) bool {
	if strings.TrimSpace(line) == "" {
		return true
	}
	c := statusCode(line)
	return c >= 200 && c < 300
}

// found merges the properties of every successful propstat of r: a
// server may split them over several 200 groups, and lists those it does
// not have, empty, under 404.
func (r *response) found() (p prop, has bool) {
	for _, ps := range r.Propstats {
		if !ok(ps.Status) {
			continue
		}
		has = true
		q := ps.Prop
		p.DisplayName = first(p.DisplayName, q.DisplayName)
		p.ETag = first(p.ETag, q.ETag)
		p.CTag = first(p.CTag, q.CTag)
		p.SyncToken = first(p.SyncToken, q.SyncToken)
		p.AddressData = first(p.AddressData, q.AddressData)
		p.CalendarData = first(p.CalendarData, q.CalendarData)
		p.Principal.Hrefs = append(p.Principal.Hrefs, q.Principal.Hrefs...)
		p.CardHome.Hrefs = append(p.CardHome.Hrefs, q.CardHome.Hrefs...)
		p.CalHome.Hrefs = append(p.CalHome.Hrefs, q.CalHome.Hrefs...)
		p.Components = append(p.Components, q.Components...)
		p.Reports = append(p.Reports, q.Reports...)
		rt := &p.ResourceType
		rt.Collection = firstPtr(rt.Collection, q.ResourceType.Collection)
		rt.Principal = firstPtr(rt.Principal, q.ResourceType.Principal)
		rt.AddressBook = firstPtr(rt.AddressBook, q.ResourceType.AddressBook)
		rt.Calendar = firstPtr(rt.Calendar, q.ResourceType.Calendar)
	}
	return p, has
}

// supportsReport reports whether the supported-report-set names report.
func (p *prop) supportsReport(space, local string) bool {
	for _, r := range p.Reports {
		for _, c := range r.Children {
			if c.XMLName.Space == space && c.XMLName.Local == local {
				return true
			}
		}
	}
	return false
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstPtr(a, b *struct{}) *struct{} {
	if a != nil {
		return a
	}
	return b
}

// xmlText escapes s for an XML text node.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
