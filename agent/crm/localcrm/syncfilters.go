package localcrm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// Synchronization filters and fields: what a desktop client keeps in step
// with the user's address book and calendar. Filters are saved views of
// querytype 256 (OutlookFilters): userqueries per user, savedqueries for
// the organization; fields are the mappings of the system
// syncattributemappingprofile ([PPA]
// admin/AppointmentContactandTaskDefaultFilterchanges-new.md; [CE]
// outlook-addin/user-guide/control-field-synchronization-exchange.md).

// Query types and synchronization directions, re-exported for users of
// the server.
const (
	// QueryTypeOutlookFilters is the querytype of synchronization filters.
	QueryTypeOutlookFilters = records.QueryTypeOutlookFilters
	// SyncNone: the field is not synchronized.
	SyncNone = records.SyncNone
	// SyncToExchange: the CRM's value is written to Exchange.
	SyncToExchange = records.SyncToExchange
	// SyncToCRM: Exchange's value is written to the CRM.
	SyncToCRM = records.SyncToCRM
	// SyncBidirectional: changes go both ways.
	SyncBidirectional = records.SyncBidirectional
)

// Errors of the synchronization Go API.
var (
	// ErrNotFound is returned when the named view or mapping does not exist.
	ErrNotFound = errors.New("localcrm: not found")
	// ErrDirectionNotAllowed is returned by SetSyncDirection for a
	// direction the mapping's allowedsyncdirection does not allow.
	ErrDirectionNotAllowed = errors.New("localcrm: synchronization direction not allowed")
)

// SyncFilterTemplate is one of the filters every user gets.
type SyncFilterTemplate struct {
	Name     string
	Entity   string
	FetchXML string
}

// SyncFilterTemplates returns the default synchronization filters, which
// Dataverse creates for a user set up for synchronization: "My Outlook
// Contacts" (active contacts the user owns), "My Appointments" and "My
// Tasks" ([PPA] AppointmentContactandTaskDefaultFilterchanges-new.md names
// them and says they are FetchXML; their exact conditions here are this
// server's, UNCONFIRMED). FetchXML has no "on or after x days ago"
// operator, so "appointments that end 30 days ago or later" is written as
// ending in the last 30 days or in the next ten years (days in UTC). The
// user is an appointment's owner or one of its parties (organizer or
// attendee), through an outer link to activityparty.
func SyncFilterTemplates() []SyncFilterTemplate {
	return []SyncFilterTemplate{
		{Name: "My Outlook Contacts", Entity: "contact", FetchXML: `<fetch version="1.0" mapping="logical">
  <entity name="contact">
    <all-attributes/>
    <filter type="and">
      <condition attribute="ownerid" operator="eq-userid"/>
      <condition attribute="statecode" operator="eq" value="0"/>
    </filter>
  </entity>
</fetch>`},
		{Name: "My Appointments", Entity: "appointment", FetchXML: `<fetch version="1.0" mapping="logical" distinct="true">
  <entity name="appointment">
    <all-attributes/>
    <filter type="and">
      <filter type="or">
        <condition attribute="scheduledend" operator="last-x-days" value="30"/>
        <condition attribute="scheduledend" operator="next-x-days" value="3650"/>
      </filter>
      <filter type="or">
        <condition attribute="ownerid" operator="eq-userid"/>
        <condition entityname="party" attribute="partyid" operator="eq-userid"/>
      </filter>
    </filter>
    <link-entity name="activityparty" from="activityid" to="activityid" link-type="outer" alias="party"/>
  </entity>
</fetch>`},
		{Name: "My Tasks", Entity: "task", FetchXML: `<fetch version="1.0" mapping="logical">
  <entity name="task">
    <all-attributes/>
    <filter type="and">
      <condition attribute="ownerid" operator="eq-userid"/>
      <condition attribute="statecode" operator="eq" value="0"/>
    </filter>
  </entity>
</fetch>`},
	}
}

// syncFiltersMeta marks a user whose default filters were created, so a
// filter the user deleted is not brought back on the next start.
func syncFiltersMeta(userID string) string { return "syncfilters:" + userID }

// ensureSyncFilters gives a user the default synchronization filters,
// once, owned by the user.
func (s *Server) ensureSyncFilters(ctx context.Context, tx *sql.Tx, userID string) error {
	done, err := store.GetMeta(ctx, tx, syncFiltersMeta(userID))
	if err != nil || done != "" {
		return err
	}
	now := s.now()
	me := &store.Ref{Table: "systemuser", ID: userID}
	for _, t := range SyncFilterTemplates() {
		if _, ok := s.cat.Logical(t.Entity); !ok {
			continue
		}
		id := DemoID("userquery", userID+"/"+t.Name)
		existing, err := store.GetRecord(ctx, tx, "userqueries", id)
		if err != nil {
			return err
		}
		if existing != nil {
			continue
		}
		rec := &store.Record{Set: "userqueries", ID: id, CreatedOn: now, ModifiedOn: now,
			Attrs: map[string]any{
				"name": t.Name, "fetchxml": t.FetchXML, "returnedtypecode": t.Entity,
				"querytype": float64(QueryTypeOutlookFilters), "statecode": float64(0), "statuscode": float64(1),
			},
			Lookups: map[string]*store.Ref{"ownerid": me, "createdby": me, "modifiedby": me}}
		if err := store.InsertRecord(ctx, tx, rec); err != nil {
			return err
		}
	}
	return store.SetMeta(ctx, tx, syncFiltersMeta(userID), "1")
}

// systemSession is a Session for the Go API's checks, acting as the
// system (no user).
func (s *Server) systemSession(ctx context.Context) *records.Session {
	return &records.Session{Ctx: ctx, Cat: s.cat, Now: s.now}
}

// PutSavedQuery creates or replaces a system view (savedquery), as an
// administrator does: id is its GUID, entity the logical name of the table
// its FetchXML queries, querytype 256 for a synchronization filter, and
// active its state. The FetchXML must be a query this server can run on
// that table. The Web API cannot change system views.
func (s *Server) PutSavedQuery(ctx context.Context, id, name, entity, fetchXML string, querytype int, active bool) error {
	gid, ok := wire.ParseGUID(id)
	if !ok {
		return fmt.Errorf("localcrm: put saved query: %q is not a GUID", id)
	}
	state, status := float64(0), float64(1)
	if !active {
		state, status = 1, 2
	}
	attrs := map[string]any{
		"name": name, "fetchxml": fetchXML, "returnedtypecode": entity, "querytype": float64(querytype),
		"isdefault": false, "statecode": state, "statuscode": status,
	}
	ent, _ := s.cat.Logical("savedquery")
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		rec, err := store.GetRecord(ctx, tx, ent.Set, gid)
		if err != nil {
			return err
		}
		now := s.now()
		if rec == nil {
			rec = &store.Record{Set: ent.Set, ID: gid, CreatedOn: now, Attrs: map[string]any{}, Lookups: map[string]*store.Ref{}}
		}
		for k, v := range attrs {
			rec.Attrs[k] = v
		}
		rec.ModifiedOn = now
		if err := s.systemSession(ctx).CheckView(ent, rec); err != nil {
			return fmt.Errorf("localcrm: put saved query: %w", err)
		}
		if rec.Version == 0 {
			return store.InsertRecord(ctx, tx, rec)
		}
		return store.UpdateRecord(ctx, tx, rec)
	})
}

// SetUserQueryActive activates or deactivates a user's personal view by
// name (statecode 0 Active, 1 Inactive), as the user does in the
// synchronization settings. It returns ErrNoUser or ErrNotFound.
func (s *Server) SetUserQueryActive(ctx context.Context, userEmail, name string, active bool) error {
	userID, err := s.UserID(userEmail)
	if err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		views, err := store.ListRecords(ctx, tx, "userqueries")
		if err != nil {
			return err
		}
		for _, v := range views {
			if v.Owner() != userID || v.Str("name") != name {
				continue
			}
			v.Attrs["statecode"], v.Attrs["statuscode"] = float64(0), float64(1)
			if !active {
				v.Attrs["statecode"], v.Attrs["statuscode"] = float64(1), float64(2)
			}
			v.ModifiedOn = s.now()
			return store.UpdateRecord(ctx, tx, v)
		}
		return fmt.Errorf("localcrm: set user query %q of %s: %w", name, userEmail, ErrNotFound)
	})
}

// SyncMapping is one field pair of the default synchronization profile.
type SyncMapping struct {
	Entity       string // contact, appointment or task
	CRMAttribute string
	Exchange     string // the Exchange (Outlook) property name
	Direction    int    // the direction set now, and the default
	Allowed      int    // the directions the administrator may choose
}

// DefaultSyncMappings are the field pairs of the system profile
// "Default". The Exchange names are the desktop client's contract.
func DefaultSyncMappings() []SyncMapping {
	m := func(entity, crm, exch string, dir int) SyncMapping {
		return SyncMapping{Entity: entity, CRMAttribute: crm, Exchange: exch, Direction: dir, Allowed: dir}
	}
	const both, out = SyncBidirectional, SyncToExchange
	return []SyncMapping{
		m("contact", "firstname", "GivenName", both), m("contact", "lastname", "Surname", both),
		m("contact", "fullname", "FullName", out),
		m("contact", "emailaddress1", "Email1Address", both), m("contact", "emailaddress2", "Email2Address", both),
		m("contact", "emailaddress3", "Email3Address", both),
		m("contact", "telephone1", "BusinessPhone", both), m("contact", "mobilephone", "MobilePhone", both),
		m("contact", "telephone2", "HomePhone", both), m("contact", "parentcustomerid", "CompanyName", out),
		m("contact", "jobtitle", "JobTitle", both),
		m("appointment", "subject", "Subject", both), m("appointment", "scheduledstart", "Start", both),
		m("appointment", "scheduledend", "End", both), m("appointment", "isalldayevent", "IsAllDayEvent", both),
		m("appointment", "location", "Location", both), m("appointment", "description", "Body", both),
		m("appointment", "requiredattendees", "RequiredAttendees", out),
		m("appointment", "optionalattendees", "OptionalAttendees", out),
		m("appointment", "organizer", "Organizer", out),
		m("task", "subject", "Subject", both), m("task", "scheduledend", "DueDate", both),
		m("task", "statuscode", "Status", both), m("task", "description", "Body", both),
		m("task", "percentcomplete", "PercentComplete", both),
	}
}

// DefaultSyncProfileID is the id of the system profile "Default".
var DefaultSyncProfileID = DemoID("syncattributemappingprofile", "Default")

// syncMappingID is the fixed id of a mapping of the default profile.
func syncMappingID(entity, crmAttr string) string {
	return DemoID("syncattributemapping", entity+"."+crmAttr)
}

// ensureSyncProfile creates the system synchronization profile and its
// mappings where missing; mappings that exist keep the direction the
// administrator chose.
func (s *Server) ensureSyncProfile(ctx context.Context) error {
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		put := func(set, id string, attrs map[string]any, lookups map[string]*store.Ref) error {
			existing, err := store.GetRecord(ctx, tx, set, id)
			if err != nil || existing != nil {
				return err
			}
			if lookups == nil {
				lookups = map[string]*store.Ref{}
			}
			return store.InsertRecord(ctx, tx, &store.Record{Set: set, ID: id, CreatedOn: now, ModifiedOn: now, Attrs: attrs, Lookups: lookups})
		}
		err := put("syncattributemappingprofiles", DefaultSyncProfileID, map[string]any{
			"name": "Default", "description": "The fields synchronized between the CRM and Exchange, and their directions.",
			"issystem": true,
		}, nil)
		if err != nil {
			return err
		}
		profile := &store.Ref{Table: "syncattributemappingprofile", ID: DefaultSyncProfileID}
		for _, m := range DefaultSyncMappings() {
			err := put("syncattributemappings", syncMappingID(m.Entity, m.CRMAttribute), map[string]any{
				"mappingname": m.Entity + "." + m.CRMAttribute, "entityname": m.Entity,
				"attributecrmname": m.CRMAttribute, "attributeexchangename": m.Exchange,
				"syncdirection": float64(m.Direction), "defaultsyncdirection": float64(m.Direction),
				"allowedsyncdirection": float64(m.Allowed), "iscomputed": m.CRMAttribute == "fullname",
			}, map[string]*store.Ref{"syncattributemappingprofileid": profile})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// SetSyncDirection sets the direction in which a field of the default
// profile synchronizes (SyncNone, SyncToExchange, SyncToCRM or
// SyncBidirectional), as the administrator does in the synchronization
// settings. A direction the mapping's allowedsyncdirection does not allow
// is refused: Bidirectional allows all, a one-way mapping that way or
// none, None only none. It returns ErrNotFound for an unknown field.
func (s *Server) SetSyncDirection(ctx context.Context, entity, crmAttr string, dir int) error {
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		rec, err := store.GetRecord(ctx, tx, "syncattributemappings", syncMappingID(entity, crmAttr))
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("localcrm: set sync direction of %s.%s: %w", entity, crmAttr, ErrNotFound)
		}
		allowed, _ := rec.Attrs["allowedsyncdirection"].(float64)
		if !records.SyncDirectionAllowed(int(allowed), dir) {
			return fmt.Errorf("localcrm: set sync direction of %s.%s to %d (the mapping's allowedsyncdirection is %d): %w",
				entity, crmAttr, dir, int(allowed), ErrDirectionNotAllowed)
		}
		rec.Attrs["syncdirection"] = float64(dir)
		rec.ModifiedOn = s.now()
		return store.UpdateRecord(ctx, tx, rec)
	})
}
