package localcrm

import "strings"

// colType is the storage and wire type of a column.
type colType int

const (
	tString colType = iota
	tMemo
	tBool
	tInt
	tBigInt
	tDecimal
	tDateTime
	tGUID
)

// edm names the type as the Dataverse metadata does.
func (t colType) edm() string {
	switch t {
	case tBool:
		return "Edm.Boolean"
	case tInt:
		return "Edm.Int32"
	case tBigInt:
		return "Edm.Int64"
	case tDecimal:
		return "Edm.Decimal"
	case tDateTime:
		return "Edm.DateTimeOffset"
	case tGUID:
		return "Edm.Guid"
	}
	return "Edm.String"
}

// column is one plain attribute of a table.
type column struct {
	name     string
	typ      colType
	maxLen   int  // for strings: the longest value accepted, in characters
	readOnly bool // maintained by the server; ignored in payloads as Dataverse does
}

// lookup is a single-valued reference to another record, read as
// _<attr>_value and written through one of its navigation properties.
type lookup struct {
	attr     string            // logical attribute name, e.g. "regardingobjectid"
	targets  []string          // logical names it may point at
	navs     map[string]string // navigation property -> target logical name; "" = any target
	readOnly bool              // set by the server only (createdby, modifiedby, businessunitid)
}

// valueName is how the lookup is read: _<attr>_value.
func (l *lookup) valueName() string { return "_" + l.attr + "_value" }

// allows reports whether the lookup may point at the logical name.
func (l *lookup) allows(logical string) bool {
	for _, t := range l.targets {
		if t == logical {
			return true
		}
	}
	return false
}

// entity describes one table exposed as an entity set.
type entity struct {
	logical     string
	set         string
	key         string
	primaryName string
	columns     []column // in the order answers list them
	lookups     []*lookup
	userOwned   bool           // has ownerid; the creator owns new rows
	readOnly    bool           // no writes through the Web API (systemusers)
	states      map[int][]int  // statecode -> allowed statuscodes, first is the default
	emailCols   []string       // columns that address resolution searches
	byName      map[string]int // column name -> index in columns
}

// typeName is the OData type name used in Dataverse messages.
func (e *entity) typeName() string { return "Microsoft.Dynamics.CRM." + e.logical }

// column returns the named plain column.
func (e *entity) column(name string) (*column, bool) {
	i, ok := e.byName[name]
	if !ok {
		return nil, false
	}
	return &e.columns[i], true
}

// lookupByValue finds a lookup by its _x_value name.
func (e *entity) lookupByValue(name string) *lookup {
	for _, l := range e.lookups {
		if l.valueName() == name {
			return l
		}
	}
	return nil
}

// nav resolves a navigation property name to its lookup and fixed target
// ("" when the bind path decides).
func (e *entity) nav(name string) (*lookup, string, bool) {
	for _, l := range e.lookups {
		if t, ok := l.navs[name]; ok {
			return l, t, true
		}
	}
	return nil, "", false
}

// edmType answers the $filter type checker: plain columns and _x_value names.
func (e *entity) edmType(name string) (string, bool) {
	if c, ok := e.column(name); ok {
		return c.typ.edm(), true
	}
	if e.lookupByValue(name) != nil {
		return "Edm.Guid", true
	}
	return "", false
}

// property reports whether name can be selected or sorted on.
func (e *entity) property(name string) bool {
	_, ok := e.edmType(name)
	return ok
}

// allProperties lists every readable property in answer order.
func (e *entity) allProperties() []string {
	out := make([]string, 0, len(e.columns)+len(e.lookups))
	for _, c := range e.columns {
		out = append(out, c.name)
	}
	for _, l := range e.lookups {
		out = append(out, l.valueName())
	}
	return out
}

// catalog is the read-only set of tables the server exposes.
type catalog struct {
	bySet     map[string]*entity
	byLogical map[string]*entity
}

func (c *catalog) set(name string) (*entity, bool) {
	e, ok := c.bySet[name]
	return e, ok
}

func (c *catalog) logical(name string) (*entity, bool) {
	e, ok := c.byLogical[name]
	return e, ok
}

// tables is built once; nothing writes to it afterwards.
var tables = buildCatalog()

func str(name string, max int) column { return column{name: name, typ: tString, maxLen: max} }
func memo(name string, max int) column {
	return column{name: name, typ: tMemo, maxLen: max}
}
func ro(c column) column { c.readOnly = true; return c }

func ownerLookups(logical string) []*lookup {
	owner := &lookup{attr: "ownerid", targets: []string{"systemuser"},
		navs: map[string]string{"ownerid": "", "ownerid_" + logical: ""}}
	return []*lookup{
		owner,
		{attr: "createdby", targets: []string{"systemuser"}, readOnly: true, navs: map[string]string{}},
		{attr: "modifiedby", targets: []string{"systemuser"}, readOnly: true, navs: map[string]string{}},
	}
}

// customerLookup is a Customer-type lookup (account or contact) with one
// navigation property per target, e.g. parentcustomerid_account.
func customerLookup(attr string) *lookup {
	return &lookup{attr: attr, targets: []string{"account", "contact"},
		navs: map[string]string{attr + "_account": "account", attr + "_contact": "contact"}}
}

func singleLookup(attr, target string) *lookup {
	return &lookup{attr: attr, targets: []string{target}, navs: map[string]string{attr: target}}
}

func commonTail() []column {
	return []column{
		{name: "statecode", typ: tInt},
		{name: "statuscode", typ: tInt},
		ro(column{name: "createdon", typ: tDateTime}),
		ro(column{name: "modifiedon", typ: tDateTime}),
		ro(column{name: "versionnumber", typ: tBigInt}),
	}
}

func buildCatalog() *catalog {
	activeInactive := map[int][]int{0: {1}, 1: {2}}
	regarding := &lookup{attr: "regardingobjectid",
		targets: []string{"contact", "account", "opportunity", "incident", "lead"},
		navs:    map[string]string{}}
	for _, t := range regarding.targets {
		// Dataverse names one navigation property per target on email
		// (regardingobjectid_contact_email); the shorter activitypointer
		// form is accepted too because public code sends it.
		regarding.navs["regardingobjectid_"+t+"_email"] = t
		regarding.navs["regardingobjectid_"+t] = t
	}
	list := []*entity{
		{
			logical: "email", set: "emails", key: "activityid", primaryName: "subject", userOwned: true,
			columns: append([]column{
				{name: "activityid", typ: tGUID},
				str("subject", 800),
				memo("description", 1073741823),
				str("messageid", 320),
				str("inreplyto", 320),
				str("conversationindex", 2048),
				str("trackingtoken", 50),
				{name: "directioncode", typ: tBool},
				str("sender", 250),
				str("torecipients", 500),
				str("submittedby", 250),
				{name: "senton", typ: tDateTime},
				{name: "actualend", typ: tDateTime},
				{name: "prioritycode", typ: tInt},
				ro(column{name: "attachmentcount", typ: tInt}),
				ro(column{name: "correlationmethod", typ: tInt}),
			}, commonTail()...),
			lookups: append([]*lookup{regarding}, ownerLookups("email")...),
			states:  map[int][]int{0: {1, 8}, 1: {2, 3, 4, 6, 7}, 2: {5}},
		},
		{
			logical: "contact", set: "contacts", key: "contactid", primaryName: "fullname", userOwned: true,
			columns: append([]column{
				{name: "contactid", typ: tGUID},
				str("fullname", 160), str("firstname", 50), str("lastname", 50),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
				str("jobtitle", 100), str("telephone1", 50),
			}, commonTail()...),
			lookups:   append([]*lookup{customerLookup("parentcustomerid")}, ownerLookups("contact")...),
			states:    activeInactive,
			emailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
		},
		{
			logical: "account", set: "accounts", key: "accountid", primaryName: "name", userOwned: true,
			columns: append([]column{
				{name: "accountid", typ: tGUID},
				str("name", 160),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
				str("telephone1", 50), str("websiteurl", 200), str("address1_city", 80),
			}, commonTail()...),
			lookups:   append([]*lookup{singleLookup("primarycontactid", "contact")}, ownerLookups("account")...),
			states:    activeInactive,
			emailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
		},
		{
			logical: "opportunity", set: "opportunities", key: "opportunityid", primaryName: "name", userOwned: true,
			columns: append([]column{
				{name: "opportunityid", typ: tGUID},
				str("name", 300), str("emailaddress", 100), memo("description", 2000),
				{name: "estimatedvalue", typ: tDecimal},
				{name: "estimatedclosedate", typ: tDateTime},
			}, commonTail()...),
			lookups: append([]*lookup{customerLookup("customerid"),
				singleLookup("parentaccountid", "account"), singleLookup("parentcontactid", "contact")},
				ownerLookups("opportunity")...),
			states: map[int][]int{0: {1, 2}, 1: {3}, 2: {4, 5}},
		},
		{
			logical: "incident", set: "incidents", key: "incidentid", primaryName: "title", userOwned: true,
			columns: append([]column{
				{name: "incidentid", typ: tGUID},
				str("title", 200), str("ticketnumber", 100), str("emailaddress", 100),
				memo("description", 2000),
				{name: "prioritycode", typ: tInt},
			}, commonTail()...),
			lookups: append([]*lookup{customerLookup("customerid"), singleLookup("primarycontactid", "contact")},
				ownerLookups("incident")...),
			states: map[int][]int{0: {1, 2, 3, 4}, 1: {5, 1000}, 2: {6, 2000}},
		},
		{
			logical: "lead", set: "leads", key: "leadid", primaryName: "fullname", userOwned: true,
			columns: append([]column{
				{name: "leadid", typ: tGUID},
				str("fullname", 160), str("firstname", 50), str("lastname", 50),
				str("companyname", 100), str("subject", 300),
				str("emailaddress1", 100), str("emailaddress2", 100), str("emailaddress3", 100),
			}, commonTail()...),
			lookups:   ownerLookups("lead"),
			states:    map[int][]int{0: {1, 2}, 1: {3}, 2: {4, 5, 6, 7}},
			emailCols: []string{"emailaddress1", "emailaddress2", "emailaddress3"},
		},
		{
			logical: "systemuser", set: "systemusers", key: "systemuserid", primaryName: "fullname", readOnly: true,
			columns: []column{
				{name: "systemuserid", typ: tGUID},
				str("fullname", 200), str("firstname", 64), str("lastname", 64),
				str("internalemailaddress", 100), str("domainname", 1024),
				{name: "isdisabled", typ: tBool},
				ro(column{name: "createdon", typ: tDateTime}),
				ro(column{name: "modifiedon", typ: tDateTime}),
				ro(column{name: "versionnumber", typ: tBigInt}),
			},
			lookups: []*lookup{
				{attr: "businessunitid", targets: []string{"businessunit"}, readOnly: true, navs: map[string]string{}},
			},
			emailCols: []string{"internalemailaddress"},
		},
	}
	c := &catalog{bySet: map[string]*entity{}, byLogical: map[string]*entity{}}
	for _, e := range list {
		e.byName = map[string]int{}
		for i, col := range e.columns {
			e.byName[col.name] = i
		}
		c.bySet[e.set] = e
		c.byLogical[e.logical] = e
	}
	return c
}

// resolutionOrder is the order in which an email address is matched to a
// record (systemuser, contact, account, lead), as the CRM does for
// incoming mail.
var resolutionOrder = []string{"systemuser", "contact", "account", "lead"}

// partyColumns are the readable columns of an expanded activity party.
var partyColumns = []string{
	"activitypartyid", "participationtypemask", "addressused", "unresolvedpartyname",
	"ispartydeleted", "_partyid_value", "_activityid_value",
}

func isPartyColumn(name string) bool {
	for _, c := range partyColumns {
		if c == name {
			return true
		}
	}
	return false
}

// operation names that are only valid with the Microsoft.Dynamics.CRM
// namespace when bound; used to give Dataverse's message when it is missing.
var boundOperations = map[string]bool{
	"RetrieveUserPrivilegeByPrivilegeName": true, "RetrieveUserPrivileges": true,
	"RetrievePrincipalAccess": true, "DeliverIncomingEmail": true, "DeliverPromoteEmail": true,
}

const crmNamespace = "Microsoft.Dynamics.CRM."

func stripNamespace(name string) (string, bool) {
	if strings.HasPrefix(name, crmNamespace) {
		return name[len(crmNamespace):], true
	}
	return name, false
}
