// Package fetchxml parses and evaluates the subset of Dataverse's FetchXML
// query language that the local CRM serves: one entity, its attributes,
// orders, nested filters with conditions, and a link-entity to the
// activity parties of an activity ([PAD] fetchxml/reference/*.md). The
// parser knows only the language; Compile checks a query against a table
// (Schema) and Query.Match evaluates it on rows, so the package depends on
// nothing of the server.
package fetchxml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile query from exhausting memory or the stack.
const (
	MaxLen      = 64 << 10 // characters of FetchXML; a GET URL is 32 KB anyway
	maxDepth    = 32       // nesting of filters
	maxElements = 2000     // elements in one query
)

// MaxCount is the largest page FetchXML allows, and the default: "The
// default and maximum page size is 5,000 rows" ([PAD] fetchxml/page-results.md).
const MaxCount = 5000

// Fetch is a parsed <fetch> element.
type Fetch struct {
	Count        int    // rows per page; 0 = not given (MaxCount)
	Page         int    // 1-based page; 0 = not given (1)
	PagingCookie string // accepted and ignored: pages are computed from Page
	ReturnTotal  bool   // returntotalrecordcount
	Distinct     bool
	Entity       Entity
}

// Entity is the <entity> element: the table and what to read of it.
type Entity struct {
	Name          string
	Attributes    []string // in document order; nil with AllAttributes or none given
	AllAttributes bool
	Orders        []Order
	Filters       []*Filter // several filter children are and-ed
	Links         []*Link
}

// Order is one <order> element.
type Order struct {
	Attribute  string
	Descending bool
}

// Filter is a <filter> element: conditions and nested filters joined by
// Type ("and" or "or").
type Filter struct {
	Type       string
	Conditions []*Condition
	Filters    []*Filter
}

// Condition is one <condition> element. EntityName names a link-entity's
// alias when the condition is on the linked rows.
type Condition struct {
	EntityName string
	Attribute  string
	Operator   string
	Value      string
	HasValue   bool
	Values     []string // <value> children (in, not-in)
}

// Link is a <link-entity> element.
type Link struct {
	Name     string
	From, To string
	LinkType string // "inner" (the default) or "outer"
	Alias    string
	Filters  []*Filter
}

// Error is a FetchXML problem, in words for the caller. NoAttribute marks
// an unknown attribute, which Dataverse reports with its own code.
type Error struct {
	Msg         string
	NoAttribute bool
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

func errf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// parser walks the token stream of one document.
type parser struct {
	dec      *xml.Decoder
	elements int
}

// Parse reads a FetchXML document. Unknown elements and attributes are
// errors that name them, so a typo never widens a query.
func Parse(s string) (*Fetch, error) {
	if len(s) > MaxLen {
		return nil, errf("The FetchXML is longer than %d characters.", MaxLen)
	}
	if !utf8.ValidString(s) {
		return nil, errf("The FetchXML is not valid UTF-8.")
	}
	p := &parser{dec: xml.NewDecoder(strings.NewReader(s))}
	p.dec.Strict = true
	start, err := p.nextStart()
	if err != nil {
		return nil, err
	}
	if start == nil || start.Name.Local != "fetch" {
		return nil, errf("A FetchXML query must start with a <fetch> element.")
	}
	f, err := p.fetch(*start)
	if err != nil {
		return nil, err
	}
	// Nothing but whitespace and comments may follow the fetch element.
	if extra, err := p.nextStart(); err != nil {
		return nil, err
	} else if extra != nil {
		return nil, errf("The FetchXML has content after the </fetch> element: <%s>.", extra.Name.Local)
	}
	return f, nil
}

// nextStart returns the next start element, nil at the end of the
// document; text other than whitespace is an error.
func (p *parser) nextStart() (*xml.StartElement, error) {
	for {
		tok, err := p.dec.Token()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, errf("The FetchXML is not well-formed XML: %v.", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p.elements++
			if p.elements > maxElements {
				return nil, errf("The FetchXML has more than %d elements.", maxElements)
			}
			return &t, nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return nil, errf("The FetchXML has unexpected text %q.", truncate(strings.TrimSpace(string(t)), 40))
			}
		case xml.EndElement:
			return nil, errf("The FetchXML has an unexpected </%s>.", t.Name.Local)
		case xml.Directive:
			return nil, errf("The FetchXML may not contain a <!%s> directive.", truncate(string(t), 20))
		}
	}
}

// children calls fn for each child element of the current element until
// its end tag; text other than whitespace is an error.
func (p *parser) children(parent string, fn func(xml.StartElement) error) error {
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return errf("The FetchXML is not well-formed XML: %v.", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p.elements++
			if p.elements > maxElements {
				return errf("The FetchXML has more than %d elements.", maxElements)
			}
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		case xml.CharData:
			if strings.TrimSpace(string(t)) != "" {
				return errf("The <%s> element has unexpected text %q.", parent, truncate(strings.TrimSpace(string(t)), 40))
			}
		case xml.Directive:
			return errf("The FetchXML may not contain a <!%s> directive.", truncate(string(t), 20))
		}
	}
}

// empty consumes an element that must have no children.
func (p *parser) empty(name string) error {
	return p.children(name, func(c xml.StartElement) error {
		return errf("The <%s> element cannot contain a <%s> element.", name, c.Name.Local)
	})
}

// attrs reads an element's attributes, refusing any not in allowed.
func attrs(el xml.StartElement, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range el.Attr {
		name := a.Name.Local
		if a.Name.Space != "" {
			return nil, errf("The <%s> element has an unsupported attribute '%s:%s'.", el.Name.Local, a.Name.Space, name)
		}
		ok := false
		for _, n := range allowed {
			ok = ok || n == name
		}
		if !ok {
			return nil, errf("The attribute '%s' of the <%s> element is not supported by this server.", name, el.Name.Local)
		}
		if _, dup := out[name]; dup {
			return nil, errf("The <%s> element has the attribute '%s' twice.", el.Name.Local, name)
		}
		out[name] = a.Value
	}
	return out, nil
}

// boolAttr reads "true", "false", "1" or "0".
func boolAttr(el, name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, errf("The attribute '%s' of <%s> must be true or false, not '%s'.", name, el, truncate(v, 40))
}

// intAttr reads a positive whole number.
func intAttr(el, name, v string, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > max {
		return 0, errf("The attribute '%s' of <%s> must be a whole number from 1 to %d, not '%s'.", name, el, max, truncate(v, 40))
	}
	return n, nil
}

func (p *parser) fetch(el xml.StartElement) (*Fetch, error) {
	// version, output-format, mapping and no-lock change nothing here;
	// Microsoft's samples send them, so they are accepted.
	a, err := attrs(el, "count", "page", "paging-cookie", "returntotalrecordcount", "distinct",
		"version", "output-format", "mapping", "no-lock")
	if err != nil {
		return nil, err
	}
	f := &Fetch{PagingCookie: a["paging-cookie"]}
	if v, ok := a["count"]; ok {
		if f.Count, err = intAttr("fetch", "count", v, MaxCount); err != nil {
			return nil, err
		}
	}
	if v, ok := a["page"]; ok {
		if f.Page, err = intAttr("fetch", "page", v, 1<<20); err != nil {
			return nil, err
		}
	}
	if f.ReturnTotal, err = boolAttr("fetch", "returntotalrecordcount", a["returntotalrecordcount"]); err != nil {
		return nil, err
	}
	if f.Distinct, err = boolAttr("fetch", "distinct", a["distinct"]); err != nil {
		return nil, err
	}
	if v, ok := a["mapping"]; ok && v != "logical" {
		return nil, errf("The mapping '%s' is not supported; use mapping='logical'.", truncate(v, 40))
	}
	seen := false
	err = p.children("fetch", func(c xml.StartElement) error {
		if c.Name.Local != "entity" {
			return errf("The <fetch> element cannot contain a <%s> element; it holds one <entity>.", c.Name.Local)
		}
		if seen {
			return errf("A FetchXML query has exactly one <entity> element.")
		}
		seen = true
		return p.entity(c, &f.Entity)
	})
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, errf("The <fetch> element needs an <entity name=\"...\"> element.")
	}
	return f, nil
}

func (p *parser) entity(el xml.StartElement, e *Entity) error {
	a, err := attrs(el, "name")
	if err != nil {
		return err
	}
	if e.Name = a["name"]; e.Name == "" {
		return errf("The <entity> element needs a name attribute.")
	}
	return p.children("entity", func(c xml.StartElement) error {
		switch c.Name.Local {
		case "attribute":
			a, err := attrs(c, "name")
			if err != nil {
				return err
			}
			if a["name"] == "" {
				return errf("The <attribute> element needs a name attribute.")
			}
			e.Attributes = append(e.Attributes, a["name"])
			return p.empty("attribute")
		case "all-attributes":
			if _, err := attrs(c); err != nil {
				return err
			}
			e.AllAttributes = true
			return p.empty("all-attributes")
		case "order":
			a, err := attrs(c, "attribute", "descending")
			if err != nil {
				return err
			}
			if a["attribute"] == "" {
				return errf("The <order> element needs an attribute attribute (ordering by an alias is not supported).")
			}
			desc, err := boolAttr("order", "descending", a["descending"])
			if err != nil {
				return err
			}
			e.Orders = append(e.Orders, Order{Attribute: a["attribute"], Descending: desc})
			return p.empty("order")
		case "filter":
			f, err := p.filter(c, 1)
			if err != nil {
				return err
			}
			e.Filters = append(e.Filters, f)
			return nil
		case "link-entity":
			l, err := p.link(c)
			if err != nil {
				return err
			}
			e.Links = append(e.Links, l)
			return nil
		}
		return errf("The <entity> element cannot contain a <%s> element; this server supports attribute, all-attributes, order, filter and link-entity.", c.Name.Local)
	})
}

func (p *parser) filter(el xml.StartElement, depth int) (*Filter, error) {
	if depth > maxDepth {
		return nil, errf("The filters of the FetchXML are nested more than %d deep.", maxDepth)
	}
	a, err := attrs(el, "type")
	if err != nil {
		return nil, err
	}
	f := &Filter{Type: "and"}
	switch t := a["type"]; t {
	case "", "and":
	case "or":
		f.Type = "or"
	default:
		return nil, errf("The filter type '%s' is not valid; use and or or.", truncate(t, 40))
	}
	err = p.children("filter", func(c xml.StartElement) error {
		switch c.Name.Local {
		case "condition":
			cond, err := p.condition(c)
			if err != nil {
				return err
			}
			f.Conditions = append(f.Conditions, cond)
			return nil
		case "filter":
			sub, err := p.filter(c, depth+1)
			if err != nil {
				return err
			}
			f.Filters = append(f.Filters, sub)
			return nil
		}
		return errf("The <filter> element cannot contain a <%s> element; it holds conditions and filters.", c.Name.Local)
	})
	return f, err
}

func (p *parser) condition(el xml.StartElement) (*Condition, error) {
	a, err := attrs(el, "attribute", "operator", "value", "entityname")
	if err != nil {
		return nil, err
	}
	c := &Condition{EntityName: a["entityname"], Attribute: a["attribute"], Operator: a["operator"]}
	c.Value, c.HasValue = a["value"]
	if c.Attribute == "" {
		return nil, errf("The <condition> element needs an attribute attribute.")
	}
	if c.Operator == "" {
		return nil, errf("The condition on '%s' needs an operator attribute.", truncate(c.Attribute, 100))
	}
	err = p.children("condition", func(v xml.StartElement) error {
		if v.Name.Local != "value" {
			return errf("The <condition> element cannot contain a <%s> element; it holds <value> elements.", v.Name.Local)
		}
		if _, err := attrs(v); err != nil {
			return err
		}
		var text strings.Builder
		for {
			tok, err := p.dec.Token()
			if err != nil {
				return errf("The FetchXML is not well-formed XML: %v.", err)
			}
			switch t := tok.(type) {
			case xml.CharData:
				text.Write(t)
				continue
			case xml.EndElement:
				c.Values = append(c.Values, strings.TrimSpace(text.String()))
				return nil
			case xml.StartElement:
				return errf("The <value> element cannot contain a <%s> element.", t.Name.Local)
			}
		}
	})
	return c, err
}

func (p *parser) link(el xml.StartElement) (*Link, error) {
	a, err := attrs(el, "name", "from", "to", "link-type", "alias", "visible", "intersect")
	if err != nil {
		return nil, err
	}
	l := &Link{Name: a["name"], From: a["from"], To: a["to"], LinkType: a["link-type"], Alias: a["alias"]}
	switch l.LinkType {
	case "":
		l.LinkType = "inner"
	case "inner", "outer":
	default:
		return nil, errf("The link-type '%s' is not supported; use inner or outer.", truncate(l.LinkType, 40))
	}
	err = p.children("link-entity", func(c xml.StartElement) error {
		switch c.Name.Local {
		case "filter":
			f, err := p.filter(c, 1)
			if err != nil {
				return err
			}
			l.Filters = append(l.Filters, f)
			return nil
		case "attribute", "all-attributes", "order", "link-entity":
			return errf("A <%s> inside <link-entity> is not supported by this server; a link-entity may hold filters only.", c.Name.Local)
		}
		return errf("The <link-entity> element cannot contain a <%s> element.", c.Name.Local)
	})
	return l, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
