package dav

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Ref names one item of a collection with its ETag, as the server
// writes it (quotes included).
type Ref struct {
	Href, ETag string
}

// Delta is what changed in a collection since a sync token.
type Delta struct {
	Changed []Ref    // added or modified, sorted by href
	Removed []string // gone, sorted
	Token   string   // the token to ask with next time
}

// maxSyncRounds bounds the requests of one Changes: a server that keeps
// saying "truncated" with a new token must not keep us forever.
const maxSyncRounds = 1000

// List returns the member items of coll with their ETags (one PROPFIND
// of depth 1), sorted by href: not the collection itself and not
// sub-collections. It is the fallback when Changes says ErrTokenInvalid,
// and the way to compare a collection whose server has no sync-token.
func (c *Client) List(ctx context.Context, coll string) ([]Ref, error) {
	coll = asCollection(cleanHref(coll))
	ms, rep, err := c.propfind(ctx, coll, "1", `<D:getetag/><D:resourcetype/>`, false)
	if err != nil {
		return nil, err
	}
	var refs []Ref
	eachResponse(ms, rep.href, func(href string, r *response) {
		if sameHref(href, coll) || strings.HasSuffix(href, "/") {
			return
		}
		p, has := r.found()
		if !has || p.ResourceType.Collection != nil {
			return
		}
		refs = append(refs, Ref{Href: href, ETag: strings.TrimSpace(p.ETag)})
	})
	sort.Slice(refs, func(i, j int) bool { return refs[i].Href < refs[j].Href })
	return refs, nil
}

// Changes asks what changed in coll since token with REPORT
// sync-collection (RFC 6578) at sync-level 1, for address books and
// calendars alike; token "" is the initial sync and lists every item.
// A server may cut a long answer short (a 507 for the collection itself,
// with a token for the part sent): Changes asks again from that token
// until the answer is complete, and merges the parts. A token the server
// refuses is ErrTokenInvalid.
func (c *Client) Changes(ctx context.Context, coll, token string) (Delta, error) {
	coll = asCollection(cleanHref(coll))
	type state struct {
		etag    string
		removed bool
	}
	seen := map[string]state{}
	for round := 0; ; round++ {
		if round == maxSyncRounds {
			return Delta{}, fmt.Errorf("dav: REPORT %s: the server kept cutting the list of changes short after %d requests", coll, round)
		}
		ms, truncated, err := c.syncReport(ctx, coll, token)
		if err != nil {
			return Delta{}, err
		}
		eachResponse(ms, coll, func(href string, r *response) {
			if sameHref(href, coll) || strings.HasSuffix(href, "/") {
				return
			}
			if code := statusCode(r.Status); code == http.StatusNotFound || code == http.StatusGone {
				seen[href] = state{removed: true}
				return
			}
			if p, has := r.found(); has {
				seen[href] = state{etag: strings.TrimSpace(p.ETag)}
			}
		})
		next := strings.TrimSpace(ms.SyncToken)
		if next == "" {
			return Delta{}, fmt.Errorf("dav: REPORT %s: the server's answer to sync-collection has no sync-token", coll)
		}
		if !truncated || next == token {
			token = next
			break
		}
		token = next
	}
	d := Delta{Token: token}
	for href, s := range seen {
		if s.removed {
			d.Removed = append(d.Removed, href)
		} else {
			d.Changed = append(d.Changed, Ref{Href: href, ETag: s.etag})
		}
	}
	sort.Slice(d.Changed, func(i, j int) bool { return d.Changed[i].Href < d.Changed[j].Href })
	sort.Strings(d.Removed)
	return d, nil
}

// syncReport sends one sync-collection REPORT and reports whether the
// server cut it short (RFC 6578 §3.6: a response for the collection
// itself with status 507).
func (c *Client) syncReport(ctx context.Context, coll, token string) (*multistatus, bool, error) {
	body := `<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>` + xmlText(token) +
		`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	// RFC 6578 §3.2 defines the report for Depth 0 only.
	ms, _, err := c.multistatus(ctx, call{method: "REPORT", href: coll, body: []byte(body)}, "0")
	if err != nil {
		return nil, false, err
	}
	truncated := false
	eachResponse(ms, coll, func(href string, r *response) {
		if sameHref(href, coll) && statusCode(r.Status) == http.StatusInsufficientStorage {
			truncated = true
		}
	})
	return ms, truncated, nil
}
