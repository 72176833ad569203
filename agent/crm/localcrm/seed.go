package localcrm

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"fmt"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// DemoUser is a sign-in of the demo seed.
type DemoUser struct {
	Email    string
	Password string
	FullName string
	Role     string
	// RequireMFA marks a user who must use multi-factor authentication:
	// the password grant refuses them, the interactive sign-ins work.
	RequireMFA bool
	// Delivery is how the user's mailbox sends and receives email
	// (DeliveryOutlook or DeliveryServerSideSync).
	Delivery int
}

// DemoUsers returns the users SeedDemo creates: alice and bob may sync
// (Salesperson), carol may not (Sales Viewer), and dave may sync but must
// use MFA, so only browser and device code sign-ins work for him. Each
// has a mailbox: alice's and dave's deliver through a desktop client
// (DeliveryOutlook), bob's and carol's through server-side
// synchronization.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{Email: "alice@demo.local", Password: "demo-alice", FullName: "Alice Martin", Role: RoleSalesperson, Delivery: DeliveryOutlook},
		{Email: "bob@demo.local", Password: "demo-bob", FullName: "Bob Nguyen", Role: RoleSalesperson, Delivery: DeliveryServerSideSync},
		{Email: "carol@demo.local", Password: "demo-carol", FullName: "Carol Diaz", Role: RoleSalesViewer, Delivery: DeliveryServerSideSync},
		{Email: "dave@demo.local", Password: "demo-dave", FullName: "Dave Okafor", Role: RoleSalesperson, RequireMFA: true, Delivery: DeliveryOutlook},
	}
}

// DemoID returns the fixed id a demo record gets, derived from its table
// and a stable key (a user's or account's address, a record's name), so
// the seed is idempotent and its ids are the same in every store.
func DemoID(logical, key string) string {
	h := sha1.Sum([]byte("crmsync demo " + logical + " " + key))
	var b [16]byte
	copy(b[:], h[:16])
	b[6] = b[6]&0x0f | 0x50 // a name-based (version 5 style) GUID
	b[8] = b[8]&0x3f | 0x80
	return wire.FormatGUID(b)
}

type demoAccount struct{ name, email, phone, city, web, owner string }

type demoContact struct {
	first, last, email, email2, job, account, owner string
	phone, mobile                                   string // telephone1 and mobilephone; "" for none
}

type demoOpportunity struct {
	name, account string
	value         float64
	owner         string
}

type demoCase struct{ title, ticket, account, contact, owner string }

// The demo business data. Owners are the demo users' addresses.
func demoData() ([]demoAccount, []demoContact, []demoOpportunity, []demoCase) {
	accounts := []demoAccount{
		{"Contoso Ltd", "info@contoso.example", "+1 425 555 0100", "Redmond", "https://contoso.example", "alice@demo.local"},
		{"Fabrikam Inc", "sales@fabrikam.example", "+1 312 555 0142", "Chicago", "https://fabrikam.example", "alice@demo.local"},
		{"Adventure Works Cycles", "hello@adventure-works.example", "+1 206 555 0179", "Bothell", "https://adventure-works.example", "bob@demo.local"},
		{"Northwind Traders", "orders@northwind.example", "+1 503 555 0113", "Portland", "https://northwind.example", "bob@demo.local"},
		{"Tailspin Toys", "contact@tailspin.example", "+44 20 7946 0321", "London", "https://tailspin.example", "alice@demo.local"},
		{"Wide World Importers", "info@wideworldimporters.example", "+61 2 5550 1234", "Sydney", "https://wideworldimporters.example", "bob@demo.local"},
	}
	contacts := []demoContact{
		{"Maria", "Campbell", "maria.campbell@contoso.example", "maria@campbell.example", "Purchasing Manager", "Contoso Ltd", "alice@demo.local", "+1 425 555 0101", ""},
		{"Thomas", "Andersen", "thomas.andersen@contoso.example", "", "IT Director", "Contoso Ltd", "alice@demo.local", "", "+1 425 555 0188"},
		{"Yvonne", "McKay", "yvonne.mckay@fabrikam.example", "", "Operations Lead", "Fabrikam Inc", "alice@demo.local", "", ""},
		{"Nancy", "Anderson", "nancy.anderson@adventure-works.example", "nancy.a@home.example", "Buyer", "Adventure Works Cycles", "bob@demo.local", "", ""},
		{"Paul", "Cannon", "paul.cannon@northwind.example", "", "Warehouse Manager", "Northwind Traders", "bob@demo.local", "", ""},
		{"Rene", "Valdes", "rene.valdes@tailspin.example", "", "Marketing Director", "Tailspin Toys", "alice@demo.local", "", ""},
		{"Sidney", "Higa", "sidney.higa@wideworldimporters.example", "", "CFO", "Wide World Importers", "bob@demo.local", "", ""},
		{"Susan", "Burk", "susan.burk@example.com", "", "Consultant", "", "alice@demo.local", "", ""},
	}
	opps := []demoOpportunity{
		{"250 laptops for the field team", "Contoso Ltd", 312500, "alice@demo.local"},
		{"Support contract renewal 2026", "Fabrikam Inc", 48000, "alice@demo.local"},
		{"Bike fleet telemetry sensors", "Adventure Works Cycles", 96000, "bob@demo.local"},
		{"Warehouse barcode scanners", "Northwind Traders", 27500, "bob@demo.local"},
		{"Holiday toy display stands", "Tailspin Toys", 15800, "alice@demo.local"},
	}
	cases := []demoCase{
		{"Invoice shows the wrong VAT number", "CAS-01001-D3M0A1", "Contoso Ltd", "Maria Campbell", "alice@demo.local"},
		{"Cannot sign in to the customer portal", "CAS-01002-D3M0B2", "Fabrikam Inc", "Yvonne McKay", "alice@demo.local"},
		{"Delivery arrived damaged", "CAS-01003-D3M0C3", "Northwind Traders", "Paul Cannon", "bob@demo.local"},
		{"Request for a copy of the signed contract", "CAS-01004-D3M0D4", "Adventure Works Cycles", "Nancy Anderson", "bob@demo.local"},
		{"Scanner firmware update fails", "CAS-01005-D3M0E5", "Northwind Traders", "", "bob@demo.local"},
	}
	return accounts, contacts, opps, cases
}

// SeedDemo adds the demo users and business records; opportunities and
// cases only where the environment has those tables (Options.App); and
// the synchronization data (seed_activities.go): appointments and tasks
// dated from the day of the first seed, home phone numbers, the field
// security profile "Personal contact details" and the savedquery
// "Contacts at Contoso"; and the outgoing email (seed_outgoing.go): two
// Pending Send emails and a draft of alice's, one with the attachment
// quote.pdf, and a Pending Send email of bob's. It is idempotent:
// records and users that already exist (by their fixed ids and addresses)
// are left as they are, so running it on every start of a persistent
// store never duplicates anything.
func (s *Server) SeedDemo() error {
	ctx := context.Background()
	err := s.st.Tx(ctx, func(tx *sql.Tx) error {
		users := map[string]string{}
		for _, u := range DemoUsers() {
			existing, err := store.UserByEmail(ctx, tx, u.Email)
			if err != nil {
				return err
			}
			if existing != nil {
				users[u.Email] = existing.ID
				if err := s.ensureMailbox(ctx, tx, existing.ID); err != nil {
					return err
				}
				continue
			}
			id, err := s.idp.AddUser(ctx, tx, DemoID("systemuser", u.Email), u.Email, u.Password, u.FullName, u.Role)
			if err != nil {
				return err
			}
			if u.RequireMFA {
				if _, err := tx.ExecContext(ctx, `UPDATE users SET require_mfa = 1 WHERE id = ?`, id); err != nil {
					return fmt.Errorf("localcrm: seed MFA setting: %w", err)
				}
			}
			if err := s.ensureMailbox(ctx, tx, id); err != nil {
				return err
			}
			users[u.Email] = id
		}
		put := func(set, id, owner string, attrs map[string]any, lookups map[string]*store.Ref) error {
			if _, ok := s.cat.Set(set); !ok {
				return nil // a table of an app this environment does not have
			}
			existing, err := store.GetRecord(ctx, tx, set, id)
			if err != nil || existing != nil {
				return err
			}
			now := s.now()
			me := &store.Ref{Table: "systemuser", ID: users[owner]}
			if lookups == nil {
				lookups = map[string]*store.Ref{}
			}
			lookups["ownerid"], lookups["createdby"], lookups["modifiedby"] = me, me, me
			attrs["statecode"], attrs["statuscode"] = float64(0), float64(1)
			return store.InsertRecord(ctx, tx, &store.Record{Set: set, ID: id, CreatedOn: now, ModifiedOn: now, Attrs: attrs, Lookups: lookups})
		}
		accounts, contacts, opps, cases := demoData()
		for _, a := range accounts {
			err := put("accounts", DemoID("account", a.name), a.owner, map[string]any{
				"name": a.name, "emailaddress1": a.email, "telephone1": a.phone, "address1_city": a.city, "websiteurl": a.web,
			}, nil)
			if err != nil {
				return err
			}
		}
		for _, c := range contacts {
			attrs := map[string]any{
				"firstname": c.first, "lastname": c.last, "fullname": c.first + " " + c.last,
				"emailaddress1": c.email, "jobtitle": c.job,
			}
			if c.email2 != "" {
				attrs["emailaddress2"] = c.email2
			}
			if c.phone != "" {
				attrs["telephone1"] = c.phone
			}
			if c.mobile != "" {
				attrs["mobilephone"] = c.mobile
			}
			if home := demoHomePhones[c.email]; home != "" {
				attrs["telephone2"] = home
			}
			lookups := map[string]*store.Ref{}
			if c.account != "" {
				lookups["parentcustomerid"] = &store.Ref{Table: "account", ID: DemoID("account", c.account)}
			}
			if err := put("contacts", DemoID("contact", c.email), c.owner, attrs, lookups); err != nil {
				return err
			}
		}
		for _, o := range opps {
			lookups := map[string]*store.Ref{
				"customerid":      {Table: "account", ID: DemoID("account", o.account)},
				"parentaccountid": {Table: "account", ID: DemoID("account", o.account)},
			}
			if err := put("opportunities", DemoID("opportunity", o.name), o.owner,
				map[string]any{"name": o.name, "estimatedvalue": o.value}, lookups); err != nil {
				return err
			}
		}
		for _, cs := range cases {
			lookups := map[string]*store.Ref{"customerid": {Table: "account", ID: DemoID("account", cs.account)}}
			if cs.contact != "" {
				for _, c := range contacts {
					if c.first+" "+c.last == cs.contact {
						lookups["primarycontactid"] = &store.Ref{Table: "contact", ID: DemoID("contact", c.email)}
					}
				}
			}
			if err := put("incidents", DemoID("incident", cs.ticket), cs.owner,
				map[string]any{"title": cs.title, "ticketnumber": cs.ticket, "prioritycode": float64(2)}, lookups); err != nil {
				return err
			}
		}
		if err := s.seedSyncData(ctx, tx, users); err != nil {
			return err
		}
		return s.seedOutgoing(ctx, tx, users)
	})
	if err != nil {
		return fmt.Errorf("localcrm: seed demo data: %w", err)
	}
	return nil
}
