package webapi

import (
	"net/http"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// list answers GET <set>, with $-options or a fetchXml query.
func (c *call) list(ent *records.Entity) error {
	if c.query.HasFetch {
		return c.listFetch(ent)
	}
	spec, err := odata.ParseSpec(c.query, ent, true)
	if err != nil {
		return err
	}
	recs, err := c.candidates(ent, spec)
	if err != nil {
		return err
	}
	// Rows the caller may not read are left out before paging and
	// counting, as Dataverse leaves them out of a query.
	if recs, err = c.Readable(c.q(), ent, recs); err != nil {
		return err
	}
	rows := make([]odata.Row, len(recs))
	for i, r := range recs {
		// Secured columns the caller may not read are null here too, so
		// a filter or order on them discloses nothing.
		v, err := c.ReadView(c.q(), ent, r)
		if err != nil {
			return err
		}
		rows[i] = odata.Row{Seq: r.Seq, View: v, Index: i}
	}
	page, err := spec.Page(rows, c.prefer.MaxPageSize)
	if err != nil {
		return err
	}
	if page.Applied != "" {
		c.applied = append(c.applied, page.Applied)
	}
	cache := names{}
	values := make([]wire.Object, 0, len(page.Rows))
	for _, r := range page.Rows {
		o, err := c.represent(c.q(), cache, ent, recs[r.Index], spec)
		if err != nil {
			return err
		}
		values = append(values, o)
	}
	body := wire.Object{{"@odata.context", c.contextURL(ent, spec, false)}}
	if spec.Count {
		body = append(body, wire.KV{"@odata.count", min(page.Total, odata.MaxPage)})
	}
	body = append(body, wire.KV{"value", values})
	if page.Next != "" {
		body = append(body, wire.KV{"@odata.nextLink", c.query.NextLink(c.base+ent.Set, page.Next)})
	}
	c.applyAnnotationsPref()
	c.respond(http.StatusOK, body)
	return nil
}

// candidates returns the records a query can match. Two filters are
// answered from an index, as Dataverse answers them, instead of by reading
// every record of the table: one on an email's messageid (duplicate
// checks), and one on address columns (the agent resolves the parties of
// every message it tracks that way). The full filter is still applied to
// the candidates, so an index only has to find a superset.
func (c *call) candidates(ent *records.Entity, spec *odata.Spec) ([]*store.Record, error) {
	if ent.Set == "emails" {
		if m, ok := odata.AndedEq(spec.Filter, "messageid"); ok {
			return store.FindByMessageID(c.ctx, c.q(), m, true)
		}
	}
	// Only the tables address resolution searches have address indexes.
	if addrs, ok := odata.EqAnyOf(spec.Filter, ent.EmailCols); ok && len(addrs) <= maxIndexedAddresses && records.Indexed(ent) {
		return c.ByAddresses(c.q(), ent, addrs)
	}
	return store.ListRecords(c.ctx, c.q(), ent.Set)
}

// maxIndexedAddresses bounds the index lookups of one query; a filter
// naming more addresses reads the table once instead.
const maxIndexedAddresses = 64

// retrieve answers GET <set>(<id>).
func (c *call) retrieve(ent *records.Entity, id string) error {
	spec, err := odata.ParseSpec(c.query, ent, false)
	if err != nil {
		return err
	}
	rec, err := store.GetRecord(c.ctx, c.q(), ent.Set, id)
	if err != nil {
		return err
	}
	if rec == nil {
		return wire.RecordNotFound(ent.Logical, id)
	}
	if err := c.CheckAccess(c.q(), ent, rec, "Read"); err != nil {
		return err
	}
	if inm := c.r.Header.Get("If-None-Match"); inm != "" && spec.Expand == nil && c.prefer.Annotations == "" &&
		records.ETagMatches(inm, rec) {
		c.w.Header().Set("ETag", records.ETag(rec))
		c.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return c.writeRecord(http.StatusOK, ent, rec, spec)
}

// writeRecord answers with one record.
func (c *call) writeRecord(status int, ent *records.Entity, rec *store.Record, spec *odata.Spec) error {
	o, err := c.represent(c.q(), names{}, ent, rec, spec)
	if err != nil {
		return err
	}
	body := append(wire.Object{{"@odata.context", c.contextURL(ent, spec, true)}}, o...)
	c.w.Header().Set("ETag", records.ETag(rec))
	c.applyAnnotationsPref()
	c.respond(status, body)
	return nil
}
