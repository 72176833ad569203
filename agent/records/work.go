package records

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// work brings one record and its item in step.
func (s *Syncer) work(ctx context.Context, pol *Policy, coll dav.Collection, j *job, rep *Report) error {
	kr := rep.Kinds[j.sp.kind]
	switch {
	case j.gone || (j.link != nil && j.row == nil):
		// Out of the filters, deleted, or no longer readable: the item
		// goes too.
		// Only items crmsync made are removed; an item the user made and
		// tracked stays theirs, unlinked.
		if j.link != nil && !j.removed && strings.HasPrefix(pathBase(j.href), "crm-") {
			err := s.o.DAV.Delete(ctx, j.href, j.link.ETag)
			if errors.Is(err, dav.ErrPrecondition) {
				rep.notice("A %s that left your sync filters had been edited in your %s; the edit was not sent and the item was removed.",
					singular(j.sp), where(j.sp))
				err = s.o.DAV.Delete(ctx, j.href, "")
			}
			if err != nil {
				return fmt.Errorf("records: remove an item: %w", err)
			}
			kr.ToItems.Deleted++
		}
		return s.o.Store.DeleteLink(ctx, int(j.sp.kind), j.id)
	case j.row == nil:
		return nil // listed, then gone before it could be read
	case j.link == nil && j.obj == nil:
		return s.create(ctx, pol, coll, j, rep)
	case j.link != nil && j.removed:
		return s.removedItem(ctx, pol, coll, j, rep)
	}
	return s.merge(ctx, pol, coll, j, rep)
}

func singular(sp *spec) string { return strings.TrimSuffix(sp.noun, "s") }

func where(sp *spec) string {
	if sp.kind == Contacts {
		return "address book"
	}
	return "calendar"
}

// create writes the item of a record new to the filters.
func (s *Syncer) create(ctx context.Context, pol *Policy, coll dav.Collection, j *job, rep *Report) error {
	cv := crmValues(j.sp, pol.fields[j.sp.kind], j.row, rowAddrs(j.row))
	data, err := j.sp.encode(nil, itemUID(j.id), j.id, pol.owned(j.sp.kind), cv)
	if err != nil {
		return fmt.Errorf("records: write the item of %s %s: %w", singular(j.sp), j.id, err)
	}
	href := coll.Href + itemName(j.sp, j.id)
	etag, err := s.o.DAV.Put(ctx, href, data, coll.Kind, "")
	if errors.Is(err, dav.ErrPrecondition) {
		// The item is there already: written by a pass that ended before
		// it could note the link. Bring it in step instead.
		got, gerr := s.o.DAV.Get(ctx, coll.Href, coll.Kind, []string{href})
		if gerr != nil || len(got) == 0 {
			return fmt.Errorf("records: write the item of %s %s: %w", singular(j.sp), j.id, errors.Join(err, gerr))
		}
		j.href, j.etag, j.obj = href, got[0].ETag, &got[0]
		return s.merge(ctx, pol, coll, j, rep)
	}
	if err != nil {
		return fmt.Errorf("records: write the item of %s %s: %w", singular(j.sp), j.id, err)
	}
	rep.Kinds[j.sp.kind].ToItems.Created++
	base := item.Values{}
	for _, f := range pol.fields[j.sp.kind] {
		if f.toDAV {
			base[f.ex] = cv[f.ex]
		}
	}
	return s.save(ctx, pol, j, href, etag, rowVersion(j.row), base)
}

// save notes the link of a record and its item, with the values both
// sides now agree on.
func (s *Syncer) save(ctx context.Context, pol *Policy, j *job, href, etag string, version int64, agreed item.Values) error {
	h := hashValues(s.o.Store, pol.fields[j.sp.kind], agreed)
	return s.o.Store.PutLink(ctx, cache.Link{Kind: int(j.sp.kind), CRMID: j.id, Href: keptHref(href),
		HrefHash: s.o.Store.HashHref(href), ETag: etag, Version: version, Fields: h.encode()})
}

// removedItem handles an item the user deleted: an appointment or task
// they own is deleted in the CRM too; anything else is put back, since
// it is still in their filters.
func (s *Syncer) removedItem(ctx context.Context, pol *Policy, coll dav.Collection, j *job, rep *Report) error {
	owner, _ := j.row["_ownerid_value"].(string)
	if j.sp.kind != Contacts && strings.EqualFold(owner, s.o.UserID) {
		if err := s.c.DeleteRow(ctx, j.sp.set, j.id); err != nil {
			return fmt.Errorf("records: delete %s %s: %w", singular(j.sp), j.id, err)
		}
		rep.Kinds[j.sp.kind].ToCRM.Deleted++
		return s.o.Store.DeleteLink(ctx, int(j.sp.kind), j.id)
	}
	name := j.row[j.sp.primaryName()]
	if j.sp.kind == Contacts {
		rep.notice("%v was deleted from your address book but is still in your sync filters, so it was put back; contacts are deleted in the CRM, not from the address book.", name)
	} else {
		rep.notice("%q was deleted from your calendar, but it belongs to a colleague, so it was kept in the CRM and put back.", name)
	}
	if err := s.o.Store.DeleteLink(ctx, int(j.sp.kind), j.id); err != nil {
		return err
	}
	j.link, j.obj = nil, nil
	return s.create(ctx, pol, coll, j, rep)
}

func (sp *spec) primaryName() string {
	if sp.kind == Contacts {
		return "fullname"
	}
	return "subject"
}

// merge compares both sides with the values they last agreed on, field
// by field, and writes each side what it lacks: an edit on one side
// flows to the other where the field's direction allows; an edit on
// both sides keeps the CRM's value unless the field flows to the CRM
// only; an edit against the direction is undone and the user told.
func (s *Syncer) merge(ctx context.Context, pol *Policy, coll dav.Collection, j *job, rep *Report) error {
	kr := rep.Kinds[j.sp.kind]
	fields := pol.fields[j.sp.kind]
	cv := crmValues(j.sp, fields, j.row, rowAddrs(j.row))
	var dv item.Values
	uid, needID := itemUID(j.id), false
	if j.obj != nil {
		it, err := j.sp.decode(j.obj.Data)
		if err != nil {
			rep.notice("An item in your %s could not be read, so it was left as it is: %v", where(j.sp), err)
			return nil
		}
		dv, uid = it.Values, it.UID
		// An item without the record's ID (linked after a reinstall, or
		// tracked by a pass cut short) gets it now.
		needID = it.CRMID == ""
	}
	var base hashes
	davChanged := j.obj != nil
	if j.link != nil {
		base = decodeHashes(j.link.Fields)
		davChanged = j.obj != nil && j.obj.ETag != j.link.ETag
	}
	agreed := item.Values{}
	var toDAV, toCRM []field
	name := cv["FullName"] + cv["Subject"]
	for _, f := range fields {
		bh, known := base[f.ex]
		cChanged := !known || !bytes.Equal(s.o.Store.HashValue(f.ex, cv[f.ex]), bh)
		dChanged := davChanged && (!known || !bytes.Equal(s.o.Store.HashValue(f.ex, dv[f.ex]), bh))
		switch {
		case dChanged && cv[f.ex] == dv[f.ex]:
			agreed[f.ex] = cv[f.ex]
		case dChanged && f.toCRM && (!cChanged || f.dir == crm.SyncToCRM):
			toCRM = append(toCRM, f)
			agreed[f.ex] = dv[f.ex]
		case dChanged && f.toDAV:
			toDAV = append(toDAV, f)
			agreed[f.ex] = cv[f.ex]
			if cChanged && known {
				kr.Conflicts++
				rep.notice("%s of %q was changed both in the CRM and in your %s; the CRM's value was kept.", f.ex, name, where(j.sp))
			} else if known {
				rep.notice("Your change to %s of %q was not sent: the CRM's administrator lets that field flow from the CRM only.", f.ex, name)
			}
		case dChanged:
			agreed[f.ex] = dv[f.ex] // a field that flows nowhere from here
		case cChanged && f.toDAV:
			toDAV = append(toDAV, f)
			agreed[f.ex] = cv[f.ex]
		case known && !davChanged:
			continue // the agreed value stays as stored
		default:
			agreed[f.ex] = dv[f.ex]
		}
	}
	version := rowVersion(j.row)
	if len(toCRM) > 0 {
		body, err := crmBody(j.sp, toCRM, dv)
		if err != nil {
			rep.notice("Your change to %q could not be sent: %v", name, err)
			return nil
		}
		v, err := s.c.UpdateRow(ctx, j.sp.set, j.sp.key, j.id, version, body)
		if errors.Is(err, crm.ErrConflict) {
			return nil // changed in the CRM meanwhile: the next pass merges again
		}
		if err != nil {
			rep.notice("Your change to %q was refused by the CRM: %v", name, crm.UserMessage(err))
			return fmt.Errorf("records: update %s %s: %w", singular(j.sp), j.id, err)
		}
		version = v
		kr.ToCRM.Updated++
	}
	href, etag := j.href, j.etag
	if len(toDAV) > 0 || needID {
		var prev []byte
		if j.obj != nil {
			prev = j.obj.Data
		}
		owned := make([]string, 0, len(toDAV))
		for _, f := range toDAV {
			owned = append(owned, f.ex)
		}
		data, err := j.sp.encode(prev, uid, j.id, owned, cv)
		if err != nil {
			return fmt.Errorf("records: write the item of %s %s: %w", singular(j.sp), j.id, err)
		}
		if href == "" {
			href = coll.Href + itemName(j.sp, j.id)
		}
		etag, err = s.o.DAV.Put(ctx, href, data, coll.Kind, etag)
		if errors.Is(err, dav.ErrPrecondition) {
			return nil // changed on the server meanwhile: the next pass merges again
		}
		if err != nil {
			return fmt.Errorf("records: write the item of %s %s: %w", singular(j.sp), j.id, err)
		}
		kr.ToItems.Updated++
	}
	return s.saveMerged(ctx, pol, j, href, etag, version, agreed, base)
}

// saveMerged is save for a merge: fields the pass left alone keep the
// hash stored before.
func (s *Syncer) saveMerged(ctx context.Context, pol *Policy, j *job, href, etag string, version int64, agreed item.Values, base hashes) error {
	h := hashes{}
	for _, f := range pol.fields[j.sp.kind] {
		if v, ok := agreed[f.ex]; ok {
			h[f.ex] = s.o.Store.HashValue(f.ex, v)
		} else if bh, ok := base[f.ex]; ok {
			h[f.ex] = bh
		}
	}
	return s.o.Store.PutLink(ctx, cache.Link{Kind: int(j.sp.kind), CRMID: j.id, Href: keptHref(href),
		HrefHash: s.o.Store.HashHref(href), ETag: etag, Version: version, Fields: h.encode()})
}
