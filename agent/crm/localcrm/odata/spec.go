package odata

import (
	"strconv"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// MaxPage is the most rows one answer holds, as in Dataverse.
const MaxPage = 5000

// Schema is what the query language needs to know of a table.
type Schema interface {
	// TypeName is the OData type, e.g. Microsoft.Dynamics.CRM.email.
	TypeName() string
	// EdmType gives the EDM type of a property that can be selected,
	// filtered and sorted on.
	EdmType(name string) (edm string, ok bool)
	// Expandable returns the schema of the rows a collection-valued
	// navigation property leads to, when this server expands it; isNav
	// reports a navigation property it does not expand.
	Expandable(name string) (rows Schema, isNav, ok bool)
}

// Spec is a parsed set of query options for one entity set or record.
type Spec struct {
	Select    []string // properties to return; nil = all
	Filter    Node     // nil = every row
	OrderBy   []OrderKey
	Top       int        // -1 = no limit
	Count     bool       // add @odata.count
	Expand    *Expansion // nil = none
	SkipToken string
	query     Query
}

// OrderKey is one $orderby term.
type OrderKey struct {
	Prop string
	Desc bool
}

// Expansion is one $expand term: a collection and its $select.
type Expansion struct {
	Name   string
	Select []string // nil = all columns
}

// ParseSpec parses the query options; collection says whether the target
// is a set (all options) or a single record ($select and $expand only).
func ParseSpec(q Query, s Schema, collection bool) (*Spec, error) {
	sp := &Spec{Top: -1, query: q}
	for k := range q.Options {
		switch k {
		case "$select", "$expand":
		default:
			if !collection {
				return nil, wire.BadRequest("The query option %s is only allowed on a collection, not on a single record.", k)
			}
		}
	}
	if v, ok := q.Options["$select"]; ok {
		sel, err := ParseSelect(v, s)
		if err != nil {
			return nil, err
		}
		sp.Select = sel
	}
	if v, ok := q.Options["$expand"]; ok {
		ex, err := parseExpand(v, s)
		if err != nil {
			return nil, err
		}
		sp.Expand = ex
	}
	if v, ok := q.Options["$filter"]; ok {
		n, err := ParseFilter(v, q.Aliases)
		if err != nil {
			return nil, wire.BadRequest("Invalid $filter: %v", err)
		}
		if err := CheckFilter(n, s.EdmType, s.TypeName()); err != nil {
			return nil, wire.BadRequest("%v", err)
		}
		sp.Filter = n
	}
	if v, ok := q.Options["$orderby"]; ok {
		keys, err := parseOrderBy(v, s, q.Aliases)
		if err != nil {
			return nil, err
		}
		sp.OrderBy = keys
	}
	if v, ok := q.Options["$top"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > MaxPage {
			return nil, wire.BadRequest("The value '%s' of $top is not valid; use a whole number from 0 to %d.", v, MaxPage)
		}
		sp.Top = n
	}
	if v, ok := q.Options["$count"]; ok {
		switch v {
		case "true":
			sp.Count = true
		case "false":
		default:
			return nil, wire.BadRequest("The value '%s' of $count is not valid; use true or false.", v)
		}
	}
	sp.SkipToken = q.Options["$skiptoken"]
	return sp, nil
}

// ParseSelect reads a $select list against the schema's properties.
func ParseSelect(v string, s Schema) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "*" {
			return nil, nil
		}
		if p == "" {
			return nil, wire.BadRequest("The $select value '%s' has an empty property name.", v)
		}
		if _, ok := s.EdmType(p); !ok {
			return nil, wire.BadRequest("Could not find a property named '%s' on type '%s'.", p, s.TypeName())
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func parseExpand(v string, s Schema) (*Expansion, error) {
	var ex *Expansion
	for _, item := range SplitTop(v, ',') {
		item = strings.TrimSpace(item)
		name, opts, hasOpts := strings.Cut(item, "(")
		name = strings.TrimSpace(name)
		rows, isNav, ok := s.Expandable(name)
		if !ok {
			if isNav {
				return nil, wire.BadRequest("Expanding '%s' is not supported by this server; read %s and its FormattedValue annotation instead.",
					name, "_"+strings.SplitN(name, "_", 2)[0]+"_value")
			}
			return nil, wire.BadRequest("Could not find a property named '%s' on type '%s'.", name, s.TypeName())
		}
		ex = &Expansion{Name: name}
		if !hasOpts {
			continue
		}
		if !strings.HasSuffix(opts, ")") {
			return nil, wire.BadRequest("The $expand value '%s' has unbalanced parentheses.", item)
		}
		for _, o := range strings.Split(strings.TrimSuffix(opts, ")"), ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(o), "=")
			switch k {
			case "":
			case "$select":
				sel, err := ParseSelect(val, rows)
				if err != nil {
					return nil, err
				}
				ex.Select = sel
			default:
				return nil, wire.BadRequest("The option '%s' inside $expand is not supported by this server; only $select is.", k)
			}
		}
	}
	return ex, nil
}

func parseOrderBy(v string, s Schema, aliases map[string]string) ([]OrderKey, error) {
	var keys []OrderKey
	for _, part := range strings.Split(v, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, wire.BadRequest("The $orderby value '%s' is not valid; write 'column [asc|desc]', separated by commas.", v)
		}
		prop := fields[0]
		if strings.HasPrefix(prop, "@") {
			a, ok := aliases[prop]
			if !ok {
				return nil, wire.BadRequest("The parameter alias '%s' is used in $orderby but has no value in the query string.", prop)
			}
			prop = strings.TrimSpace(a)
		}
		if _, ok := s.EdmType(prop); !ok {
			return nil, wire.BadRequest("Could not find a property named '%s' on type '%s'.", prop, s.TypeName())
		}
		k := OrderKey{Prop: prop}
		if len(fields) == 2 {
			switch fields[1] {
			case "asc":
			case "desc":
				k.Desc = true
			default:
				return nil, wire.BadRequest("The $orderby direction '%s' is not valid; use asc or desc.", fields[1])
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}
