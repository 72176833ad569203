package records

import (
	"context"
	"fmt"
	"sort"

	"crmsync/agent/crm"
)

// field is one synchronised field of a kind, as the administrator set it
// and as field security lets this user use it.
type field struct {
	crm, ex string // CRM column and Exchange name
	dir     int    // crm.SyncToExchange, SyncToCRM or SyncBoth
	toDAV   bool   // CRM values are written to the item
	toCRM   bool   // item edits are written to the CRM
}

// Policy is what the CRM's administrator and the user's filters decide:
// which records of each kind, and which fields flow which way.
type Policy struct {
	Filters map[Kind][]crm.SyncFilter
	fields  map[Kind][]field
	// Hidden lists, per kind, the mapped columns the user may not read
	// (field security); they are neither written out nor overwritten.
	Hidden map[Kind][]string
	// Ignored lists mappings this client cannot carry, as "table.column".
	Ignored []string
}

// Fields lists the synchronised fields of a kind as "Exchange name
// (direction)", for the settings view.
func (p *Policy) Fields(k Kind) []FieldRule {
	var out []FieldRule
	for _, f := range p.fields[k] {
		out = append(out, FieldRule{Field: f.ex, Column: f.crm, ToItem: f.toDAV, ToCRM: f.toCRM})
	}
	return out
}

// FieldRule is one field as the settings view shows it.
type FieldRule struct {
	Field, Column string
	ToItem, ToCRM bool
}

// loadPolicy reads the filters, the field mappings and the field security
// that apply to the user.
func loadPolicy(ctx context.Context, c CRM, userID string, kinds []Kind) (*Policy, error) {
	filters, err := c.SyncFilters(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("records: read the sync filters: %w", err)
	}
	maps, err := c.SyncMappings(ctx)
	if err != nil {
		return nil, fmt.Errorf("records: read the field mappings: %w", err)
	}
	var entities []string
	for _, k := range kinds {
		entities = append(entities, specs[k].entity)
	}
	secured, err := c.SecuredFields(ctx, userID, entities)
	if err != nil {
		return nil, fmt.Errorf("records: read field security: %w", err)
	}
	return buildPolicy(kinds, filters, maps, secured), nil
}

// buildPolicy combines what the CRM answered into a Policy.
func buildPolicy(kinds []Kind, filters []crm.SyncFilter, maps []crm.SyncMapping, secured map[string]map[string]crm.FieldAccess) *Policy {
	p := &Policy{Filters: map[Kind][]crm.SyncFilter{}, fields: map[Kind][]field{}, Hidden: map[Kind][]string{}}
	byEntity := map[string]Kind{}
	for _, k := range kinds {
		byEntity[specs[k].entity] = k
	}
	for _, f := range filters {
		if k, ok := byEntity[f.Entity]; ok {
			p.Filters[k] = append(p.Filters[k], f)
		}
	}
	for _, m := range maps {
		k, ok := byEntity[m.Entity]
		if !ok || m.Direction == crm.SyncNone {
			continue
		}
		sp := specs[k]
		if ex, ok := sp.fields[m.CRMAttr]; !ok || ex != m.ExchangeAttr {
			p.Ignored = append(p.Ignored, m.Entity+"."+m.CRMAttr)
			continue
		}
		f := field{crm: m.CRMAttr, ex: m.ExchangeAttr, dir: m.Direction}
		f.toDAV = m.Direction == crm.SyncToExchange || m.Direction == crm.SyncBoth
		f.toCRM = (m.Direction == crm.SyncToCRM || m.Direction == crm.SyncBoth) && !crmOnly[m.CRMAttr]
		if acc, isSecured := secured[m.Entity][m.CRMAttr]; isSecured {
			if !acc.Read {
				p.Hidden[k] = append(p.Hidden[k], m.CRMAttr)
				continue
			}
			f.toCRM = f.toCRM && acc.Update
		}
		p.fields[k] = append(p.fields[k], f)
	}
	for k := range p.fields {
		fs := p.fields[k]
		sort.Slice(fs, func(i, j int) bool { return fs[i].ex < fs[j].ex })
	}
	return p
}

// owned lists the Exchange names a pass writes to items of a kind.
func (p *Policy) owned(k Kind) []string {
	var out []string
	for _, f := range p.fields[k] {
		if f.toDAV {
			out = append(out, f.ex)
		}
	}
	return out
}

// selectCols lists the columns a pass reads of a kind's records, and the
// $expand of its parties when a party field is synchronised.
func (p *Policy) selectCols(k Kind) ([]string, string) {
	sp := specs[k]
	cols := []string{sp.key, "versionnumber", "statecode", "_ownerid_value"}
	seen := map[string]bool{}
	for _, c := range cols {
		seen[c] = true
	}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			cols = append(cols, c)
		}
	}
	expand := ""
	for _, f := range p.fields[k] {
		if _, ok := partyFields[f.ex]; ok {
			expand = "appointment_activity_parties($select=participationtypemask,addressused,_partyid_value)"
			continue
		}
		add(selectCol(f.crm))
	}
	if k == Appointments {
		add("isalldayevent")
	}
	return cols, expand
}

// Overview is the policy in force with how many records each kind's
// filters select now.
type Overview struct {
	Policy *Policy
	Counts map[Kind]int
}

// Overview reads the policy and runs the filters for their counts. It
// reads the policy afresh, since an administrator may just have changed
// it.
func (s *Syncer) Overview(ctx context.Context) (Overview, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	if err := s.client(); err != nil {
		return Overview{}, err
	}
	s.pol = nil
	p, err := s.policy(ctx)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{Policy: p, Counts: map[Kind]int{}}
	for _, k := range s.o.Kinds {
		ids := map[string]bool{}
		sp := specs[k]
		for _, f := range p.Filters[k] {
			rows, err := s.c.FetchVersions(ctx, sp.set, sp.key, f.FetchXML)
			if err != nil {
				return Overview{}, fmt.Errorf("records: run the sync filter %q: %w", f.Name, err)
			}
			for _, r := range rows {
				ids[r.ID] = true
			}
		}
		ov.Counts[k] = len(ids)
	}
	return ov, nil
}
