package webapi

import (
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// names caches primary names of lookup targets within one request.
type names map[store.Ref]string

func (c *call) nameOf(q store.Queryer, cache names, r *store.Ref) (string, error) {
	if n, ok := cache[*r]; ok {
		return n, nil
	}
	n := ""
	if r.Table == "businessunit" {
		n = c.s.Org.BusinessUnitName
	} else if ent, ok := c.s.Cat.Logical(r.Table); ok {
		rec, err := store.GetRecord(c.ctx, q, ent.Set, r.ID)
		if err != nil {
			return "", err
		}
		if rec != nil {
			n = rec.Str(ent.PrimaryName)
		}
	}
	cache[*r] = n
	return n, nil
}

// lookupAnnotations returns the annotations Dataverse puts before a
// _x_value property, as far as the client asked for them.
func (c *call) lookupAnnotations(q store.Queryer, cache names, ent *records.Entity, l *records.Lookup, prop string, r *store.Ref) ([]wire.KV, error) {
	var out []wire.KV
	if c.prefer.Want("OData.Community.Display.V1.FormattedValue") {
		n, err := c.nameOf(q, cache, r)
		if err != nil {
			return nil, err
		}
		out = append(out, wire.KV{prop + "@OData.Community.Display.V1.FormattedValue", n})
	}
	if c.prefer.Want("Microsoft.Dynamics.CRM.associatednavigationproperty") {
		out = append(out, wire.KV{prop + "@Microsoft.Dynamics.CRM.associatednavigationproperty", navFor(ent, l, r.Table)})
	}
	if c.prefer.Want("Microsoft.Dynamics.CRM.lookuplogicalname") {
		out = append(out, wire.KV{prop + "@Microsoft.Dynamics.CRM.lookuplogicalname", r.Table})
	}
	return out, nil
}

// navFor names the navigation property that leads to target.
func navFor(ent *records.Entity, l *records.Lookup, target string) string {
	best := ""
	for n, t := range l.Navs {
		switch {
		case t == target && strings.HasSuffix(n, "_"+ent.Logical):
			return n
		case t == target || (t == "" && best == ""):
			if best == "" || len(n) > len(best) {
				best = n
			}
		}
	}
	if best == "" {
		return l.Attr
	}
	return best
}

// represent renders a record with the selected properties and expansions.
func (c *call) represent(q store.Queryer, cache names, ent *records.Entity, rec *store.Record, spec *odata.Spec) (wire.Object, error) {
	o := wire.Object{{"@odata.etag", records.ETag(rec)}}
	v, err := c.ReadView(q, ent, rec)
	if err != nil {
		return nil, err
	}
	props := ent.AllProperties()
	if spec != nil && spec.Select != nil {
		props = spec.Select
		hasKey := false
		for _, p := range props {
			hasKey = hasKey || p == ent.Key
		}
		if !hasKey {
			// Dataverse always returns the primary key.
			props = append(append([]string{}, props...), ent.Key)
		}
	}
	for _, p := range props {
		if col, ok := ent.Column(p); ok && col.Options != nil && c.prefer.Want("OData.Community.Display.V1.FormattedValue") {
			// A choice column's formatted value is its label.
			if f, ok := v[p].(float64); ok {
				if label, ok := col.Options[int(f)]; ok {
					o = append(o, wire.KV{p + "@OData.Community.Display.V1.FormattedValue", label})
				}
			}
		}
		if l := ent.LookupByValue(p); l != nil {
			if r := rec.Lookups[l.Attr]; r != nil {
				ann, err := c.lookupAnnotations(q, cache, ent, l, p, r)
				if err != nil {
					return nil, err
				}
				o = append(o, ann...)
			}
		}
		o = append(o, wire.KV{p, v[p]})
	}
	if spec != nil && spec.Expand != nil && ent.PartyNav != "" {
		ps, err := store.ListParties(c.ctx, q, rec.ID)
		if err != nil {
			return nil, err
		}
		list := make([]wire.Object, 0, len(ps))
		for _, p := range ps {
			po, err := c.representParty(q, cache, p, spec.Expand.Select)
			if err != nil {
				return nil, err
			}
			list = append(list, po)
		}
		o = append(o, wire.KV{ent.PartyNav, list})
	}
	return o, nil
}

func (c *call) representParty(q store.Queryer, cache names, p *store.Party, sel []string) (wire.Object, error) {
	cols := sel
	if cols == nil {
		cols = records.PartyColumns
	}
	o := wire.Object{}
	seenKey := false
	for _, col := range cols {
		switch col {
		case "activitypartyid":
			seenKey = true
			o = append(o, wire.KV{col, p.ID})
		case "participationtypemask":
			o = append(o, wire.KV{col, p.Mask})
		case "addressused":
			o = append(o, wire.KV{col, nullIfEmpty(p.AddressUsed)})
		case "unresolvedpartyname":
			o = append(o, wire.KV{col, nullIfEmpty(p.Unresolved)})
		case "ispartydeleted":
			o = append(o, wire.KV{col, false})
		case "_activityid_value":
			o = append(o, wire.KV{col, p.ActivityID})
		case "_partyid_value":
			if p.Target == nil {
				o = append(o, wire.KV{col, nil})
				continue
			}
			if c.prefer.Want("OData.Community.Display.V1.FormattedValue") {
				n, err := c.nameOf(q, cache, p.Target)
				if err != nil {
					return nil, err
				}
				o = append(o, wire.KV{col + "@OData.Community.Display.V1.FormattedValue", n})
			}
			if c.prefer.Want("Microsoft.Dynamics.CRM.associatednavigationproperty") {
				o = append(o, wire.KV{col + "@Microsoft.Dynamics.CRM.associatednavigationproperty", "partyid_" + p.Target.Table})
			}
			if c.prefer.Want("Microsoft.Dynamics.CRM.lookuplogicalname") {
				o = append(o, wire.KV{col + "@Microsoft.Dynamics.CRM.lookuplogicalname", p.Target.Table})
			}
			o = append(o, wire.KV{col, p.Target.ID})
		}
	}
	if !seenKey {
		o = append(wire.Object{{"activitypartyid", p.ID}}, o...)
	}
	return o, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// contextURL is the @odata.context of a set or record answer.
func (c *call) contextURL(ent *records.Entity, q *odata.Spec, single bool) string {
	s := c.base + "$metadata#" + ent.Set
	var cols []string
	if q != nil {
		cols = append(cols, q.Select...)
		if q.Expand != nil {
			cols = append(cols, q.Expand.Name+"("+strings.Join(q.Expand.Select, ",")+")")
		}
	}
	if len(cols) > 0 {
		s += "(" + strings.Join(cols, ",") + ")"
	}
	if single {
		s += "/$entity"
	}
	return s
}
