package records

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"crmsync/agent/cache"
	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// davState is what the server says changed in a collection since the
// last pass.
type davState struct {
	full    bool               // changed lists every member: links not in it are gone
	changed map[string]dav.Ref // by hex href hash
	removed map[string]string  // href by hex href hash
	token   string             // to keep when the pass completes
	same    bool               // nothing changed; token is the stored one
}

// readDAV asks the server what changed: nothing, when the sync token (or
// ctag) is the one stored; the changes since it, by sync-collection; or
// every member, for a first pass, a refused token or a server without
// sync-collection.
func (s *Syncer) readDAV(ctx context.Context, coll dav.Collection) (*davState, error) {
	stored, _, err := s.o.Store.Get(ctx, tokenKey(coll.Kind))
	if err != nil {
		return nil, err
	}
	st, err := s.o.DAV.Stat(ctx, coll.Href)
	if err != nil {
		return nil, err
	}
	ds := &davState{changed: map[string]dav.Ref{}, removed: map[string]string{}}
	add := func(refs []dav.Ref) {
		for _, r := range refs {
			ds.changed[hex.EncodeToString(s.o.Store.HashHref(r.Href))] = r
		}
	}
	if st.SyncToken != "" {
		if string(stored) == st.SyncToken {
			ds.same, ds.token = true, st.SyncToken
			return ds, nil
		}
		var d dav.Delta
		if len(stored) > 0 && !bytes.HasPrefix(stored, []byte("ctag:")) {
			d, err = s.o.DAV.Changes(ctx, coll.Href, string(stored))
		}
		if len(stored) == 0 || bytes.HasPrefix(stored, []byte("ctag:")) || errors.Is(err, dav.ErrTokenInvalid) {
			ds.full = true
			d, err = s.o.DAV.Changes(ctx, coll.Href, "")
		}
		if err != nil {
			return nil, err
		}
		add(d.Changed)
		for _, h := range d.Removed {
			ds.removed[hex.EncodeToString(s.o.Store.HashHref(h))] = h
		}
		ds.token = d.Token
		return ds, nil
	}
	if st.CTag != "" && string(stored) == "ctag:"+st.CTag {
		ds.same, ds.token = true, string(stored)
		return ds, nil
	}
	refs, err := s.o.DAV.List(ctx, coll.Href)
	if err != nil {
		return nil, err
	}
	ds.full = true
	add(refs)
	if st.CTag != "" {
		ds.token = "ctag:" + st.CTag
	}
	return ds, nil
}

// job is one linked or linkable record being brought in step.
type job struct {
	sp      *spec
	id      string
	link    *cache.Link // nil for a record new on one side
	href    string      // the item's path, when known
	etag    string      // the item's ETag as the server last said
	row     map[string]any
	obj     *dav.Object
	removed bool // the item was deleted on the server
	gone    bool // the record left the filters or was deleted
}

// syncCollection brings the kinds kept in one collection in step.
func (s *Syncer) syncCollection(ctx context.Context, pol *Policy, coll dav.Collection, kinds []Kind, listing map[Kind]map[string]int64, rep *Report) error {
	ds, err := s.readDAV(ctx, coll)
	if err != nil {
		return fmt.Errorf("records: read %q: %w", coll.Name, err)
	}
	links := map[string]*job{}   // by hex href hash
	jobs := map[Kind][]*job{}    // work per kind
	byID := map[string]*job{}    // by kind and CRM ID
	unknown := map[string]bool{} // hex href hashes of changed items no link knows
	for _, k := range kinds {
		ls, err := s.o.Store.Links(ctx, int(k))
		if err != nil {
			return err
		}
		for i := range ls {
			l := &ls[i]
			j := &job{sp: specs[k], id: l.CRMID, link: l, href: linkHref(coll.Href, l.Href), etag: l.ETag}
			hh := hex.EncodeToString(l.HrefHash)
			links[hh] = j
			byID[key(k, l.CRMID)] = j
		}
	}
	for hh, r := range ds.changed {
		j, ok := links[hh]
		if !ok {
			unknown[hh] = true
			continue
		}
		j.href = r.Href
		if r.ETag != j.etag {
			j.etag = r.ETag
			j.obj = &dav.Object{Href: r.Href, ETag: r.ETag} // data fetched below
		}
	}
	for hh, h := range ds.removed {
		if j, ok := links[hh]; ok {
			j.href, j.removed = h, true
		}
	}
	if ds.full {
		for hh, j := range links {
			if _, ok := ds.changed[hh]; !ok {
				j.removed = true
			}
		}
	}
	// The CRM side: changed versions, records gone, records new.
	for _, k := range kinds {
		for id, v := range listing[k] {
			j, ok := byID[key(k, id)]
			if !ok {
				j = &job{sp: specs[k], id: id}
				byID[key(k, id)] = j
				jobs[k] = append(jobs[k], j)
				continue
			}
			if v != j.link.Version || j.obj != nil || j.removed {
				jobs[k] = append(jobs[k], j)
			}
		}
		for _, j := range byID {
			if j.sp.kind == k && j.link != nil {
				if _, ok := listing[k][j.id]; !ok {
					j.gone = true
					jobs[k] = append(jobs[k], j)
				}
			}
		}
	}
	// Item data: changed items, unknown items, and the current text of
	// items about to be rewritten (to keep what the user added).
	var fetch []string
	fetchJob := map[string]*job{}
	for _, k := range kinds {
		for _, j := range jobs[k] {
			if j.link != nil && !j.removed && !j.gone && j.href != "" {
				fetch = append(fetch, j.href)
				fetchJob[j.href] = j
			}
		}
	}
	for hh := range unknown {
		fetch = append(fetch, ds.changed[hh].Href)
	}
	if err := s.resolveHrefs(ctx, coll, kinds, jobs, &fetch, fetchJob); err != nil {
		return err
	}
	objs := map[string]*dav.Object{}
	if len(fetch) > 0 {
		got, err := s.o.DAV.Get(ctx, coll.Href, coll.Kind, fetch)
		if err != nil {
			return fmt.Errorf("records: read items of %q: %w", coll.Name, err)
		}
		for i := range got {
			objs[got[i].Href] = &got[i]
		}
	}
	for h, j := range fetchJob {
		if o, ok := objs[h]; ok {
			j.obj, j.etag = o, o.ETag
		} else {
			j.obj = nil
		}
	}
	// Unknown items: linked by their X-CRM-ID after a reinstall, tracked
	// when the user asked, or left alone.
	var creates []*job
	for hh := range unknown {
		o := objs[ds.changed[hh].Href]
		if o == nil {
			continue
		}
		k, it, ok := s.classify(kinds, o)
		if !ok {
			continue
		}
		switch {
		case it.CRMID != "" && inListing(listing[k], it.CRMID):
			j := byID[key(k, strings.ToLower(it.CRMID))]
			if j.link == nil {
				j.href, j.etag, j.obj = o.Href, o.ETag, o
			}
		case it.CRMID != "":
			// An item of a record that is no longer in the filters.
			if strings.HasPrefix(pathBase(o.Href), "crm-") {
				if err := s.o.DAV.Delete(ctx, o.Href, o.ETag); err == nil {
					rep.Kinds[k].ToItems.Deleted++
				}
			}
		case it.UID != "" && inListing(listing[k], recordID(s.o.UserID, it.UID)):
			// Tracked by a pass cut short before it wrote the record's ID
			// into the item: the record is this item's.
			j := byID[key(k, recordID(s.o.UserID, it.UID))]
			if j.link == nil {
				j.href, j.etag, j.obj = o.Href, o.ETag, o
			}
		case slices.ContainsFunc(it.Categories, func(c string) bool { return strings.EqualFold(c, item.TrackCategory) }):
			creates = append(creates, &job{sp: specs[k], href: o.Href, etag: o.ETag, obj: o})
		}
	}
	// CRM rows of every record being worked on.
	for _, k := range kinds {
		var ids []string
		for _, j := range jobs[k] {
			if !j.gone {
				ids = append(ids, j.id)
			}
		}
		if err := s.readRows(ctx, pol, k, ids, byID); err != nil {
			return err
		}
	}
	var errs []error
	for _, k := range kinds {
		for _, j := range jobs[k] {
			if err := s.work(ctx, pol, coll, j, rep); err != nil {
				errs = append(errs, err)
			}
		}
		rep.Kinds[k].Kept = len(listing[k])
	}
	for _, j := range creates {
		if err := s.track(ctx, pol, coll, j, rep); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if !ds.same && ds.token != "" {
		return s.o.Store.Set(ctx, tokenKey(coll.Kind), []byte(ds.token))
	}
	return nil
}

func key(k Kind, id string) string { return fmt.Sprintf("%d/%s", k, id) }

func pathBase(href string) string {
	if i := strings.LastIndexByte(strings.TrimSuffix(href, "/"), '/'); i >= 0 {
		return href[i+1:]
	}
	return href
}

// resolveHrefs finds the paths of linked items whose names were not kept,
// by listing the collection once, when some job needs one.
func (s *Syncer) resolveHrefs(ctx context.Context, coll dav.Collection, kinds []Kind, jobs map[Kind][]*job, fetch *[]string, fetchJob map[string]*job) error {
	var need []*job
	for _, k := range kinds {
		for _, j := range jobs[k] {
			if j.link != nil && j.href == "" && !j.removed {
				need = append(need, j)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	refs, err := s.o.DAV.List(ctx, coll.Href)
	if err != nil {
		return fmt.Errorf("records: list %q: %w", coll.Name, err)
	}
	byHash := map[string]dav.Ref{}
	for _, r := range refs {
		byHash[hex.EncodeToString(s.o.Store.HashHref(r.Href))] = r
	}
	for _, j := range need {
		r, ok := byHash[hex.EncodeToString(j.link.HrefHash)]
		if !ok {
			j.removed = true
			continue
		}
		j.href = r.Href
		if !j.gone {
			*fetch = append(*fetch, r.Href)
			fetchJob[r.Href] = j
		}
	}
	return nil
}

// classify decodes an item of a collection and says which kind it is.
func (s *Syncer) classify(kinds []Kind, o *dav.Object) (Kind, item.Item, bool) {
	for _, k := range kinds {
		it, err := specs[k].decode(o.Data)
		if err == nil {
			return k, it, true
		}
	}
	return 0, item.Item{}, false
}

// readRows reads the CRM rows of ids into their jobs; a record the user
// can no longer read stays without a row.
func (s *Syncer) readRows(ctx context.Context, pol *Policy, k Kind, ids []string, byID map[string]*job) error {
	if len(ids) == 0 {
		return nil
	}
	sp := specs[k]
	cols, expand := pol.selectCols(k)
	rows, err := s.c.Rows(ctx, sp.set, sp.key, ids, cols, expand)
	if err != nil {
		return fmt.Errorf("records: read %s: %w", sp.noun, err)
	}
	parties := map[string]string{}
	for _, row := range rows {
		id, _ := row[sp.key].(string)
		if j, ok := byID[key(k, strings.ToLower(id))]; ok {
			j.row = row
		}
		for _, p := range rowParties(row) {
			if p.id != "" {
				parties[p.id] = p.table
			}
		}
	}
	if len(parties) == 0 {
		return nil
	}
	addrs, err := s.c.PartyAddresses(ctx, parties)
	if err != nil {
		return fmt.Errorf("records: read attendees' addresses: %w", err)
	}
	for _, row := range rows {
		row[partyAddrsKey] = addrs
	}
	return nil
}

// partyAddrsKey carries the party addresses along with a row.
const partyAddrsKey = "\x00addrs"

func rowAddrs(row map[string]any) map[string]string {
	m, _ := row[partyAddrsKey].(map[string]string)
	return m
}

// rowVersion reads a row's versionnumber.
func rowVersion(row map[string]any) int64 {
	v, _ := row["versionnumber"].(float64)
	return int64(v)
}

func inListing(m map[string]int64, id string) bool {
	_, ok := m[strings.ToLower(id)]
	return ok
}
