package webapi

import (
	"database/sql"
	"net/http"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// create answers POST <set>.
func (c *call) create(ent *records.Entity) error {
	if ent.ReadOnly {
		return c.PrivilegeDenied(ent, nil, "Create")
	}
	spec, err := odata.ParseSpec(c.query, ent, false)
	if err != nil {
		return err
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	var rec *store.Record
	err = c.s.Store.Tx(c.ctx, func(tx *sql.Tx) error {
		ch, err := c.ParsePayload(tx, ent, body)
		if err != nil {
			return err
		}
		id := ch.ID
		if id == "" {
			id = wire.NewGUID()
		} else if existing, err := store.GetRecord(c.ctx, tx, ent.Set, id); err != nil {
			return err
		} else if existing != nil {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeDuplicate, "A record with matching key values already exists.")
		}
		rec, err = c.Insert(tx, ent, id, ch)
		return err
	})
	if err != nil {
		return err
	}
	return c.answerWrite(http.StatusCreated, ent, rec, spec)
}

// answerWrite finishes a create or update: 204 with OData-EntityId, or
// the record itself when the client asked for return=representation.
func (c *call) answerWrite(created int, ent *records.Entity, rec *store.Record, spec *odata.Spec) error {
	if c.prefer.Representation {
		c.applied = append(c.applied, "return=representation")
		return c.writeRecord(created, ent, rec, spec)
	}
	c.w.Header().Set("OData-EntityId", c.base+ent.Set+"("+rec.ID+")")
	c.respond(http.StatusNoContent, nil)
	return nil
}

// update answers PATCH <set>(<id>): an update, or an upsert unless the
// conditional headers forbid it.
func (c *call) update(ent *records.Entity, id string) error {
	if ent.ReadOnly {
		return c.PrivilegeDenied(ent, nil, "Write")
	}
	spec, err := odata.ParseSpec(c.query, ent, false)
	if err != nil {
		return err
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	ifMatch, ifNoneMatch := c.r.Header.Get("If-Match"), c.r.Header.Get("If-None-Match")
	status := http.StatusOK
	var rec *store.Record
	err = c.s.Store.Tx(c.ctx, func(tx *sql.Tx) error {
		old, err := store.GetRecord(c.ctx, tx, ent.Set, id)
		if err != nil {
			return err
		}
		ch, err := c.ParsePayload(tx, ent, body)
		if err != nil {
			return err
		}
		if ch.ID != "" && ch.ID != id {
			return wire.BadPayload("The key %s in the body does not match the key %s in the URL.", ch.ID, id)
		}
		if old == nil {
			if ifMatch != "" {
				return wire.RecordNotFound(ent.Logical, id)
			}
			status = http.StatusCreated
			rec, err = c.Insert(tx, ent, id, ch)
			return err
		}
		if ifNoneMatch == "*" {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeDuplicate, "A record with matching key values already exists.")
		}
		if ifMatch != "" && !records.ETagMatches(ifMatch, old) {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeConcurrency,
				"The version of the existing record doesn't match the RowVersion property provided.")
		}
		if err := c.CheckAccess(tx, ent, old, "Write"); err != nil {
			return err
		}
		if err := c.MayWrite(ent, old, "Write"); err != nil {
			return err
		}
		if err := records.CheckClosedActivity(ent, old, ch); err != nil {
			return err
		}
		if err := records.CheckEmailStatusChange(ent, old, ch); err != nil {
			return err
		}
		if err := c.CheckSecuredWrite(tx, ent, ch, false); err != nil {
			return err
		}
		prevMailbox, prevObject := lookupID(old, "mailboxid"), lookupID(old, "objectid")
		if err := c.Apply(ent, old, ch); err != nil {
			return err
		}
		if err := c.CheckWritten(ent, old, "Write"); err != nil {
			return err
		}
		if ent.Logical == "mailboxtrackingfolder" {
			if err := c.CheckFolderRule(tx, ent, old, prevMailbox); err != nil {
				return err
			}
		}
		if err := c.CheckFileRecord(tx, ent, old, prevObject); err != nil {
			return err
		}
		old.ModifiedOn = c.s.Now()
		old.Lookups["modifiedby"] = &store.Ref{Table: "systemuser", ID: c.user.ID}
		if ent.Set == "emails" {
			if err := c.CheckDuplicateMessageID(tx, old); err != nil {
				return err
			}
		}
		if err := store.UpdateRecord(c.ctx, tx, old); err != nil {
			return err
		}
		if ch.PartiesSet {
			if err := store.ReplaceParties(c.ctx, tx, id, ch.Parties); err != nil {
				return err
			}
		}
		rec = old
		return nil
	})
	if err != nil {
		return err
	}
	return c.answerWrite(status, ent, rec, spec)
}

// remove answers DELETE <set>(<id>).
func (c *call) remove(ent *records.Entity, id string) error {
	if ent.ReadOnly {
		return c.PrivilegeDenied(ent, nil, "Delete")
	}
	ifMatch := c.r.Header.Get("If-Match")
	err := c.s.Store.Tx(c.ctx, func(tx *sql.Tx) error {
		old, err := store.GetRecord(c.ctx, tx, ent.Set, id)
		if err != nil {
			return err
		}
		if old == nil {
			return wire.RecordNotFound(ent.Logical, id)
		}
		if ifMatch != "" && !records.ETagMatches(ifMatch, old) {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeConcurrency,
				"The version of the existing record doesn't match the RowVersion property provided.")
		}
		if err := c.CheckAccess(tx, ent, old, "Delete"); err != nil {
			return err
		}
		if err := c.MayWrite(ent, old, "Delete"); err != nil {
			return err
		}
		if err := store.DeleteRecord(c.ctx, tx, ent.Set, id); err != nil {
			return err
		}
		return c.AfterDelete(tx, ent, old)
	})
	if err != nil {
		return err
	}
	c.respond(http.StatusNoContent, nil)
	return nil
}

// partiesNav answers GET and PUT on an activity's party collection,
// emails(<id>)/email_activity_parties and
// appointments(<id>)/appointment_activity_parties.
func (c *call) partiesNav(ent *records.Entity, id string) error {
	switch c.r.Method {
	case http.MethodGet:
		rec, err := store.GetRecord(c.ctx, c.q(), ent.Set, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return wire.RecordNotFound(ent.Logical, id)
		}
		var sel []string
		if v, ok := c.query.Options["$select"]; ok {
			if sel, err = odata.ParseSelect(v, records.PartySchema); err != nil {
				return err
			}
		}
		ps, err := store.ListParties(c.ctx, c.q(), id)
		if err != nil {
			return err
		}
		cache := names{}
		list := make([]wire.Object, 0, len(ps))
		for _, p := range ps {
			o, err := c.representParty(c.q(), cache, p, sel)
			if err != nil {
				return err
			}
			list = append(list, o)
		}
		c.applyAnnotationsPref()
		c.respond(http.StatusOK, wire.Object{
			{"@odata.context", c.base + "$metadata#activityparties"},
			{"value", list},
		})
		return nil
	case http.MethodPut:
		body, err := c.readBody()
		if err != nil {
			return err
		}
		err = c.s.Store.Tx(c.ctx, func(tx *sql.Tx) error {
			rec, err := store.GetRecord(c.ctx, tx, ent.Set, id)
			if err != nil {
				return err
			}
			if rec == nil {
				return wire.RecordNotFound(ent.Logical, id)
			}
			if err := c.MayWrite(ent, rec, "Write"); err != nil {
				return err
			}
			ps, err := c.ParseParties(tx, ent, body["value"])
			if err != nil {
				return err
			}
			ch := &records.Change{Parties: ps, PartiesSet: true}
			if err := records.CheckClosedActivity(ent, rec, ch); err != nil {
				return err
			}
			rec.ModifiedOn = c.s.Now()
			if err := store.UpdateRecord(c.ctx, tx, rec); err != nil {
				return err
			}
			return store.ReplaceParties(c.ctx, tx, id, ps)
		})
		if err != nil {
			return err
		}
		c.respond(http.StatusNoContent, nil)
		return nil
	}
	return wire.MethodNotAllowed(c.r.Method, "'"+ent.PartyNav+"'", "GET", "PUT")
}

// reference answers PUT and DELETE on <set>(<id>)/<nav>/$ref, the other
// way to set and clear a lookup.
func (c *call) reference(ent *records.Entity, id, nav string) error {
	l, _, ok := ent.Nav(nav)
	if !ok {
		return wire.NotFoundSegment(nav)
	}
	var body map[string]any
	switch c.r.Method {
	case http.MethodPut:
		b, err := c.readBody()
		if err != nil {
			return err
		}
		body = b
	case http.MethodDelete:
	default:
		return wire.MethodNotAllowed(c.r.Method, "'"+nav+"/$ref'", "PUT", "DELETE")
	}
	err := c.s.Store.Tx(c.ctx, func(tx *sql.Tx) error {
		rec, err := store.GetRecord(c.ctx, tx, ent.Set, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return wire.RecordNotFound(ent.Logical, id)
		}
		if err := c.CheckAccess(tx, ent, rec, "Write"); err != nil {
			return err
		}
		if err := c.MayWrite(ent, rec, "Write"); err != nil {
			return err
		}
		prevMailbox, prevObject := lookupID(rec, "mailboxid"), lookupID(rec, "objectid")
		ch := records.NewChange()
		if body != nil {
			target, ok := body["@odata.id"]
			if !ok {
				return wire.BadPayload("The body of a $ref request must be {\"@odata.id\": \"<set>(<guid>)\"}.")
			}
			if err := c.BindNav(tx, ent, ch, nav, target); err != nil {
				return err
			}
		} else {
			if l.ReadOnly {
				return records.ReadOnlyAttribute(l.Attr)
			}
			if cur := rec.Lookups[l.Attr]; cur != nil {
				if _, t, _ := ent.Nav(nav); t != "" && cur.Table != t {
					return nil // the lookup points elsewhere; nothing to remove through this nav
				}
			}
			ch.Lookups[l.Attr] = nil
		}
		if err := records.CheckClosedActivity(ent, rec, ch); err != nil {
			return err
		}
		if err := c.Apply(ent, rec, ch); err != nil {
			return err
		}
		if err := c.CheckWritten(ent, rec, "Write"); err != nil {
			return err
		}
		if ent.Logical == "mailboxtrackingfolder" {
			if err := c.CheckFolderRule(tx, ent, rec, prevMailbox); err != nil {
				return err
			}
		}
		if err := c.CheckFileRecord(tx, ent, rec, prevObject); err != nil {
			return err
		}
		rec.ModifiedOn = c.s.Now()
		rec.Lookups["modifiedby"] = &store.Ref{Table: "systemuser", ID: c.user.ID}
		return store.UpdateRecord(c.ctx, tx, rec)
	})
	if err != nil {
		return err
	}
	c.respond(http.StatusNoContent, nil)
	return nil
}

// lookupID returns the id a record's lookup points at, "" when unset.
func lookupID(rec *store.Record, attr string) string {
	if r := rec.Lookups[attr]; r != nil {
		return r.ID
	}
	return ""
}
