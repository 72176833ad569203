package localcrm

import (
	"context"
	"database/sql"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// The demo's synchronization data: appointments, tasks, home phone
// numbers (a secured column), the field security profile that lets bob
// read them, and an organization-wide filter. Dates are relative to the
// day the seed first runs, in UTC.

// demoHomePhones are the contacts' telephone2 ("Home Phone") values: two
// of alice's contacts and one of bob's.
var demoHomePhones = map[string]string{
	"maria.campbell@contoso.example":         "+1 425 555 0199",
	"thomas.andersen@contoso.example":        "+1 425 555 0177",
	"nancy.anderson@adventure-works.example": "+1 206 555 0123",
}

// FieldProfilePersonalDetails is the demo's field security profile: it
// grants bob read, update and create on contact.telephone2. System
// administrators have that access without it.
const FieldProfilePersonalDetails = "Personal contact details"

// ContosoFilterID is the id of the demo's organization-wide filter, the
// savedquery "Contacts at Contoso".
var ContosoFilterID = DemoID("savedquery", "Contacts at Contoso")

// demoParty is one party of a demo appointment: a user (by address) or a
// contact (by address), with its mask.
type demoParty struct {
	user, contact string
	mask          int
}

type demoAppointment struct {
	subject, location, owner string
	startDay                 int // days from the seed's day
	startHour, startMin      int
	minutes                  int
	state, status            int
	parties                  []demoParty
}

type demoTask struct {
	subject, owner, regardingAccount string
	dueDay, dueHour                  int
	state, status, percent           int
}

func demoActivities() ([]demoAppointment, []demoTask) {
	const alice, bob = "alice@demo.local", "bob@demo.local"
	org := func(u string) demoParty { return demoParty{user: u, mask: records.MaskOrganizer} }
	req := func(c string) demoParty { return demoParty{contact: c, mask: records.MaskRequiredAttendee} }
	opt := func(c string) demoParty { return demoParty{contact: c, mask: records.MaskOptionalAttendee} }
	appts := []demoAppointment{
		{"Contoso quarterly review", "Contoso HQ, Seattle", alice, 1, 10, 0, 60, 3, 5,
			[]demoParty{org(alice), req("maria.campbell@contoso.example"), req("thomas.andersen@contoso.example")}},
		{"Call with Fabrikam", "Microsoft Teams", alice, 3, 14, 0, 30, 3, 5,
			[]demoParty{org(alice), opt("yvonne.mckay@fabrikam.example")}},
		{"Kick-off with Northwind", "Northwind Traders, Portland", alice, -10, 9, 0, 90, 1, 3,
			[]demoParty{org(alice), req("paul.cannon@northwind.example")}},
		{"Tailspin Toys trade show debrief", "Online", alice, -45, 15, 0, 60, 1, 3,
			[]demoParty{org(alice), req("rene.valdes@tailspin.example")}},
		{"Adventure Works pricing workshop", "Adventure Works, Bothell", bob, 2, 13, 0, 60, 3, 5,
			[]demoParty{org(bob), {user: alice, mask: records.MaskRequiredAttendee}, req("nancy.anderson@adventure-works.example")}},
		{"Northwind warehouse visit", "Northwind Traders, Portland", bob, 5, 8, 30, 120, 3, 5,
			[]demoParty{org(bob), req("paul.cannon@northwind.example")}},
		{"Intro call with Wide World Importers", "Phone", bob, 1, 16, 0, 30, 3, 5,
			[]demoParty{org(bob), req("sidney.higa@wideworldimporters.example")}},
	}
	tasks := []demoTask{
		{"Send the revised quote to Contoso", alice, "Contoso Ltd", 2, 17, 0, 2, 0},
		{"Prepare the QBR slides", alice, "Contoso Ltd", 1, 9, 0, 3, 40},
		{"Book travel to Seattle", alice, "", -3, 12, 1, 5, 100},
		{"Call Paul about the damaged delivery", bob, "Northwind Traders", 1, 11, 0, 2, 0},
		{"Renew the Adventure Works NDA", bob, "Adventure Works Cycles", 7, 17, 0, 2, 0},
	}
	return appts, tasks
}

// seedSyncData adds the demo's synchronization data in tx; users maps the
// demo users' addresses to their ids. Records that exist are left alone.
func (s *Server) seedSyncData(ctx context.Context, tx *sql.Tx, users map[string]string) error {
	now := s.now()
	today := now.UTC().Truncate(24 * time.Hour)
	at := func(day, hour, min int) string {
		return wire.FormatTime(today.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(min)*time.Minute))
	}
	insert := func(rec *store.Record, parties []*store.Party) error {
		existing, err := store.GetRecord(ctx, tx, rec.Set, rec.ID)
		if err != nil || existing != nil {
			return err
		}
		if err := store.InsertRecord(ctx, tx, rec); err != nil {
			return err
		}
		if parties != nil {
			return store.ReplaceParties(ctx, tx, rec.ID, parties)
		}
		return nil
	}
	owned := func(owner string) map[string]*store.Ref {
		me := &store.Ref{Table: "systemuser", ID: users[owner]}
		return map[string]*store.Ref{"ownerid": me, "createdby": me, "modifiedby": me}
	}
	appts, tasks := demoActivities()
	for _, a := range appts {
		var parties []*store.Party
		for _, p := range a.parties {
			party := &store.Party{Mask: p.mask}
			if p.user != "" {
				party.Target, party.AddressUsed = &store.Ref{Table: "systemuser", ID: users[p.user]}, p.user
			} else {
				party.Target, party.AddressUsed = &store.Ref{Table: "contact", ID: DemoID("contact", p.contact)}, p.contact
			}
			parties = append(parties, party)
		}
		start := at(a.startDay, a.startHour, a.startMin)
		end := at(a.startDay, a.startHour, a.startMin+a.minutes)
		rec := &store.Record{Set: "appointments", ID: DemoID("appointment", a.subject), CreatedOn: now, ModifiedOn: now,
			Attrs: map[string]any{
				"subject": a.subject, "location": a.location, "scheduledstart": start, "scheduledend": end,
				"isalldayevent": false, "prioritycode": float64(1),
				"statecode": float64(a.state), "statuscode": float64(a.status),
			}, Lookups: owned(a.owner)}
		if err := insert(rec, parties); err != nil {
			return err
		}
	}
	for _, t := range tasks {
		rec := &store.Record{Set: "tasks", ID: DemoID("task", t.subject), CreatedOn: now, ModifiedOn: now,
			Attrs: map[string]any{
				"subject": t.subject, "scheduledend": at(t.dueDay, t.dueHour, 0), "percentcomplete": float64(t.percent),
				"prioritycode": float64(1), "statecode": float64(t.state), "statuscode": float64(t.status),
			}, Lookups: owned(t.owner)}
		if t.state == 1 {
			rec.Attrs["actualend"] = at(t.dueDay, t.dueHour, 0)
		}
		if t.regardingAccount != "" {
			rec.Lookups["regardingobjectid"] = &store.Ref{Table: "account", ID: DemoID("account", t.regardingAccount)}
		}
		if err := insert(rec, nil); err != nil {
			return err
		}
	}
	profiles, err := records.LoadFieldProfiles(ctx, tx)
	if err != nil {
		return err
	}
	hasProfile := false
	for _, p := range profiles {
		hasProfile = hasProfile || p.Name == FieldProfilePersonalDetails
	}
	if !hasProfile {
		err := records.PutFieldProfile(ctx, tx, records.FieldSecurityProfile{
			Name:  FieldProfilePersonalDetails,
			Users: []string{users["bob@demo.local"]},
			Permissions: []records.FieldPermission{
				{Table: "contact", Column: "telephone2", CanRead: true, CanUpdate: true, CanCreate: true},
			},
		})
		if err != nil {
			return err
		}
	}
	// The organization-wide filter is added once and then left to the
	// administrator.
	existing, err := store.GetRecord(ctx, tx, "savedqueries", ContosoFilterID)
	if err != nil || existing != nil {
		return err
	}
	return store.InsertRecord(ctx, tx, &store.Record{Set: "savedqueries", ID: ContosoFilterID, CreatedOn: now, ModifiedOn: now,
		Attrs: map[string]any{
			"name": "Contacts at Contoso", "returnedtypecode": "contact", "querytype": float64(QueryTypeOutlookFilters),
			"isdefault": false, "statecode": float64(0), "statuscode": float64(1),
			"description": "Every active contact of Contoso Ltd, for everyone's address book.",
			"fetchxml": `<fetch version="1.0" mapping="logical">
  <entity name="contact">
    <all-attributes/>
    <filter type="and">
      <condition attribute="parentcustomerid" operator="eq" value="` + DemoID("account", "Contoso Ltd") + `"/>
      <condition attribute="statecode" operator="eq" value="0"/>
    </filter>
  </entity>
</fetch>`,
		}, Lookups: map[string]*store.Ref{}})
}
