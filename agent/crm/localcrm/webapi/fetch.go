package webapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"crmsync/agent/crm/localcrm/fetchxml"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// The annotations of a FetchXML answer ([PAD] fetchxml/page-results.md,
// count-rows.md). Like every instance annotation they are sent only when
// the Prefer header's odata.include-annotations asks for them; on the last
// page morerecords and the paging cookie are left out, as Microsoft's page
// shows.
const (
	annPagingCookie = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
	annMoreRecords  = "Microsoft.Dynamics.CRM.morerecords"
	annTotal        = "Microsoft.Dynamics.CRM.totalrecordcount"
	annTotalLimit   = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
)

// fetchError turns a FetchXML problem into Dataverse's error shape: 400,
// QueryBuilderNoAttribute (0x80041103) for an unknown attribute, else
// 0x80040203 (UNCONFIRMED), with a sentence naming the problem.
func fetchError(err error) error {
	var fe *fetchxml.Error
	if errors.As(err, &fe) {
		code := wire.CodeInvalidQuery
		if fe.NoAttribute {
			code = wire.CodeNoAttribute
		}
		return wire.Errf(http.StatusBadRequest, code, "%s", fe.Msg)
	}
	return err
}

// listFetch answers GET <set>?fetchXml=...: the query runs over the rows
// the caller may read, with the secured columns they may not read as
// null, and answers the set's normal collection, paged by the fetch's
// count and page.
func (c *call) listFetch(ent *records.Entity) error {
	if len(c.query.Options) > 0 {
		names := make([]string, 0, len(c.query.Options))
		for k := range c.query.Options {
			names = append(names, k)
		}
		return wire.BadRequest("The fetchXml parameter cannot be combined with the query options %s; put the whole query in the FetchXML.", strings.Join(slices.Sorted(slices.Values(names)), ", "))
	}
	f, err := fetchxml.Parse(c.query.FetchXML)
	if err != nil {
		return fetchError(err)
	}
	q, err := fetchxml.Compile(f, records.FetchSchema(ent), fetchxml.Env{UserID: c.UserID, Now: c.s.Now()})
	if err != nil {
		return fetchError(err)
	}
	recs, err := store.ListRecords(c.ctx, c.q(), ent.Set)
	if err != nil {
		return err
	}
	if recs, err = c.Readable(c.q(), ent, recs); err != nil {
		return err
	}
	rows := make([]fetchxml.Row, len(recs))
	for i, r := range recs {
		v, err := c.ReadView(c.q(), ent, r)
		if err != nil {
			return err
		}
		rows[i].Attrs = records.FetchRow(ent, v)
		if q.NeedsParty {
			ps, err := store.ListParties(c.ctx, c.q(), r.ID)
			if err != nil {
				return err
			}
			for _, p := range ps {
				fp := fetchxml.Party{ActivityPartyID: p.ID, Mask: p.Mask, AddressUsed: p.AddressUsed}
				if p.Target != nil {
					fp.PartyID = p.Target.ID
				}
				rows[i].Parties = append(rows[i].Parties, fp)
			}
		}
	}
	res := q.Run(rows)
	// The chosen attributes as the Web API names them: lookups as _x_value.
	var sel []string
	for _, a := range q.Attributes {
		if _, ok := ent.Column(a); ok {
			sel = append(sel, a)
			continue
		}
		for _, l := range ent.Lookups {
			if l.Attr == a {
				sel = append(sel, l.ValueName())
			}
		}
	}
	spec := &odata.Spec{Select: sel}
	cache := names{}
	values := make([]wire.Object, 0, len(res.Indexes))
	for _, i := range res.Indexes {
		o, err := c.represent(c.q(), cache, ent, recs[i], spec)
		if err != nil {
			return err
		}
		values = append(values, o)
	}
	body := wire.Object{{"@odata.context", c.contextURL(ent, spec, false)}}
	if f.ReturnTotal && c.prefer.Want(annTotal) {
		body = append(body, wire.KV{"@" + annTotal, min(res.Total, fetchxml.MaxCount)},
			wire.KV{"@" + annTotalLimit, res.Total > fetchxml.MaxCount})
	}
	if res.More && len(res.Indexes) > 0 {
		if c.prefer.Want(annPagingCookie) {
			first, last := recs[res.Indexes[0]].ID, recs[res.Indexes[len(res.Indexes)-1]].ID
			body = append(body, wire.KV{"@" + annPagingCookie, fetchxml.PagingCookie(ent.Key, first, last, res)})
		}
		if c.prefer.Want(annMoreRecords) {
			body = append(body, wire.KV{"@" + annMoreRecords, true})
		}
	}
	body = append(body, wire.KV{"value", values})
	c.applyAnnotationsPref()
	c.respond(http.StatusOK, body)
	return nil
}
