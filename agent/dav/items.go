package dav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Object is one item with its data: a vCard or an iCalendar object.
type Object struct {
	Href, ETag string
	Data       []byte
}

// maxMultiget is the most hrefs one multiget asks for: servers limit
// their answers, and 100 contacts or events is well within every one.
const maxMultiget = 100

// Get reads the items hrefs of coll with addressbook-multiget (kind
// AddressBook) or calendar-multiget (Calendar), at most maxMultiget at a
// time, in the order the server answers. Items the server says are gone
// (404) are left out, as is an item it sends without data. Data has
// CRLF line ends whatever the XML carried them as. A part whose
// answer is too large to read is asked for again in halves.
func (c *Client) Get(ctx context.Context, coll string, kind Kind, hrefs []string) ([]Object, error) {
	coll = asCollection(cleanHref(coll))
	if kind != AddressBook && kind != Calendar {
		return nil, fmt.Errorf("dav: REPORT %s: unknown kind of collection %d", coll, kind)
	}
	var out []Object
	for len(hrefs) > 0 {
		n := min(len(hrefs), maxMultiget)
		objs, err := c.multiget(ctx, coll, kind, hrefs[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
		hrefs = hrefs[n:]
	}
	return out, nil
}

// multiget asks for one chunk of hrefs, halving it while the answer is
// over the size limit.
func (c *Client) multiget(ctx context.Context, coll string, kind Kind, hrefs []string) ([]Object, error) {
	objs, err := c.multigetOnce(ctx, coll, kind, hrefs)
	if !errors.Is(err, errTooLarge) || len(hrefs) == 1 {
		return objs, err
	}
	half := len(hrefs) / 2
	a, err := c.multiget(ctx, coll, kind, hrefs[:half])
	if err != nil {
		return nil, err
	}
	b, err := c.multiget(ctx, coll, kind, hrefs[half:])
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}

// multigetOnce sends one multiget REPORT.
func (c *Client) multigetOnce(ctx context.Context, coll string, kind Kind, hrefs []string) ([]Object, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	if kind == AddressBook {
		b.WriteString(`<A:addressbook-multiget xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><A:address-data/></D:prop>`)
	} else {
		b.WriteString(`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>`)
	}
	for _, h := range hrefs {
		b.WriteString(`<D:href>` + xmlText(encodeHref(cleanHref(h))) + `</D:href>`)
	}
	if kind == AddressBook {
		b.WriteString(`</A:addressbook-multiget>`)
	} else {
		b.WriteString(`</C:calendar-multiget>`)
	}
	// No Depth header: RFC 4791 §7.9 and RFC 6352 §8.7 have servers
	// ignore it for multigets.
	ms, _, err := c.multistatus(ctx, call{method: "REPORT", href: coll, body: []byte(b.String())}, "")
	if err != nil {
		return nil, err
	}
	var objs []Object
	eachResponse(ms, coll, func(href string, r *response) {
		if code := statusCode(r.Status); code != 0 && (code < 200 || code > 299) {
			return
		}
		p, has := r.found()
		if !has {
			return
		}
		data := p.AddressData
		if kind == Calendar {
			data = p.CalendarData
		}
		if data == "" {
			return
		}
		objs = append(objs, Object{Href: href, ETag: strings.TrimSpace(p.ETag), Data: crlf(data)})
	})
	return objs, nil
}

// crlf ends every line of data with CRLF, as vCard (RFC 6350 §3.2) and
// iCalendar (RFC 5545 §3.1) require: XML parsing turns the CRLFs a
// server sends unescaped into bare LFs (XML 1.0 §2.11), and Radicale
// sends them so.
func crlf(data string) []byte {
	if !strings.Contains(data, "\n") {
		return []byte(data)
	}
	data = strings.ReplaceAll(data, "\r\n", "\n")
	return []byte(strings.ReplaceAll(data, "\n", "\r\n"))
}

// Put writes data to href: a vCard for AddressBook, an iCalendar object
// for Calendar. With ifMatch "" it creates the item and fails with
// ErrPrecondition if one is already there (If-None-Match: *); otherwise
// it replaces the item only if its ETag is still ifMatch. It returns the
// new ETag: the response's, or, when the server sends none or a weak
// one (it changed the data as it stored it), the stored item's.
func (c *Client) Put(ctx context.Context, href string, data []byte, kind Kind, ifMatch string) (string, error) {
	href = cleanHref(href)
	h := http.Header{}
	switch kind {
	case AddressBook:
		h.Set("Content-Type", "text/vcard; charset=utf-8")
	case Calendar:
		h.Set("Content-Type", "text/calendar; charset=utf-8")
	default:
		return "", fmt.Errorf("dav: PUT %s: unknown kind of item %d", href, kind)
	}
	if ifMatch == "" {
		h.Set("If-None-Match", "*")
	} else {
		h.Set("If-Match", quoteETag(ifMatch))
	}
	if data == nil {
		data = []byte{}
	}
	rep, err := c.send(ctx, call{method: "PUT", href: href, header: h, body: data})
	if err != nil {
		return "", err
	}
	if err := rep.expect("PUT", http.StatusCreated, http.StatusNoContent, http.StatusOK); err != nil {
		return "", err
	}
	if etag := strings.TrimSpace(rep.resp.Header.Get("ETag")); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag, nil
	}
	return c.etag(ctx, href)
}

// etag reads one item's ETag with a PROPFIND of depth 0.
func (c *Client) etag(ctx context.Context, href string) (string, error) {
	ms, rep, err := c.propfind(ctx, href, "0", `<D:getetag/>`, false)
	if err != nil {
		return "", err
	}
	var etag string
	eachResponse(ms, rep.href, func(h string, r *response) {
		if p, has := r.found(); has && h == href {
			etag = first(etag, strings.TrimSpace(p.ETag))
		}
	})
	if etag == "" {
		return "", fmt.Errorf("dav: PROPFIND %s: the server gives no ETag for the item it stored", href)
	}
	return etag, nil
}

// Delete removes href; with ifMatch only if its ETag is still that
// (ErrPrecondition otherwise), with "" unconditionally. An item that is
// already gone (404, 410) counts as deleted.
func (c *Client) Delete(ctx context.Context, href, ifMatch string) error {
	href = cleanHref(href)
	h := http.Header{}
	if ifMatch != "" {
		h.Set("If-Match", quoteETag(ifMatch))
	}
	rep, err := c.send(ctx, call{method: "DELETE", href: href, header: h})
	if err != nil {
		return err
	}
	return rep.expect("DELETE", http.StatusOK, http.StatusNoContent, http.StatusAccepted, http.StatusNotFound, http.StatusGone)
}

// quoteETag puts quotes around an ETag given without them: an If-Match
// with a bare value matches nothing, and the caller's ETag may have
// lost its quotes on the way through a store.
func quoteETag(etag string) string {
	etag = strings.TrimSpace(etag)
	if strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") || etag == "*" {
		return etag
	}
	return `"` + etag + `"`
}
