package crm

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"crmsync/agent"
)

// personTable describes a table a sender is looked up in.
type personTable struct {
	entity, set, key string
	company          string // the column that names the person's company
}

// personTables are searched in this order: a contact wins over a lead, as
// Dataverse resolves addresses ([CE] faq-email-tracking.md).
var personTables = []personTable{
	{"contact", "contacts", "contactid", "_parentcustomerid_value"},
	{"lead", "leads", "leadid", "companyname"},
}

// personAddrCols are the address columns of contacts and leads.
var personAddrCols = []string{"emailaddress1", "emailaddress2", "emailaddress3"}

// addressMaxLen is the length of a contact's or lead's address columns;
// no record can carry a longer address.
const addressMaxLen = 100

// selectList is the $select of a person query on t.
func (t personTable) selectList() string {
	cols := append([]string{t.key, "fullname"}, personAddrCols...)
	return strings.Join(append(cols, "jobtitle", "telephone1", "mobilephone", t.company, "_ownerid_value"), ",")
}

// Person finds the active contact, else the active lead, that has address
// in one of its address columns (the first created when several do), and
// returns what the detail pane shows of it; nil, nil when there is none.
// Only the address leaves the device.
func (c *HTTPClient) Person(ctx context.Context, address string) (*agent.Person, error) {
	const op = "look up person"
	addr := NormalizeAddress(address)
	if addr == "" {
		return nil, &Error{Op: op, Kind: KindBadRequest, Message: "not an email address"}
	}
	if len([]rune(addr)) > addressMaxLen {
		return nil, nil
	}
	terms := make([]string, len(personAddrCols))
	for i, col := range personAddrCols {
		terms[i] = col + " eq " + quote(addr)
	}
	filter := "(" + strings.Join(terms, " or ") + ") and statecode eq 0"
	for _, t := range personTables {
		if c.isMissing(t.set) {
			continue
		}
		path := t.set + query("$select", t.selectList(), "$filter", filter, "$orderby", "createdon asc", "$top", "1")
		var found *agent.Person
		err := c.annotatedRows(ctx, op, path, formattedPrefer, func(row map[string]any) error {
			if found != nil {
				return nil
			}
			p, err := c.personFrom(op, t, row, addr)
			found = p
			return err
		})
		if seg, ok := missingSegment(err); ok && (seg == "" || seg == t.set) {
			continue // plain Dataverse has no leads
		}
		if err != nil || found != nil {
			return found, err
		}
	}
	return nil, nil
}

// personFrom reads a contact or lead row. addr is the address it was found
// by; the row's own spelling of it is preferred.
func (c *HTTPClient) personFrom(op string, t personTable, row map[string]any, addr string) (*agent.Person, error) {
	id, _ := row[t.key].(string)
	if !IsGUID(id) {
		return nil, &Error{Op: op, Kind: KindBadResponse, Message: "a row has no valid " + t.key}
	}
	str := func(k string) string { s, _ := row[k].(string); return s }
	p := &agent.Person{
		Ref:      agent.RecordRef{Entity: t.entity, ID: strings.ToLower(id), Name: str("fullname")},
		Email:    addr,
		JobTitle: str("jobtitle"),
		Phone:    str("telephone1"),
		Owner:    str("_ownerid_value" + annFormatted),
	}
	for _, col := range personAddrCols {
		if v := str(col); strings.EqualFold(v, addr) {
			p.Email = v
			break
		}
	}
	if p.Phone == "" {
		p.Phone = str("mobilephone")
	}
	if strings.HasPrefix(t.company, "_") {
		p.Company = str(t.company + annFormatted)
	} else {
		p.Company = str(t.company)
	}
	p.WebURL = c.WebURL(p.Ref)
	return p, nil
}

// Contact name columns hold at most 50 characters each ([PAD]
// reference/entities/contact.md).
const nameMax = 50

// CreateContact creates a contact for address, its first and last name
// split from name (without a name, the last name is the address's local
// part), with account as its company when not nil, and returns it as the
// detail pane shows it.
func (c *HTTPClient) CreateContact(ctx context.Context, name, address string, account *agent.RecordRef) (agent.Person, error) {
	const op = "create contact"
	addr := NormalizeAddress(address)
	if addr == "" || len([]rune(addr)) > addressMaxLen {
		return agent.Person{}, &Error{Op: op, Kind: KindBadRequest, Message: "not an email address of at most 100 characters",
			UserText: "The CRM keeps email addresses of at most 100 characters; this is not one."}
	}
	first, last := splitName(name, addr)
	body := map[string]any{"lastname": last, "emailaddress1": addr}
	if first != "" {
		body["firstname"] = first
	}
	if account != nil {
		if (account.Entity != "" && account.Entity != "account") || !IsGUID(account.ID) {
			return agent.Person{}, &Error{Op: op, Kind: KindBadRequest, Message: "the company must be an account"}
		}
		body["parentcustomerid_account@odata.bind"] = "/accounts(" + account.ID + ")"
	}
	t := personTables[0]
	sel := query("$select", t.selectList())
	prefer := http.Header{"Prefer": {"return=representation," + formattedPrefer}}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: t.set + sel, body: body, header: prefer})
	if err != nil {
		return agent.Person{}, refusal(err, "The CRM refused the new contact: ")
	}
	if resp.status == http.StatusNoContent {
		// A server that ignores return=representation names the record;
		// read it back.
		id, ok := entityIDFromHeader(resp.header.Get("OData-EntityId"))
		if !ok {
			return agent.Person{}, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer names no new contact"}
		}
		if resp, err = c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
			path: t.set + "(" + id + ")" + sel, header: http.Header{"Prefer": {formattedPrefer}}}); err != nil {
			return agent.Person{}, err
		}
	}
	var row map[string]any
	if err := decode(op, resp, &row); err != nil {
		return agent.Person{}, err
	}
	p, err := c.personFrom(op, t, row, addr)
	if err != nil {
		return agent.Person{}, err
	}
	return *p, nil
}

// splitName makes a contact's first and last name from a display name:
// "Jane Q. Doe" is Jane Q. and Doe, "Doe, Jane" is Jane and Doe, "Jane
// Doe, PhD" drops the suffix, a single word is the last name (a contact
// needs one), and no name (or the address itself) gives the address's
// local part as the last name.
func splitName(name, addr string) (first, last string) {
	name = strings.Join(strings.Fields(name), " ")
	// Display names often arrive quoted: "Doe, Jane" or 'Jane Doe'.
	for _, q := range []string{`"`, `'`} {
		if len(name) >= 2 && strings.HasPrefix(name, q) && strings.HasSuffix(name, q) {
			name = strings.TrimSpace(name[1 : len(name)-1])
		}
	}
	if name == "" || NormalizeAddress(name) == addr {
		local, _, _ := strings.Cut(addr, "@")
		return "", clipRunes(local, nameMax)
	}
	if before, after, ok := strings.Cut(name, ","); ok {
		before, after = strings.TrimSpace(before), strings.TrimSpace(after)
		switch {
		case before != "" && after != "" && !strings.Contains(before, " "):
			return clipRunes(after, nameMax), clipRunes(before, nameMax)
		case before != "":
			name = before // "Jane Doe, PhD": the part after the comma is a suffix
		default:
			name = after
		}
	}
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return "", clipRunes(name, nameMax)
	}
	return clipRunes(name[:i], nameMax), clipRunes(name[i+1:], nameMax)
}

// apiHost matches the Web API host form of an online environment,
// org.api.crm<N>.dynamics.com; the web app lives at org.crm<N>.dynamics.com.
var apiHost = regexp.MustCompile(`^([^.]+)\.api\.(crm[0-9]*\.dynamics\.com)$`)

// WebURL returns the address of the record in the CRM's web app
// (<org>/main.aspx?etn=<table>&id=<GUID>&pagetype=entityrecord), "" when r
// names no record.
func (c *HTTPClient) WebURL(r agent.RecordRef) string {
	if r.Entity == "" || !IsGUID(r.ID) {
		return ""
	}
	u := *c.api
	p := u.Path
	if i := strings.Index(p, "/api/data/"); i >= 0 {
		p = p[:i] // on-premises keeps the organization's name in the path
	}
	if m := apiHost.FindStringSubmatch(strings.ToLower(u.Hostname())); m != nil {
		u.Host = m[1] + "." + m[2]
		if port := c.api.Port(); port != "" {
			u.Host += ":" + port
		}
	}
	u.Path, u.RawPath, u.Fragment = strings.TrimRight(p, "/")+"/main.aspx", "", ""
	u.RawQuery = url.Values{"etn": {r.Entity}, "id": {strings.ToLower(r.ID)}, "pagetype": {"entityrecord"}}.Encode()
	return u.String()
}
