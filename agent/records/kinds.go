package records

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// Kind is a type of record kept in step.
type Kind int

// The kinds, numbered as the cache's links are.
const (
	Contacts     Kind = 1
	Appointments Kind = 2
	Tasks        Kind = 3
)

// AllKinds lists every kind in pass order.
var AllKinds = []Kind{Contacts, Appointments, Tasks}

// spec is what a pass needs to know of one kind.
type spec struct {
	kind      Kind
	entity    string // the CRM table's logical name
	set, key  string // entity set and primary key
	coll      dav.Kind
	component string // the iCalendar component; "" for contacts
	ext       string // item file extension
	noun      string // plural, for reports
	decode    func([]byte) (item.Item, error)
	encode    func(prev []byte, uid, crmID string, owned []string, v item.Values) ([]byte, error)
	// fields are the Exchange names this client can write to and read from
	// the item, by the CRM column they map from.
	fields map[string]string
}

var specs = map[Kind]*spec{
	Contacts: {kind: Contacts, entity: "contact", set: "contacts", key: "contactid", coll: dav.AddressBook,
		ext: ".vcf", noun: "contacts", decode: item.DecodeContact, encode: item.EncodeContact,
		fields: map[string]string{
			"firstname": "GivenName", "lastname": "Surname", "fullname": "FullName",
			"emailaddress1": "Email1Address", "emailaddress2": "Email2Address", "emailaddress3": "Email3Address",
			"telephone1": "BusinessPhone", "mobilephone": "MobilePhone", "telephone2": "HomePhone",
			"parentcustomerid": "CompanyName", "jobtitle": "JobTitle",
		}},
	Appointments: {kind: Appointments, entity: "appointment", set: "appointments", key: "activityid", coll: dav.Calendar,
		component: "VEVENT", ext: ".ics", noun: "appointments", decode: item.DecodeEvent, encode: item.EncodeEvent,
		fields: map[string]string{
			"subject": "Subject", "scheduledstart": "Start", "scheduledend": "End", "isalldayevent": "IsAllDayEvent",
			"location": "Location", "description": "Body", "requiredattendees": "RequiredAttendees",
			"optionalattendees": "OptionalAttendees", "organizer": "Organizer",
		}},
	Tasks: {kind: Tasks, entity: "task", set: "tasks", key: "activityid", coll: dav.Calendar,
		component: "VTODO", ext: ".ics", noun: "tasks", decode: item.DecodeTask, encode: item.EncodeTask,
		fields: map[string]string{
			"subject": "Subject", "scheduledend": "DueDate", "statuscode": "Status",
			"description": "Body", "percentcomplete": "PercentComplete",
		}},
}

// String names the kind as a report does.
func (k Kind) String() string {
	if s, ok := specs[k]; ok {
		return s.noun
	}
	return "kind " + strconv.Itoa(int(k))
}

// Party participation masks of an appointment.
const (
	maskRequired  = 5
	maskOptional  = 6
	maskOrganizer = 7
)

// partyFields are the Exchange names read from an appointment's parties.
var partyFields = map[string]int{"RequiredAttendees": maskRequired, "OptionalAttendees": maskOptional, "Organizer": maskOrganizer}

// crmOnly are columns a client cannot write from an item: a lookup (the
// company is an account), a computed name, and the parties, which this
// client writes only when it creates an appointment.
var crmOnly = map[string]bool{"fullname": true, "parentcustomerid": true,
	"requiredattendees": true, "optionalattendees": true, "organizer": true}

// timeCols are the CRM's date and time columns among the mapped ones.
var timeCols = map[string]bool{"scheduledstart": true, "scheduledend": true}

// selectCol is the column a query selects to read a mapped attribute; ""
// when it is read from the parties instead.
func selectCol(crmAttr string) string {
	switch crmAttr {
	case "parentcustomerid":
		return "_parentcustomerid_value"
	case "requiredattendees", "optionalattendees", "organizer":
		return ""
	case "statuscode":
		return "statuscode"
	}
	return crmAttr
}

const annFormatted = "@OData.Community.Display.V1.FormattedValue"

// party is one activity party of an appointment as read.
type party struct {
	mask         int
	id, table    string
	name, direct string // display name; the address used, when the CRM kept one
}

// rowParties reads an appointment row's expanded parties.
func rowParties(row map[string]any) []party {
	list, _ := row["appointment_activity_parties"].([]any)
	var out []party
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var p party
		if f, ok := m["participationtypemask"].(float64); ok {
			p.mask = int(f)
		}
		p.id, _ = m["_partyid_value"].(string)
		p.id = strings.ToLower(p.id)
		p.table, _ = m["_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname"].(string)
		p.name, _ = m["_partyid_value"+annFormatted].(string)
		p.direct, _ = m["addressused"].(string)
		out = append(out, p)
	}
	return out
}

// crmValues turns a CRM row into item values for the mapped fields.
// addrs holds the email address of each party record by ID.
func crmValues(sp *spec, fields []field, row map[string]any, addrs map[string]string) item.Values {
	v := item.Values{}
	allDay, _ := row["isalldayevent"].(bool)
	for _, f := range fields {
		if mask, ok := partyFields[f.ex]; ok {
			var lines []string
			for _, p := range rowParties(row) {
				if p.mask != mask {
					continue
				}
				addr := p.direct
				if a, ok := addrs[p.id]; ok && a != "" {
					addr = a
				}
				if addr == "" {
					continue
				}
				lines = append(lines, strings.ToLower(strings.TrimSpace(addr))+"\t"+strings.TrimSpace(p.name))
			}
			sort.Strings(lines)
			if len(lines) > 0 {
				v[f.ex] = strings.Join(lines, "\n")
			}
			continue
		}
		switch {
		case f.crm == "parentcustomerid":
			v[f.ex], _ = row["_parentcustomerid_value"+annFormatted].(string)
		case f.crm == "statuscode" && sp.kind == Tasks:
			state, _ := row["statecode"].(float64)
			status, _ := row["statuscode"].(float64)
			v[f.ex] = taskStatus(int(state), int(status))
		case timeCols[f.crm]:
			s, _ := row[f.crm].(string)
			v[f.ex] = canonicalTime(s, allDay && sp.kind == Appointments)
		default:
			switch x := row[f.crm].(type) {
			case string:
				v[f.ex] = strings.ReplaceAll(strings.TrimSpace(x), "\r\n", "\n")
			case bool:
				v[f.ex] = strconv.FormatBool(x)
			case float64:
				v[f.ex] = strconv.FormatInt(int64(x), 10)
			}
		}
		if v[f.ex] == "" {
			delete(v, f.ex)
		}
	}
	return v
}

// canonicalTime writes a CRM date and time as item values do: UTC RFC
// 3339, or a date for an all-day appointment.
func canonicalTime(s string, allDay bool) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return ""
	}
	if allDay {
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}

// taskStatus maps a task's state and status to an iCalendar STATUS.
func taskStatus(state, status int) string {
	switch state {
	case 1:
		return "COMPLETED"
	case 2:
		return "CANCELLED"
	}
	if status == 3 {
		return "IN-PROCESS"
	}
	return "NEEDS-ACTION"
}

// taskState maps an iCalendar STATUS to a task's state and status.
func taskState(s string) (state, status int) {
	switch s {
	case "COMPLETED":
		return 1, 5
	case "CANCELLED":
		return 2, 6
	case "IN-PROCESS":
		return 0, 3
	}
	return 0, 2
}

// crmBody turns item values into the columns of a create or update.
// Only the fields in write are written.
func crmBody(sp *spec, write []field, v item.Values) (map[string]any, error) {
	body := map[string]any{}
	for _, f := range write {
		s := v[f.ex]
		switch {
		case f.crm == "statuscode" && sp.kind == Tasks:
			state, status := taskState(s)
			body["statecode"], body["statuscode"] = state, status
		case timeCols[f.crm]:
			if s == "" {
				body[f.crm] = nil
				continue
			}
			t, err := parseValueTime(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.ex, err)
			}
			body[f.crm] = t.UTC().Format(time.RFC3339)
		case f.crm == "isalldayevent":
			body[f.crm] = s == "true"
		case f.crm == "percentcomplete":
			if s == "" {
				body[f.crm] = nil
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 100 {
				return nil, fmt.Errorf("%s: %q is not a percentage", f.ex, s)
			}
			body[f.crm] = n
		default:
			if s == "" {
				body[f.crm] = nil
			} else {
				body[f.crm] = s
			}
		}
	}
	return body, nil
}

// parseValueTime reads a time item values carry: RFC 3339 or a date.
func parseValueTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a date nor a time", s)
}

// attendeeAddrs lists the addresses of the attendee and organizer lines of
// an event's values.
func attendeeAddrs(v item.Values) []string {
	var out []string
	for _, k := range []string{"Organizer", "RequiredAttendees", "OptionalAttendees"} {
		for _, line := range strings.Split(v[k], "\n") {
			addr, _, _ := strings.Cut(line, "\t")
			if addr = strings.TrimSpace(addr); addr != "" {
				out = append(out, addr)
			}
		}
	}
	return out
}
