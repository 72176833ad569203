package records

import (
	"errors"
	"sort"
	"strings"

	"crmsync/agent/crm/localcrm/odata"
)

// ColType is the storage and wire type of a column.
type ColType int

// Column types.
const (
	TString   ColType = iota // Edm.String with a maximum length
	TMemo                    // a long Edm.String (the email body)
	TBool                    // Edm.Boolean
	TInt                     // Edm.Int32, also option sets
	TBigInt                  // Edm.Int64
	TDecimal                 // Edm.Decimal, also money
	TDateTime                // Edm.DateTimeOffset
	TGUID                    // Edm.Guid
)

// edm names the type as the Dataverse metadata does.
func (t ColType) Edm() string {
	switch t {
	case TBool:
		return "Edm.Boolean"
	case TInt:
		return "Edm.Int32"
	case TBigInt:
		return "Edm.Int64"
	case TDecimal:
		return "Edm.Decimal"
	case TDateTime:
		return "Edm.DateTimeOffset"
	case TGUID:
		return "Edm.Guid"
	}
	return "Edm.String"
}

// Column is one plain attribute of a table.
type Column struct {
	Name     string
	Type     ColType
	MaxLen   int  // for strings: the longest value accepted, in characters
	ReadOnly bool // maintained by the server; a payload that sets it is refused
	DateOnly bool // a DateTime Column with DateOnly behaviour: "2024-05-01" is accepted
	// Options are the values and labels of a Choice (option set) column;
	// nil for other columns. Other values are refused, and the label is
	// the value's formatted value.
	Options map[int]string
	// Secured marks a column under field security (IsSecured in the
	// column's metadata): only users a field security profile grants
	// access, and system administrators, read or set it (fieldsecurity.go).
	Secured bool
}

// Lookup is a single-valued reference to another record, read as
// _<attr>_value and written through one of its navigation properties.
type Lookup struct {
	Attr     string            // logical attribute name, e.g. "regardingobjectid"
	Targets  []string          // logical names it may point at
	Navs     map[string]string // navigation property -> target logical name; "" = any target
	ReadOnly bool              // set by the server only (createdby, modifiedby, businessunitid)
}

// ValueName is how the lookup is read: _<attr>_value.
func (l *Lookup) ValueName() string { return "_" + l.Attr + "_value" }

// Allows reports whether the lookup may point at the logical name.
func (l *Lookup) Allows(logical string) bool {
	for _, t := range l.Targets {
		if t == logical {
			return true
		}
	}
	return false
}

// Entity describes one table exposed as an entity set.
type Entity struct {
	Logical     string // logical name, e.g. "email"
	Set         string // entity set, e.g. "emails"
	Key         string // primary key Column
	PrimaryName string
	Columns     []Column // in the order answers list them
	Lookups     []*Lookup
	UserOwned   bool          // has ownerid; the creator owns new rows
	ReadOnly    bool          // no writes through the Web API (systemusers)
	States      map[int][]int // statecode -> allowed statuscodes, first is the default
	EmailCols   []string      // address Columns: those address resolution searches
	// PartyNav is the collection navigation property of an activity's
	// parties (email_activity_parties, appointment_activity_parties);
	// "" for tables without parties.
	PartyNav string
	// PartyMasks are the participationtypemask values the table's parties
	// may have, with their meaning; nil when PartyNav is "".
	PartyMasks map[int]string
	// Activity marks an activity table (email, appointment, task): changed
	// and deleted only by its owner, read-only once closed.
	Activity bool
	// NewState is the statecode a record created without one gets.
	NewState int
	byName   map[string]int // column name -> index in Columns
	// readOnlyNames are attributes Dataverse has on the table but this
	// server does not model (emailsender, owninguser, ...); a payload
	// that sets one is refused as read-only rather than as unknown.
	readOnlyNames map[string]bool
	app           string // the App a table belongs to; "" = every environment
}

// TypeName is the OData type name used in Dataverse messages.
func (e *Entity) TypeName() string { return "Microsoft.Dynamics.CRM." + e.Logical }

// Column returns the named plain column.
func (e *Entity) Column(name string) (*Column, bool) {
	i, ok := e.byName[name]
	if !ok {
		return nil, false
	}
	return &e.Columns[i], true
}

// LookupByValue finds a lookup by its _x_value name.
func (e *Entity) LookupByValue(name string) *Lookup {
	for _, l := range e.Lookups {
		if l.ValueName() == name {
			return l
		}
	}
	return nil
}

// Nav resolves a navigation property name to its lookup and fixed target
// ("" when the bind path decides).
func (e *Entity) Nav(name string) (*Lookup, string, bool) {
	for _, l := range e.Lookups {
		if t, ok := l.Navs[name]; ok {
			return l, t, true
		}
	}
	return nil, "", false
}

// ReadOnlyName reports whether name is, or is a navigation property of,
// an attribute in readOnlyNames (emailsender_contact is emailsender's),
// and returns that attribute.
func (e *Entity) ReadOnlyName(name string) (string, bool) {
	for attr := range e.readOnlyNames {
		if name == attr || strings.HasPrefix(name, attr+"_") {
			return attr, true
		}
	}
	return "", false
}

// EdmType answers the $filter type checker: plain columns and _x_value names.
func (e *Entity) EdmType(name string) (string, bool) {
	if c, ok := e.Column(name); ok {
		return c.Type.Edm(), true
	}
	if e.LookupByValue(name) != nil {
		return "Edm.Guid", true
	}
	return "", false
}

// Property reports whether name can be selected or sorted on.
func (e *Entity) Property(name string) bool {
	_, ok := e.EdmType(name)
	return ok
}

// AllProperties lists every readable property in answer order.
func (e *Entity) AllProperties() []string {
	out := make([]string, 0, len(e.Columns)+len(e.Lookups))
	for _, c := range e.Columns {
		out = append(out, c.Name)
	}
	for _, l := range e.Lookups {
		out = append(out, l.ValueName())
	}
	return out
}

// Catalog is the read-only set of tables an environment exposes.
type Catalog struct {
	bySet     map[string]*Entity
	byLogical map[string]*Entity
}

// Set returns the table of an entity set name.
func (c *Catalog) Set(name string) (*Entity, bool) {
	e, ok := c.bySet[name]
	return e, ok
}

// Logical returns the table of a logical name.
func (c *Catalog) Logical(name string) (*Entity, bool) {
	e, ok := c.byLogical[name]
	return e, ok
}

// Sets lists the entity set names in order.
func (c *Catalog) Sets() []string {
	out := make([]string, 0, len(c.bySet))
	for s := range c.bySet {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Apps of Options.App: which optional Dynamics 365 tables an environment has.
const (
	// AppAll has the tables of both Sales and Customer Service (the default).
	AppAll = "all"
	// AppSales adds the Sales tables opportunity and lead.
	AppSales = "sales"
	// AppService adds the Customer Service table incident (cases).
	AppService = "service"
	// AppNone is plain Dataverse: accounts, contacts, users, queues, emails.
	AppNone = "none"
)

// ErrUnknownApp is returned by NewCatalog for an App it does not know.
var ErrUnknownApp = errors.New(`localcrm: unknown app; the allowed values are "all", "sales", "service" and "none"`)

// appHas reports whether an environment of app has a table of tableApp
// ("" = a table every environment has).
func appHas(app, tableApp string) bool {
	return tableApp == "" || app == AppAll || app == tableApp
}

func str(name string, max int) Column { return Column{Name: name, Type: TString, MaxLen: max} }
func memo(name string, max int) Column {
	return Column{Name: name, Type: TMemo, MaxLen: max}
}
func ro(c Column) Column      { c.ReadOnly = true; return c }
func secured(c Column) Column { c.Secured = true; return c }

// activityRegarding is the regarding lookup of an activity table: one
// navigation property per target, regardingobjectid_<target>_<activity>
// as Dataverse names them (regardingobjectid_contact_email,
// regardingobjectid_account_task in Microsoft's batch sample), and the
// shorter activitypointer form regardingobjectid_<target>, accepted
// because public code sends it.
func activityRegarding(app, activity string) *Lookup {
	regarding := &Lookup{Attr: "regardingobjectid", Navs: map[string]string{}}
	for _, t := range []string{"contact", "account", "opportunity", "incident", "lead"} {
		if appHas(app, tableApps[t]) {
			regarding.Targets = append(regarding.Targets, t)
			regarding.Navs["regardingobjectid_"+t+"_"+activity] = t
			regarding.Navs["regardingobjectid_"+t] = t
		}
	}
	return regarding
}

func ownerLookups(logical string) []*Lookup {
	owner := &Lookup{Attr: "ownerid", Targets: []string{"systemuser"},
		Navs: map[string]string{"ownerid": "", "ownerid_" + logical: ""}}
	return []*Lookup{
		owner,
		{Attr: "createdby", Targets: []string{"systemuser"}, ReadOnly: true, Navs: map[string]string{"createdby": "systemuser"}},
		{Attr: "modifiedby", Targets: []string{"systemuser"}, ReadOnly: true, Navs: map[string]string{"modifiedby": "systemuser"}},
	}
}

// customerLookup is a Customer-type lookup (account or contact) with one
// navigation property per target, e.g. parentcustomerid_account.
func customerLookup(attr string) *Lookup {
	return &Lookup{Attr: attr, Targets: []string{"account", "contact"},
		Navs: map[string]string{attr + "_account": "account", attr + "_contact": "contact"}}
}

func singleLookup(attr, target string) *Lookup {
	return &Lookup{Attr: attr, Targets: []string{target}, Navs: map[string]string{attr: target}}
}

func commonTail() []Column {
	return []Column{
		{Name: "statecode", Type: TInt},
		{Name: "statuscode", Type: TInt},
		ro(Column{Name: "createdon", Type: TDateTime}),
		ro(Column{Name: "modifiedon", Type: TDateTime}),
		ro(Column{Name: "versionnumber", Type: TBigInt}),
	}
}

// NewCatalog returns the tables of an environment of app (AppAll, ...).
// Lookups list only targets that exist in it, so a bind to a missing table
// is an undeclared navigation property, and $metadata never names it.
func NewCatalog(app string) (*Catalog, error) {
	switch app {
	case AppAll, AppSales, AppService, AppNone:
	default:
		return nil, ErrUnknownApp
	}
	activeInactive := map[int][]int{0: {1}, 1: {2}}
	list := []*Entity{
		{
			Logical: "email", Set: "emails", Key: "activityid", PrimaryName: "subject", UserOwned: true,
			Activity: true, PartyNav: "email_activity_parties", PartyMasks: emailMasks,
			Columns: append([]Column{
				{Name: "activityid", Type: TGUID},
				str("subject", 800),
				memo("description", 1073741823),
				str("messageid", 320),
				// Read-only per Microsoft's email reference (IsValidForCreate
				// and IsValidForUpdate false): the server fills them.
				ro(str("inreplyto", 320)),
				ro(str("conversationindex", 2048)),
				str("trackingtoken", 50),
				{Name: "directioncode", Type: TBool},
				str("sender", 250),
				str("torecipients", 500),
				str("submittedby", 250),
				ro(Column{Name: "senton", Type: TDateTime}),
				{Name: "actualstart", Type: TDateTime},
				{Name: "actualend", Type: TDateTime},
				{Name: "prioritycode", Type: TInt},
				ro(Column{Name: "attachmentcount", Type: TInt}),
				ro(Column{Name: "correlationmethod", Type: TInt}),
			}, commonTail()...),
			Lookups: append([]*Lookup{activityRegarding(app, "email")}, ownerLookups("email")...),
			States:  map[int][]int{0: {1, 8}, 1: {2, 3, 4, 6, 7}, 2: {5}},
			readOnlyNames: map[string]bool{"emailsender": true, "owningbusinessunit": true, "owninguser": true,
				"owningteam": true, "activitytypecode": true},
		},
		{
			Logical: "contact", Set: "contacts", Key: "contactid", PrimaryName: "fullname", UserOwned: true,
			Columns: append([]Column{
				{Name: "contactid", Type: TGUID},
				str("fullname", 160), str("firstname", 50), str("lastname", 50),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
				str("jobtitle", 100), str("telephone1", 50), str("mobilephone", 50),
				// "Home Phone", secured by field security in this environment
				// (the demo's personal contact details).
				secured(str("telephone2", 50)),
			}, commonTail()...),
			Lookups:   append([]*Lookup{customerLookup("parentcustomerid")}, ownerLookups("contact")...),
			States:    activeInactive,
			EmailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
		},
		{
			Logical: "account", Set: "accounts", Key: "accountid", PrimaryName: "name", UserOwned: true,
			Columns: append([]Column{
				{Name: "accountid", Type: TGUID},
				str("name", 160),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
				str("telephone1", 50), str("websiteurl", 200), str("address1_city", 80),
			}, commonTail()...),
			Lookups:   append([]*Lookup{singleLookup("primarycontactid", "contact")}, ownerLookups("account")...),
			States:    activeInactive,
			EmailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
		},
		{
			Logical: "opportunity", Set: "opportunities", Key: "opportunityid", PrimaryName: "name", UserOwned: true,
			Columns: append([]Column{
				{Name: "opportunityid", Type: TGUID},
				str("name", 300), str("emailaddress", 100), memo("description", 2000),
				{Name: "estimatedvalue", Type: TDecimal},
				{Name: "estimatedclosedate", Type: TDateTime, DateOnly: true},
			}, commonTail()...),
			Lookups: append([]*Lookup{customerLookup("customerid"),
				singleLookup("parentaccountid", "account"), singleLookup("parentcontactid", "contact")},
				ownerLookups("opportunity")...),
			States: map[int][]int{0: {1, 2}, 1: {3}, 2: {4, 5}},
			app:    AppSales,
		},
		{
			Logical: "incident", Set: "incidents", Key: "incidentid", PrimaryName: "title", UserOwned: true,
			Columns: append([]Column{
				{Name: "incidentid", Type: TGUID},
				str("title", 200), str("ticketnumber", 100), str("emailaddress", 100),
				memo("description", 2000),
				{Name: "prioritycode", Type: TInt},
			}, commonTail()...),
			Lookups: append([]*Lookup{customerLookup("customerid"), singleLookup("primarycontactid", "contact")},
				ownerLookups("incident")...),
			States: map[int][]int{0: {1, 2, 3, 4}, 1: {5, 1000}, 2: {6, 2000}},
			app:    AppService,
		},
		{
			Logical: "lead", Set: "leads", Key: "leadid", PrimaryName: "fullname", UserOwned: true,
			Columns: append([]Column{
				{Name: "leadid", Type: TGUID},
				str("fullname", 160), str("firstname", 50), str("lastname", 50),
				str("companyname", 100), str("subject", 300),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
				str("jobtitle", 100), str("telephone1", 50), str("mobilephone", 20),
			}, commonTail()...),
			Lookups:   ownerLookups("lead"),
			States:    map[int][]int{0: {1, 2}, 1: {3}, 2: {4, 5, 6, 7}},
			EmailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
			app:       AppSales,
		},
		{
			// A queue may send and receive email (the from party of an
			// email is a user or a queue).
			Logical: "queue", Set: "queues", Key: "queueid", PrimaryName: "name", UserOwned: true,
			Columns: append([]Column{
				{Name: "queueid", Type: TGUID},
				str("name", 400), str("emailaddress", 100), memo("description", 2000),
			}, commonTail()...),
			Lookups:   ownerLookups("queue"),
			States:    activeInactive,
			EmailCols: []string{"emailaddress"},
		},
		{
			Logical: "systemuser", Set: "systemusers", Key: "systemuserid", PrimaryName: "fullname", ReadOnly: true,
			Columns: []Column{
				{Name: "systemuserid", Type: TGUID},
				str("fullname", 200), str("firstname", 64), str("lastname", 64),
				str("internalemailaddress", 100), str("domainname", 1024),
				{Name: "isdisabled", Type: TBool},
				ro(Column{Name: "createdon", Type: TDateTime}),
				ro(Column{Name: "modifiedon", Type: TDateTime}),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
			Lookups: []*Lookup{
				{Attr: "businessunitid", Targets: []string{"businessunit"}, ReadOnly: true, Navs: map[string]string{}},
				// The user's mailbox, created with the user (see mailbox.go).
				{Attr: "defaultmailbox", Targets: []string{"mailbox"}, ReadOnly: true, Navs: map[string]string{"defaultmailbox": "mailbox"}},
			},
			EmailCols: []string{"internalemailaddress"},
		},
	}
	list = append(list, mailboxTables(app)...)
	list = append(list, activityTables(app)...)
	list = append(list, syncTables()...)
	list = append(list, fileTables(app)...)
	c := &Catalog{bySet: map[string]*Entity{}, byLogical: map[string]*Entity{}}
	for _, e := range list {
		if !appHas(app, e.app) {
			continue
		}
		e.byName = map[string]int{}
		for i, col := range e.Columns {
			e.byName[col.Name] = i
		}
		c.bySet[e.Set] = e
		c.byLogical[e.Logical] = e
	}
	return c, nil
}

// tableApps names the App of each optional table.
var tableApps = map[string]string{"opportunity": AppSales, "lead": AppSales, "incident": AppService}

// Expandable implements odata.Schema: an activity's parties
// (email_activity_parties, appointment_activity_parties) are the
// collections this server expands; lookups are navigation properties it
// does not.
func (e *Entity) Expandable(name string) (odata.Schema, bool, bool) {
	if e.PartyNav != "" && name == e.PartyNav {
		return PartySchema, true, true
	}
	_, _, isNav := e.Nav(name)
	return nil, isNav, false
}

// PartyColumns are the readable columns of an activity party.
var PartyColumns = []string{
	"activitypartyid", "participationtypemask", "addressused", "unresolvedpartyname",
	"ispartydeleted", "_partyid_value", "_activityid_value",
}

// PartySchema is the activityparty table, as $select on parties sees it.
var PartySchema odata.Schema = partySchema{}

type partySchema struct{}

// TypeName implements odata.Schema.
func (partySchema) TypeName() string { return "Microsoft.Dynamics.CRM.activityparty" }

// EdmType implements odata.Schema.
func (partySchema) EdmType(name string) (string, bool) {
	switch name {
	case "activitypartyid", "_partyid_value", "_activityid_value":
		return "Edm.Guid", true
	case "participationtypemask":
		return "Edm.Int32", true
	case "addressused", "unresolvedpartyname":
		return "Edm.String", true
	case "ispartydeleted":
		return "Edm.Boolean", true
	}
	return "", false
}

// Expandable implements odata.Schema: parties expand nothing.
func (partySchema) Expandable(string) (odata.Schema, bool, bool) { return nil, false, false }
