package records

import (
	"net/http"

	"crmsync/agent/crm/localcrm/fetchxml"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Query types of saved views (querytype, Microsoft's SavedQueryQueryType):
// synchronization filters are views of type OutlookFilters; the offline
// filters of the retired Outlook add-in are OfflineFilters.
const (
	QueryTypeOfflineFilters = 16
	QueryTypeOutlookFilters = 256
)

// Synchronization directions of a field mapping (syncdirection,
// defaultsyncdirection, allowedsyncdirection). The names follow the
// synchronization settings dialog (none, to Exchange, to the CRM, both
// ways: [CE] outlook-addin/user-guide/control-field-synchronization-exchange.md);
// the numbers are UNCONFIRMED.
const (
	SyncNone          = 0
	SyncToExchange    = 1
	SyncToCRM         = 2
	SyncBidirectional = 3
)

// syncDirections labels the direction choice.
var syncDirections = map[int]string{SyncNone: "None", SyncToExchange: "ToExchange", SyncToCRM: "ToCRM", SyncBidirectional: "Bidirectional"}

// SyncDirectionAllowed reports whether a mapping whose allowedsyncdirection
// is allowed may be set to dir: Bidirectional allows every direction, a
// one-way mapping allows that way or none, and None allows only none.
func SyncDirectionAllowed(allowed, dir int) bool {
	if _, ok := syncDirections[dir]; !ok {
		return false
	}
	switch allowed {
	case SyncBidirectional:
		return true
	case SyncToExchange, SyncToCRM:
		return dir == SyncNone || dir == allowed
	}
	return dir == SyncNone
}

// syncTables returns the saved-view and synchronization-mapping tables,
// which every environment has.
func syncTables() []*Entity {
	owning := map[string]bool{"owningbusinessunit": true, "owninguser": true, "owningteam": true}
	view := func() []Column {
		return []Column{
			str("name", 200), memo("description", 2000), memo("fetchxml", 1073741823),
			// The EntityName column: the Web API returns the table's
			// logical name ("contact").
			str("returnedtypecode", 64),
			{Name: "querytype", Type: TInt},
		}
	}
	return []*Entity{
		{
			// A personal view; synchronization filters are userqueries
			// of querytype 256 ([PPA] admin/AppointmentContactandTaskDefaultFilterchanges-new.md).
			Logical: "userquery", Set: "userqueries", Key: "userqueryid", PrimaryName: "name", UserOwned: true,
			Columns:       append(append([]Column{{Name: "userqueryid", Type: TGUID}}, view()...), commonTail()...),
			Lookups:       ownerLookups("userquery"),
			States:        map[int][]int{0: {1}, 1: {2}},
			readOnlyNames: owning,
		},
		{
			// A system view, maintained by the administrator (the Go API
			// PutSavedQuery); read-only through the Web API.
			Logical: "savedquery", Set: "savedqueries", Key: "savedqueryid", PrimaryName: "name", ReadOnly: true,
			Columns: append(append(append([]Column{{Name: "savedqueryid", Type: TGUID}}, view()...),
				Column{Name: "isdefault", Type: TBool}), commonTail()...),
			Lookups: []*Lookup{
				{Attr: "createdby", Targets: []string{"systemuser"}, ReadOnly: true, Navs: map[string]string{"createdby": "systemuser"}},
				{Attr: "modifiedby", Targets: []string{"systemuser"}, ReadOnly: true, Navs: map[string]string{"modifiedby": "systemuser"}},
			},
			States: map[int][]int{0: {1}, 1: {2}},
		},
		{
			Logical: "syncattributemappingprofile", Set: "syncattributemappingprofiles", Key: "syncattributemappingprofileid",
			PrimaryName: "name", ReadOnly: true,
			Columns: []Column{
				{Name: "syncattributemappingprofileid", Type: TGUID},
				str("name", 100), memo("description", 2000), {Name: "issystem", Type: TBool},
				ro(Column{Name: "createdon", Type: TDateTime}),
				ro(Column{Name: "modifiedon", Type: TDateTime}),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
		},
		{
			// One field pair of a profile ([CE] control-field-synchronization-exchange.md;
			// the table's columns as the docs' section 12.7 lists them).
			Logical: "syncattributemapping", Set: "syncattributemappings", Key: "syncattributemappingid",
			PrimaryName: "mappingname", ReadOnly: true,
			Columns: []Column{
				{Name: "syncattributemappingid", Type: TGUID},
				str("mappingname", 200), str("entityname", 64),
				str("attributecrmname", 100), str("attributeexchangename", 100),
				{Name: "syncdirection", Type: TInt, Options: syncDirections},
				{Name: "defaultsyncdirection", Type: TInt, Options: syncDirections},
				{Name: "allowedsyncdirection", Type: TInt, Options: syncDirections},
				{Name: "iscomputed", Type: TBool},
				ro(Column{Name: "createdon", Type: TDateTime}),
				ro(Column{Name: "modifiedon", Type: TDateTime}),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
			Lookups: []*Lookup{singleLookup("syncattributemappingprofileid", "syncattributemappingprofile")},
		},
	}
}

// CheckView checks a view about to be written: its fetchxml must be a
// query this server can run, on the table returnedtypecode names. A view
// that could not run would fail every synchronization it filters.
func (c *Session) CheckView(ent *Entity, rec *store.Record) error {
	typ := rec.Str("returnedtypecode")
	if typ == "" {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"A %s needs returnedtypecode, the logical name of the table its FetchXML queries (such as contact).", ent.Logical)
	}
	target, ok := c.Cat.Logical(typ)
	if !ok {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"The returnedtypecode '%s' is not the logical name of a table of this environment.", wire.Truncate(typ, 100))
	}
	src := rec.Str("fetchxml")
	if src == "" {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, "A %s needs fetchxml, the FetchXML query it stands for.", ent.Logical)
	}
	f, err := fetchxml.Parse(src)
	if err != nil {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, "The fetchxml of the %s is not valid: %v", ent.Logical, err)
	}
	if f.Entity.Name != typ {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"The fetchxml of the %s queries the entity '%s', but its returnedtypecode is '%s'; they must name the same table.",
			ent.Logical, wire.Truncate(f.Entity.Name, 100), typ)
	}
	if _, err := fetchxml.Compile(f, FetchSchema(target), fetchxml.Env{UserID: c.UserID, Now: c.Now()}); err != nil {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, "The fetchxml of the %s is not valid: %v", ent.Logical, err)
	}
	return nil
}

// CheckUserQueryOwner refuses a personal view owned by someone else than
// the caller: a user creates and keeps only their own (userquery is
// user-owned with user-level privileges in the standard roles;
// UNCONFIRMED for every role).
func (c *Session) CheckUserQueryOwner(ent *Entity, rec *store.Record, verb string) error {
	if ent.Logical != "userquery" || rec.Owner() == c.UserID {
		return nil
	}
	return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
		"Principal user (Id=%s, type=8) is missing prv%sUserQuery privilege for userquery (Id=%s), which is owned by another user (Id=%s): a user may read and change only their own views.",
		c.UserID, verb, rec.ID, rec.Owner())
}

// fetchSchema adapts a table to the FetchXML compiler.
type fetchSchema struct{ e *Entity }

// FetchSchema returns the table as FetchXML sees it: columns by name and
// lookups by their logical attribute name (ownerid), compared as GUIDs.
func FetchSchema(e *Entity) fetchxml.Schema { return fetchSchema{e} }

// LogicalName implements fetchxml.Schema.
func (s fetchSchema) LogicalName() string { return s.e.Logical }

// PrimaryKey implements fetchxml.Schema.
func (s fetchSchema) PrimaryKey() string { return s.e.Key }

// AttributeKind implements fetchxml.Schema.
func (s fetchSchema) AttributeKind(name string) (fetchxml.Kind, bool) {
	if c, ok := s.e.Column(name); ok {
		switch c.Type {
		case TBool:
			return fetchxml.KindBool, true
		case TInt, TBigInt:
			return fetchxml.KindInt, true
		case TDecimal:
			return fetchxml.KindNumber, true
		case TDateTime:
			return fetchxml.KindDateTime, true
		case TGUID:
			return fetchxml.KindGUID, true
		}
		return fetchxml.KindString, true
	}
	for _, l := range s.e.Lookups {
		if l.Attr == name {
			return fetchxml.KindGUID, true
		}
	}
	return 0, false
}

// FetchRow is a record as FetchXML sees it: View's columns, and lookups
// under their logical names.
func FetchRow(ent *Entity, view map[string]any) map[string]any {
	m := make(map[string]any, len(view))
	for _, c := range ent.Columns {
		m[c.Name] = view[c.Name]
	}
	for _, l := range ent.Lookups {
		m[l.Attr] = view[l.ValueName()]
	}
	return m
}
