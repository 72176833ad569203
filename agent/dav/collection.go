package dav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kind of a collection.
type Kind int

// The kinds of collection the agent keeps items in.
const (
	AddressBook Kind = iota + 1
	Calendar
)

// String names the kind in messages.
func (k Kind) String() string {
	switch k {
	case AddressBook:
		return "address book"
	case Calendar:
		return "calendar"
	}
	return "collection"
}

// Collection is an address book or calendar on the server.
type Collection struct {
	Href       string   // absolute decoded path ending in "/", e.g. "/alice/contacts/"
	Name       string   // displayname
	Kind       Kind     // zero for a collection that is neither
	Components []string // calendars: supported components, e.g. ["VEVENT","VTODO"]
	CTag       string   // getctag (CalendarServer extension), "" if none
	SyncToken  string   // DAV:sync-token, "" if the server has none
}

// collProps are the properties that make a Collection.
const collProps = `<D:displayname/><D:resourcetype/><CS:getctag/><D:sync-token/><C:supported-calendar-component-set/>`

// toCollection reads a Collection from a response's props. Components
// are kept for calendars only: Radicale, for one, reports a component
// set on address books too.
func toCollection(href string, p prop) Collection {
	col := Collection{Href: asCollection(href), Name: strings.TrimSpace(p.DisplayName),
		CTag: strings.TrimSpace(p.CTag), SyncToken: strings.TrimSpace(p.SyncToken)}
	switch {
	case p.ResourceType.AddressBook != nil:
		col.Kind = AddressBook
	case p.ResourceType.Calendar != nil:
		col.Kind = Calendar
		for _, c := range p.Components {
			if c.Name != "" {
				col.Components = append(col.Components, c.Name)
			}
		}
	}
	return col
}

// Stat reads one collection's name, kind, ctag and sync token with one
// PROPFIND of depth 0.
func (c *Client) Stat(ctx context.Context, coll string) (Collection, error) {
	coll = cleanHref(coll)
	ms, rep, err := c.propfind(ctx, coll, "0", collProps, false)
	if err != nil {
		return Collection{}, err
	}
	var (
		col   Collection
		found bool
	)
	eachResponse(ms, rep.href, func(h string, r *response) {
		if found || !sameHref(h, coll) {
			return
		}
		if p, has := r.found(); has {
			col, found = toCollection(h, p), true
		}
	})
	if !found {
		return Collection{}, fmt.Errorf("dav: PROPFIND %s: the server's answer says nothing about the collection", coll)
	}
	return col, nil
}

// EnsureAddressBook returns the address book called name under the
// address book home of h: the one whose displayname is name, else the
// one whose last path segment is name (or its slug). When there is none
// it creates HOME/SLUG/ with an extended MKCOL (RFC 5689) and reports
// created.
func (c *Client) EnsureAddressBook(ctx context.Context, h Homes, name string) (col Collection, created bool, err error) {
	return c.ensure(ctx, h.AddressBookHome, h.AddressBooks, AddressBook, name, nil)
}

// EnsureCalendar is EnsureAddressBook for a calendar, created with
// MKCALENDAR (RFC 4791) and, unless components is empty, the
// supported-calendar-component-set it lists ("VEVENT", "VTODO").
func (c *Client) EnsureCalendar(ctx context.Context, h Homes, name string, components []string) (col Collection, created bool, err error) {
	return c.ensure(ctx, h.CalendarHome, h.Calendars, Calendar, name, components)
}

// ensure finds or makes a collection of kind under home.
func (c *Client) ensure(ctx context.Context, home string, have []Collection, kind Kind, name string, comps []string) (Collection, bool, error) {
	if strings.TrimSpace(name) == "" {
		return Collection{}, false, fmt.Errorf("dav: the %s needs a name", kind)
	}
	if home == "" {
		return Collection{}, false, fmt.Errorf("dav: the server has no %s home for this user; check the address", kind)
	}
	if col, ok := findCollection(have, name); ok {
		return col, false, nil
	}
	href := asCollection(cleanHref(home)) + slug(name) + "/"
	err := c.mkcol(ctx, href, kind, name, comps)
	var se *statusError
	if errors.As(err, &se) && (se.code == http.StatusMethodNotAllowed || se.cond == "resource-must-be-null") {
		// Something already lives there: made by another client since
		// Discover, or a collection the listing did not show. Use it if
		// it is what was asked for. MKCOL says so with 405 (RFC 4918
		// §9.3.1), MKCALENDAR with the resource-must-be-null
		// precondition (RFC 4791 §5.3.1.1), on Radicale with 409.
		col, serr := c.Stat(ctx, href)
		if serr == nil && col.Kind == kind {
			return col, false, nil
		}
		return Collection{}, false, fmt.Errorf("dav: %s already exists on the server and is not a %s; choose another name: %w", href, kind, err)
	}
	if err != nil {
		return Collection{}, false, err
	}
	col, err := c.Stat(ctx, href)
	if err != nil {
		return Collection{}, true, err
	}
	return col, true, nil
}

// findCollection looks for name among cols, by displayname first and
// then by last path segment, since a collection made by another client
// may have no displayname.
func findCollection(cols []Collection, name string) (Collection, bool) {
	for _, col := range cols {
		if col.Name == name {
			return col, true
		}
	}
	s := slug(name)
	for _, col := range cols {
		if seg := lastSegment(col.Href); seg == name || seg == s {
			return col, true
		}
	}
	return Collection{}, false
}

// slug turns a displayname into a path segment: lower-case ASCII letters,
// digits, "-" and "_", since some servers mangle anything else.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if s == "" {
		return "crmsync"
	}
	return s
}

// mkcol creates an address book (extended MKCOL) or a calendar
// (MKCALENDAR) at href with its displayname.
func (c *Client) mkcol(ctx context.Context, href string, kind Kind, name string, comps []string) error {
	var method, body string
	switch kind {
	case AddressBook:
		method = "MKCOL"
		body = `<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>` +
			`<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>` + xmlText(name) + `</D:displayname>` +
			`</D:prop></D:set></D:mkcol>`
	case Calendar:
		method = "MKCALENDAR"
		var set strings.Builder
		if len(comps) > 0 {
			set.WriteString(`<C:supported-calendar-component-set>`)
			for _, comp := range comps {
				set.WriteString(`<C:comp name="` + xmlText(strings.ToUpper(comp)) + `"/>`)
			}
			set.WriteString(`</C:supported-calendar-component-set>`)
		}
		body = `<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>` +
			`<D:displayname>` + xmlText(name) + `</D:displayname>` + set.String() + `</D:prop></D:set></C:mkcalendar>`
	default:
		return fmt.Errorf("dav: cannot create a collection of kind %d", kind)
	}
	rep, err := c.send(ctx, call{method: method, href: href, body: []byte(body)})
	if err != nil {
		return err
	}
	return rep.expect(method, http.StatusCreated, http.StatusOK, http.StatusNoContent)
}
