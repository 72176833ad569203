package dav

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Homes is what Discover found: the user's principal, the homes their
// address books and calendars live under, and those collections.
type Homes struct {
	Principal       string
	AddressBookHome string // "" when the server offers no CardDAV
	CalendarHome    string // "" when the server offers no CalDAV
	AddressBooks    []Collection
	Calendars       []Collection
}

// principalProps find the principal and its homes in one PROPFIND.
const principalProps = `<D:current-user-principal/><A:addressbook-home-set/><C:calendar-home-set/>`

// principal is what one PROPFIND of principalProps answered.
type principal struct {
	href, cardHome, calHome string
	at                      string // the href that answered
}

// Discover finds the account's principal and homes and lists the
// collections under each. When the account URL is a bare host it asks
// /.well-known/carddav and /.well-known/caldav first (RFC 6764), then
// the root; otherwise it asks the URL itself, which may be the principal
// or any URL on the server. Redirects are followed on the same server
// only.
func (c *Client) Discover(ctx context.Context) (Homes, error) {
	h, err := c.findHomes(ctx)
	if err != nil {
		return Homes{}, err
	}
	if err := c.listHomes(ctx, &h); err != nil {
		return Homes{}, err
	}
	return h, nil
}

// findHomes finds the principal and its homes.
func (c *Client) findHomes(ctx context.Context) (Homes, error) {
	p, err := c.findPrincipal(ctx)
	if err != nil {
		return Homes{}, err
	}
	if p, err = c.completeHomes(ctx, p); err != nil {
		return Homes{}, err
	}
	if p.cardHome == "" && p.calHome == "" {
		return Homes{}, fmt.Errorf("dav: %s has neither an address book home nor a calendar home; check the address", p.href)
	}
	return Homes{Principal: p.href, AddressBookHome: p.cardHome, CalendarHome: p.calHome}, nil
}

// completeHomes asks the principal for the home sets the URL that named
// it (a well-known one, the root) did not have.
func (c *Client) completeHomes(ctx context.Context, p principal) (principal, error) {
	if (p.cardHome != "" && p.calHome != "") || sameHref(p.at, p.href) {
		return p, nil
	}
	q, err := c.principalAt(ctx, p.href, false)
	if err != nil {
		return p, err
	}
	p.cardHome, p.calHome = first(p.cardHome, q.cardHome), first(p.calHome, q.calHome)
	return p, nil
}

// findPrincipal asks the candidate URLs in turn for the current user's
// principal. A refused login ends the search at once; other failures
// (a server without /.well-known/) move on to the next candidate.
func (c *Client) findPrincipal(ctx context.Context) (principal, error) {
	candidates := []string{c.start}
	if c.start == "/" {
		candidates = []string{"/.well-known/carddav", "/.well-known/caldav", "/"}
	}
	var last error
	for _, href := range candidates {
		p, err := c.principalAt(ctx, href, true)
		if err != nil {
			if errors.Is(err, ErrAuth) || ctx.Err() != nil {
				return principal{}, err
			}
			last = err
			continue
		}
		if p.href == "" && (p.cardHome != "" || p.calHome != "") {
			// A server without current-user-principal (RFC 5397) whose
			// URL has the home sets: that URL is as good as a principal.
			p.href = p.at
		}
		if p.href != "" {
			return p, nil
		}
	}
	if last != nil {
		return principal{}, last
	}
	return principal{}, fmt.Errorf("dav: the server at %s names no principal for %s; enter the address of your address book or calendar home",
		c.base.Host, c.acct.Username)
}

// principalAt asks href for the principal and its home sets.
func (c *Client) principalAt(ctx context.Context, href string, follow bool) (principal, error) {
	ms, rep, err := c.propfind(ctx, href, "0", principalProps, follow)
	if err != nil {
		return principal{}, err
	}
	p := principal{at: rep.href}
	eachResponse(ms, rep.href, func(_ string, r *response) {
		props, has := r.found()
		if !has {
			return
		}
		p.href = first(p.href, firstHref(props.Principal, rep.href))
		p.cardHome = first(p.cardHome, firstHref(props.CardHome, rep.href))
		p.calHome = first(p.calHome, firstHref(props.CalHome, rep.href))
	})
	if p.cardHome != "" {
		p.cardHome = asCollection(p.cardHome)
	}
	if p.calHome != "" {
		p.calHome = asCollection(p.calHome)
	}
	return p, nil
}

// firstHref is the first usable href of a property, decoded.
func firstHref(s hrefSet, base string) string {
	for _, raw := range s.Hrefs {
		if h, ok := decodeHref(raw, base); ok {
			return h
		}
	}
	return ""
}

// listHomes lists the collections under each home, once when both
// homes are the same (as on Radicale).
func (c *Client) listHomes(ctx context.Context, h *Homes) error {
	seen := map[string]bool{}
	for _, home := range []string{h.AddressBookHome, h.CalendarHome} {
		if home == "" || seen[home] {
			continue
		}
		seen[home] = true
		cols, err := c.collections(ctx, home)
		if err != nil {
			return err
		}
		for _, col := range cols {
			switch col.Kind {
			case AddressBook:
				h.AddressBooks = append(h.AddressBooks, col)
			case Calendar:
				h.Calendars = append(h.Calendars, col)
			}
		}
	}
	sort.Slice(h.AddressBooks, func(i, j int) bool { return h.AddressBooks[i].Href < h.AddressBooks[j].Href })
	sort.Slice(h.Calendars, func(i, j int) bool { return h.Calendars[i].Href < h.Calendars[j].Href })
	return nil
}

// collections lists the address books and calendars directly under
// home, with one PROPFIND of depth 1.
func (c *Client) collections(ctx context.Context, home string) ([]Collection, error) {
	ms, rep, err := c.propfind(ctx, home, "1", collProps, false)
	if err != nil {
		return nil, err
	}
	var cols []Collection
	eachResponse(ms, rep.href, func(href string, r *response) {
		if sameHref(href, home) {
			return
		}
		p, has := r.found()
		if !has {
			return
		}
		if col := toCollection(href, p); col.Kind != 0 {
			cols = append(cols, col)
		}
	})
	return cols, nil
}
