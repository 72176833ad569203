package crm

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Synchronisation directions of a field mapping (syncattributemapping's
// syncdirection). The numbers are this client's reading of Dataverse's
// choice; Microsoft's table reference lists the labels, not the values.
const (
	SyncNone       = 0 // the field is not synchronised
	SyncToExchange = 1 // CRM to the user's address book or calendar only
	SyncToCRM      = 2 // the user's address book or calendar to the CRM only
	SyncBoth       = 3 // both ways; on a conflict the CRM wins
)

// SyncFilter is one synchronisation filter: a saved query of type 256
// (OutlookFilters). Filters of one table are combined with OR.
type SyncFilter struct {
	ID       string
	Name     string
	Entity   string // the table it selects, e.g. "contact"
	FetchXML string
	// Organisation is set for the administrator's organisation-wide
	// filters (savedquery); the user's own are userquery rows.
	Organisation bool
}

// SyncMapping says how one CRM column maps to a field of the user's
// address book or calendar, and in which direction it flows.
type SyncMapping struct {
	Entity       string // "contact", "appointment" or "task"
	CRMAttr      string // attributecrmname
	ExchangeAttr string // attributeexchangename
	Direction    int    // SyncNone, SyncToExchange, SyncToCRM or SyncBoth
}

// FieldAccess is what the user may do with a secured column.
type FieldAccess struct{ Read, Update, Create bool }

// RowVersion is a record's ID and row version (versionnumber): enough to
// see that it changed without reading it.
type RowVersion struct {
	ID      string
	Version int64
}

// querytypeOutlookFilters is the saved query type of sync filters.
const querytypeOutlookFilters = 256

// fetchPageSize is FetchXML's largest page (5,000 rows).
const fetchPageSize = 5000

// SyncFilters lists the active synchronisation filters that apply to the
// user: their own (userquery) and the organisation's (savedquery).
func (c *HTTPClient) SyncFilters(ctx context.Context, userID string) ([]SyncFilter, error) {
	const op = "list sync filters"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return nil, err
	}
	var out []SyncFilter
	read := func(set, key string, org bool, extra string) error {
		path := set + query(
			"$select", key+",name,returnedtypecode,fetchxml",
			"$filter", "querytype eq "+strconv.Itoa(querytypeOutlookFilters)+" and statecode eq 0"+extra,
			"$orderby", "name asc")
		return c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
			f := SyncFilter{Organisation: org}
			f.ID, _ = row[key].(string)
			f.Name, _ = row["name"].(string)
			f.Entity, _ = row["returnedtypecode"].(string)
			f.FetchXML, _ = row["fetchxml"].(string)
			if !IsGUID(f.ID) || f.Entity == "" || f.FetchXML == "" {
				return &Error{Op: op, Kind: KindBadResponse, Message: "a sync filter has no ID, table or FetchXML"}
			}
			f.ID = strings.ToLower(f.ID)
			out = append(out, f)
			return nil
		})
	}
	// An administrator can read every user's filters; only the user's
	// own apply to them.
	if err := read("userqueries", "userqueryid", false, " and _ownerid_value eq "+userID); err != nil {
		return nil, err
	}
	if err := read("savedqueries", "savedqueryid", true, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// SyncMappings lists the administrator's field mappings of contacts,
// appointments and tasks.
func (c *HTTPClient) SyncMappings(ctx context.Context) ([]SyncMapping, error) {
	const op = "list sync field mappings"
	path := "syncattributemappings" + query(
		"$select", "entityname,attributecrmname,attributeexchangename,syncdirection",
		"$filter", "entityname eq 'contact' or entityname eq 'appointment' or entityname eq 'task'")
	var out []SyncMapping
	err := c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
		var m SyncMapping
		m.Entity, _ = row["entityname"].(string)
		m.CRMAttr, _ = row["attributecrmname"].(string)
		m.ExchangeAttr, _ = row["attributeexchangename"].(string)
		d, ok := row["syncdirection"].(float64)
		if m.Entity == "" || m.CRMAttr == "" || m.ExchangeAttr == "" || !ok {
			return &Error{Op: op, Kind: KindBadResponse, Message: "a field mapping lacks a table, a column, a field or a direction"}
		}
		m.Direction = int(d)
		out = append(out, m)
		return nil
	})
	return out, err
}

// SecuredFields returns, per table, the secured columns (field security)
// and what the user may do with each. A secured column absent from the
// user's privileges may be neither read nor written.
func (c *HTTPClient) SecuredFields(ctx context.Context, userID string, entities []string) (map[string]map[string]FieldAccess, error) {
	const op = "read field security"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return nil, err
	}
	out := map[string]map[string]FieldAccess{}
	byMeta := map[string][2]string{} // MetadataId -> table, column
	for _, ent := range entities {
		out[ent] = map[string]FieldAccess{}
		path := "EntityDefinitions(LogicalName=" + quote(ent) + ")/Attributes" + query(
			"$select", "LogicalName,IsSecured,MetadataId", "$filter", "IsSecured eq true")
		err := c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
			name, _ := row["LogicalName"].(string)
			id, _ := row["MetadataId"].(string)
			if sec, _ := row["IsSecured"].(bool); !sec || name == "" {
				return nil
			}
			out[ent][name] = FieldAccess{}
			byMeta[strings.ToLower(id)] = [2]string{ent, name}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(byMeta) == 0 {
		return out, nil
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
		path: "systemusers(" + userID + ")/Microsoft.Dynamics.CRM.RetrievePrincipalAttributePrivileges()"})
	if err != nil {
		return nil, err
	}
	var ans struct {
		AttributePrivileges []struct {
			AttributeID string `json:"AttributeId"`
			CanCreate   int
			CanRead     int
			CanUpdate   int
		}
	}
	if err := decode(op, resp, &ans); err != nil {
		return nil, err
	}
	// 4 means allowed, 0 not (Dataverse's AttributePrivilege values).
	for _, p := range ans.AttributePrivileges {
		col, ok := byMeta[strings.ToLower(p.AttributeID)]
		if !ok {
			continue
		}
		out[col[0]][col[1]] = FieldAccess{Read: p.CanRead == 4, Update: p.CanUpdate == 4, Create: p.CanCreate == 4}
	}
	return out, nil
}

// FetchVersions runs a sync filter's FetchXML with its columns replaced
// by the primary key and versionnumber, and returns every matching row's
// ID and version: the filter decides membership on the CRM, and only IDs
// cross the wire.
func (c *HTTPClient) FetchVersions(ctx context.Context, set, key, fetchXML string) ([]RowVersion, error) {
	const op = "run sync filter"
	var out []RowVersion
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, &Error{Op: op, Kind: KindBadResponse, Message: fmt.Sprintf("more than %d pages; the server's paging does not end", maxPages)}
		}
		fx, err := rewriteFetch(fetchXML, []string{key, "versionnumber"}, fetchPageSize, page)
		if err != nil {
			return nil, &Error{Op: op, Kind: KindBadRequest, Message: "the filter's FetchXML cannot be read: " + err.Error(),
				UserText: "A sync filter in the CRM is not valid FetchXML; ask your CRM administrator to check it."}
		}
		// Dataverse says whether more pages follow only when asked to
		// (Microsoft's "Page results using FetchXml"); on the last page
		// the annotation is absent.
		resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true, path: set + query("fetchXml", fx),
			header: http.Header{"Prefer": {`odata.include-annotations="Microsoft.Dynamics.CRM.morerecords"`}}})
		if err != nil {
			return nil, err
		}
		var col struct {
			Value []map[string]any `json:"value"`
			More  bool             `json:"@Microsoft.Dynamics.CRM.morerecords"`
		}
		if err := decode(op, resp, &col); err != nil {
			return nil, err
		}
		for _, row := range col.Value {
			id, _ := row[key].(string)
			v, ok := row["versionnumber"].(float64)
			if !IsGUID(id) || !ok {
				return nil, &Error{Op: op, Kind: KindBadResponse, Message: "a row has no valid " + key + " or versionnumber"}
			}
			out = append(out, RowVersion{ID: strings.ToLower(id), Version: int64(v)})
		}
		if !col.More {
			return out, nil
		}
	}
}

// rewriteFetch returns fetchXML with the entity's columns, orders and
// paging replaced: attrs are the only columns, and the page is asked.
// Filters and link-entities are kept as written.
func rewriteFetch(fetchXML string, attrs []string, count, page int) (string, error) {
	dec := xml.NewDecoder(strings.NewReader(fetchXML))
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	depth, skip := 0, 0
	sawEntity := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if skip > 0 {
				skip++
				continue
			}
			switch {
			case depth == 1:
				if t.Name.Local != "fetch" {
					return "", errors.New("the root element is not <fetch>")
				}
				var keep []xml.Attr
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "count", "page", "paging-cookie", "top":
					default:
						keep = append(keep, a)
					}
				}
				t.Attr = append(keep, xml.Attr{Name: xml.Name{Local: "count"}, Value: strconv.Itoa(count)},
					xml.Attr{Name: xml.Name{Local: "page"}, Value: strconv.Itoa(page)})
			case depth == 3 && (t.Name.Local == "attribute" || t.Name.Local == "all-attributes" || t.Name.Local == "order"):
				skip = 1
				continue
			}
			if err := enc.EncodeToken(t); err != nil {
				return "", err
			}
			if depth == 2 && t.Name.Local == "entity" {
				sawEntity = true
				for _, a := range attrs {
					el := xml.StartElement{Name: xml.Name{Local: "attribute"}, Attr: []xml.Attr{{Name: xml.Name{Local: "name"}, Value: a}}}
					if err := enc.EncodeToken(el); err != nil {
						return "", err
					}
					if err := enc.EncodeToken(el.End()); err != nil {
						return "", err
					}
				}
			}
		case xml.EndElement:
			depth--
			if skip > 0 {
				skip--
				continue
			}
			if err := enc.EncodeToken(t); err != nil {
				return "", err
			}
		case xml.CharData:
			if skip == 0 && len(bytes.TrimSpace(t)) > 0 {
				if err := enc.EncodeToken(t); err != nil {
					return "", err
				}
			}
		}
	}
	if !sawEntity {
		return "", errors.New("there is no <entity> under <fetch>")
	}
	if err := enc.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// rowsChunk bounds the IDs one query names, keeping its URL short.
const rowsChunk = 40

// Rows reads the records of set with the given IDs, with the columns cols
// (and expand, an $expand clause, when not empty), formatted values and
// lookup tables annotated. Records that are gone or hidden are absent.
func (c *HTTPClient) Rows(ctx context.Context, set, key string, ids, cols []string, expand string) ([]map[string]any, error) {
	op := "read " + set
	var out []map[string]any
	for start := 0; start < len(ids); start += rowsChunk {
		end := min(start+rowsChunk, len(ids))
		var or []string
		for _, id := range ids[start:end] {
			if err := checkGUID(op, "record ID", id); err != nil {
				return nil, err
			}
			or = append(or, key+" eq "+id)
		}
		opts := []string{"$select", strings.Join(cols, ","), "$filter", strings.Join(or, " or ")}
		if expand != "" {
			opts = append(opts, "$expand", expand)
		}
		err := c.annotatedRows(ctx, op, set+query(opts...), formattedPrefer, func(row map[string]any) error {
			out = append(out, row)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CreateRow creates a record with the body (which may carry the record's
// own primary key) and returns its ID and version. A record that already
// has that key fails with ErrConflict, which a retry after a crash reads
// as "done".
func (c *HTTPClient) CreateRow(ctx context.Context, set, key string, body map[string]any) (string, int64, error) {
	op := "create " + set
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, body: body,
		header: http.Header{"Prefer": {"return=representation"}},
		path:   set + query("$select", key+",versionnumber")})
	if err != nil {
		return "", 0, refusal(err, "The CRM refused the new record: ")
	}
	var row map[string]any
	if err := decode(op, resp, &row); err != nil {
		return "", 0, err
	}
	id, _ := row[key].(string)
	v, ok := row["versionnumber"].(float64)
	if !IsGUID(id) || !ok {
		return "", 0, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer lacks the new record's " + key + " or versionnumber"}
	}
	return strings.ToLower(id), int64(v), nil
}

// UpdateRow changes columns of a record and returns its new version. When
// version is above zero the change applies only to that version of the
// record (If-Match), so an edit made in the CRM meanwhile is not
// overwritten: it fails with ErrConflict instead.
func (c *HTTPClient) UpdateRow(ctx context.Context, set, key, id string, version int64, body map[string]any) (int64, error) {
	op := "update " + set
	if err := checkGUID(op, "record ID", id); err != nil {
		return 0, err
	}
	h := http.Header{"If-Match": {"*"}, "Prefer": {"return=representation"}}
	if version > 0 {
		h.Set("If-Match", `W/"`+strconv.FormatInt(version, 10)+`"`)
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPatch, header: h, body: body,
		path: set + "(" + id + ")" + query("$select", key+",versionnumber")})
	if err != nil {
		return 0, refusal(err, "The CRM refused the change: ")
	}
	var row struct {
		Version *float64 `json:"versionnumber"`
	}
	if err := decode(op, resp, &row); err != nil {
		return 0, err
	}
	if row.Version == nil {
		return 0, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer has no versionnumber"}
	}
	return int64(*row.Version), nil
}

// DeleteRow deletes a record; one already gone counts as deleted.
func (c *HTTPClient) DeleteRow(ctx context.Context, set, id string) error {
	op := "delete " + set
	if err := checkGUID(op, "record ID", id); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodDelete, idempotent: true, path: set + "(" + id + ")"})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return refusal(err, "The CRM refused to delete the record: ")
}

// RowOwner returns the owner's ID of a record ("" when it has none), and
// ErrNotFound when the record is gone.
func (c *HTTPClient) RowOwner(ctx context.Context, set, key, id string) (string, error) {
	op := "read " + set + " owner"
	if err := checkGUID(op, "record ID", id); err != nil {
		return "", err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
		path: set + "(" + id + ")" + query("$select", key+",_ownerid_value")})
	if err != nil {
		return "", err
	}
	var row struct {
		Owner string `json:"_ownerid_value"`
	}
	if err := decode(op, resp, &row); err != nil {
		return "", err
	}
	return strings.ToLower(row.Owner), nil
}

// emailColumns names the address column read for a party of each table.
var emailColumns = map[string][3]string{
	"contact":    {"contacts", "contactid", "emailaddress1"},
	"account":    {"accounts", "accountid", "emailaddress1"},
	"lead":       {"leads", "leadid", "emailaddress1"},
	"systemuser": {"systemusers", "systemuserid", "internalemailaddress"},
}

// PartyAddresses returns the primary email address of each record, keyed
// by ID; records without one, or of other tables, are absent. One query
// per table and chunk of IDs.
func (c *HTTPClient) PartyAddresses(ctx context.Context, refs map[string]string) (map[string]string, error) {
	byTable := map[string][]string{}
	for id, table := range refs {
		if _, ok := emailColumns[table]; ok && IsGUID(id) {
			byTable[table] = append(byTable[table], strings.ToLower(id))
		}
	}
	out := map[string]string{}
	for table, ids := range byTable {
		ec := emailColumns[table]
		rows, err := c.Rows(ctx, ec[0], ec[1], dedupe(ids), []string{ec[1], ec[2]}, "")
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			id, _ := row[ec[1]].(string)
			addr, _ := row[ec[2]].(string)
			if id != "" && addr != "" {
				out[strings.ToLower(id)] = addr
			}
		}
	}
	return out, nil
}
