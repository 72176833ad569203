package records

import (
	"cmp"
	"slices"
	"strings"

	"crmsync/agent/crm/localcrm/store"
)

// ResolutionOrder is the order in which an email address is matched to a
// record (systemuser, contact, account, lead), as the CRM does for
// incoming mail.
var ResolutionOrder = []string{"systemuser", "contact", "account", "lead"}

// hasAddress reports whether r, a record of e, holds addr (lower case) in
// one of e's own address columns. The store's address query searches the
// address columns of all tables, and a column one table keeps an address
// in could hold something else in another.
func hasAddress(r *store.Record, e *Entity, addr string) bool {
	for _, c := range e.EmailCols {
		if s, ok := r.Attrs[c].(string); ok && strings.ToLower(s) == addr {
			return true
		}
	}
	return false
}

// ByAddresses returns ent's records that have one of addrs in one of its
// address columns, oldest first, each once: an $filter on address columns
// answered from the address indexes.
func (c *Session) ByAddresses(q store.Queryer, ent *Entity, addrs []string) ([]*store.Record, error) {
	asked := map[string]bool{}
	found := map[string]bool{}
	var out []*store.Record
	for _, a := range addrs {
		a = strings.ToLower(a)
		if asked[a] {
			continue
		}
		asked[a] = true
		recs, err := store.FindByAddress(c.Ctx, q, a)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Set == ent.Set && !found[r.ID] && hasAddress(r, ent, a) {
				found[r.ID] = true
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *store.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// Indexed reports whether ent's address columns have the store's address
// indexes: those of the tables addresses are resolved in.
func Indexed(ent *Entity) bool { return slices.Contains(ResolutionOrder, ent.Logical) }

// ResolveAddress finds the record an address belongs to, in the CRM's
// order: systemuser, contact, account, lead (where the environment has
// leads); within a table the first-created active row wins; disabled
// users never match.
func (c *Session) ResolveAddress(q store.Queryer, addr string) (*store.Ref, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return nil, nil
	}
	recs, err := store.FindByAddress(c.Ctx, q, addr)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	for _, logical := range ResolutionOrder {
		ent, ok := c.Cat.Logical(logical)
		if !ok {
			continue // a table this environment does not have
		}
		for _, r := range recs {
			if r.Set != ent.Set || !hasAddress(r, ent, addr) {
				continue
			}
			if logical == "systemuser" {
				if d, _ := r.Attrs["isdisabled"].(bool); d {
					continue
				}
			} else if st, _ := r.Attrs["statecode"].(float64); st != 0 {
				continue
			}
			return &store.Ref{Table: logical, ID: r.ID}, nil
		}
	}
	return nil, nil
}
