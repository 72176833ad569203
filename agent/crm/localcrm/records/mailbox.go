package records

import (
	"net/http"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Email delivery methods of a mailbox (its outgoingemaildeliverymethod
// and incomingemaildeliverymethod choices in Microsoft's mailbox
// reference).
const (
	DeliveryNone           = 0
	DeliveryOutlook        = 1 // "Microsoft Dynamics 365 for Outlook": a desktop client carries the mail
	DeliveryServerSideSync = 2 // "Server-Side Synchronization": the CRM talks to the mail server itself
	DeliveryForwardMailbox = 3 // incoming only
)

// Delivery methods of appointments, contacts and tasks (actdeliverymethod),
// which number the same choices differently.
const (
	ACTOutlook        = 0
	ACTServerSideSync = 1
	ACTNone           = 2
)

// MaxFolderRules is how many folder-level tracking rules one mailbox may
// have ("You can create a maximum of 25 folder-level tracking rules per
// mailbox", Microsoft's folder-level tracking guide).
const MaxFolderRules = 25

// The labels of the delivery choices, as the mailbox reference lists them.
var (
	outgoingOptions = map[int]string{0: "None", 1: "Microsoft Dynamics 365 for Outlook", 2: "Server-Side Synchronization"}
	incomingOptions = map[int]string{0: "None", 1: "Microsoft Dynamics 365 for Outlook", 2: "Server-Side Synchronization", 3: "Forward Mailbox"}
	actOptions      = map[int]string{0: "Microsoft Dynamics 365 for Outlook", 1: "Server-Side Synchronization", 2: "None"}
)

// mailboxTables returns the mailbox and mailboxtrackingfolder tables of an
// environment of app.
func mailboxTables(app string) []*Entity {
	// The rule's regarding lookup has one navigation property per target,
	// regardingobjectid_<table>, without the _email suffix of activities
	// (Microsoft's mailboxtrackingfolder reference).
	regarding := &Lookup{Attr: "regardingobjectid", Navs: map[string]string{}}
	for _, t := range []string{"account", "contact", "incident", "lead", "opportunity"} {
		if appHas(app, tableApps[t]) {
			regarding.Targets = append(regarding.Targets, t)
			regarding.Navs["regardingobjectid_"+t] = t
		}
	}
	owning := map[string]bool{"owningbusinessunit": true, "owninguser": true, "owningteam": true, "organizationid": true}
	return []*Entity{
		{
			// Mailboxes are configured by an administrator; this server
			// has no administrator role on the Web API, so they are
			// read-only there and changed through the Go API.
			Logical: "mailbox", Set: "mailboxes", Key: "mailboxid", PrimaryName: "name", UserOwned: true, ReadOnly: true,
			Columns: append([]Column{
				{Name: "mailboxid", Type: TGUID},
				str("name", 200), str("emailaddress", 100),
				{Name: "incomingemaildeliverymethod", Type: TInt, Options: incomingOptions},
				{Name: "outgoingemaildeliverymethod", Type: TInt, Options: outgoingOptions},
				{Name: "actdeliverymethod", Type: TInt, Options: actOptions},
			}, commonTail()...),
			Lookups: append([]*Lookup{{
				// The user or queue the mailbox serves; read-only in
				// Microsoft's reference.
				Attr: "regardingobjectid", Targets: []string{"systemuser", "queue"}, ReadOnly: true,
				Navs: map[string]string{"regardingobjectid": "systemuser", "regardingobjectid_queue": "queue"},
			}}, ownerLookups("mailbox")...),
			States:        map[int][]int{0: {1}, 1: {2}},
			readOnlyNames: owning,
		},
		{
			// A folder-level tracking rule: mail in the folder is tracked
			// regarding the record. The table has no primary name and no
			// state.
			Logical: "mailboxtrackingfolder", Set: "mailboxtrackingfolders", Key: "mailboxtrackingfolderid", UserOwned: true,
			Columns: []Column{
				{Name: "mailboxtrackingfolderid", Type: TGUID},
				str("exchangefolderid", 120), str("exchangefoldername", 256),
				{Name: "folderonboardingstatus", Type: TInt},
				ro(Column{Name: "createdon", Type: TDateTime}),
				ro(Column{Name: "modifiedon", Type: TDateTime}),
				ro(Column{Name: "versionnumber", Type: TBigInt}),
			},
			Lookups:       append([]*Lookup{singleLookup("mailboxid", "mailbox"), regarding}, ownerLookups("mailboxtrackingfolder")...),
			readOnlyNames: owning,
		},
	}
}

// NewMailbox builds the mailbox of a user, as Dataverse creates one with
// every user: named after the user, at the user's address, with delivery
// (DeliveryNone, DeliveryOutlook or DeliveryServerSideSync) for incoming
// and outgoing mail, and the matching method for appointments, contacts
// and tasks.
func NewMailbox(id, userID, name, email string, delivery int, now time.Time) *store.Record {
	act := ACTNone
	switch delivery {
	case DeliveryOutlook:
		act = ACTOutlook
	case DeliveryServerSideSync:
		act = ACTServerSideSync
	}
	user := &store.Ref{Table: "systemuser", ID: userID}
	return &store.Record{
		Set: "mailboxes", ID: id, CreatedOn: now, ModifiedOn: now,
		Attrs: map[string]any{
			"name": TruncateRunes(name, 200), "emailaddress": TruncateRunes(email, 100),
			"incomingemaildeliverymethod": float64(delivery), "outgoingemaildeliverymethod": float64(delivery),
			"actdeliverymethod": float64(act), "statecode": float64(0), "statuscode": float64(1),
		},
		Lookups: map[string]*store.Ref{"regardingobjectid": user, "ownerid": user, "createdby": user, "modifiedby": user},
	}
}

// MailboxUser is the user a mailbox serves: its regarding user, else its
// owner.
func MailboxUser(mb *store.Record) string {
	if r := mb.Lookups["regardingobjectid"]; r != nil && r.Table == "systemuser" {
		return r.ID
	}
	return mb.Owner()
}

// mailboxScoped reports whether ent's rows belong to one user's mailbox.
func mailboxScoped(ent *Entity) bool {
	return ent.Logical == "mailbox" || ent.Logical == "mailboxtrackingfolder"
}

// mailboxID names the mailbox a row of a mailbox-scoped table belongs to.
func mailboxID(ent *Entity, rec *store.Record) string {
	if ent.Logical == "mailbox" {
		return rec.ID
	}
	if r := rec.Lookups["mailboxid"]; r != nil {
		return r.ID
	}
	return ""
}

// mailboxUserOf returns the user whose mailbox a row belongs to; the row's
// owner when its mailbox is gone.
func (c *Session) mailboxUserOf(q store.Queryer, ent *Entity, rec *store.Record) (string, error) {
	if ent.Logical == "mailbox" {
		return MailboxUser(rec), nil
	}
	if id := mailboxID(ent, rec); id != "" {
		mb, err := store.GetRecord(c.Ctx, q, "mailboxes", id)
		if err != nil {
			return "", err
		}
		if mb != nil {
			return MailboxUser(mb), nil
		}
	}
	return rec.Owner(), nil
}

// CheckAccess applies the salesperson role's user depth on mailboxes,
// their folder-level tracking rules and personal views (userquery): a user
// reads, changes and deletes only their own (verb is Read, Write or
// Delete). An attachment is changed and deleted only as its activity
// allows (attachmentParent). Other tables pass.
func (c *Session) CheckAccess(q store.Queryer, ent *Entity, rec *store.Record, verb string) error {
	if ent.Logical == "userquery" {
		return c.CheckUserQueryOwner(ent, rec, verb)
	}
	if ent.Logical == "activitymimeattachment" && verb != "Read" {
		// An attachment is changed or removed by its activity's owner
		// while the activity is open.
		_, err := c.attachmentParent(q, rec, verb)
		return err
	}
	if !mailboxScoped(ent) {
		return nil
	}
	user, err := c.mailboxUserOf(q, ent, rec)
	if err != nil {
		return err
	}
	if user == c.UserID {
		return nil
	}
	return c.mailboxDenied(ent, rec, user, verb)
}

// mailboxDenied is the 403 for a mailbox row of another user.
func (c *Session) mailboxDenied(ent *Entity, rec *store.Record, user, verb string) error {
	return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
		"Principal user (Id=%s, type=8) is missing prv%s%s privilege for %s (Id=%s) of mailbox (Id=%s), which belongs to another user (Id=%s): a user may read and change only their own mailbox and its folder-level tracking rules.",
		c.UserID, verb, privEntity(ent), ent.Logical, rec.ID, mailboxID(ent, rec), user)
}

// Readable keeps the rows of ent the caller may read: for mailboxes,
// folder-level tracking rules and personal views their own, as a query in
// Dataverse leaves out the rows a user-depth privilege does not reach.
func (c *Session) Readable(q store.Queryer, ent *Entity, recs []*store.Record) ([]*store.Record, error) {
	if ent.Logical == "userquery" {
		// Personal views: the caller's own only.
		out := make([]*store.Record, 0, len(recs))
		for _, r := range recs {
			if r.Owner() == c.UserID {
				out = append(out, r)
			}
		}
		return out, nil
	}
	if !mailboxScoped(ent) {
		return recs, nil
	}
	users := map[string]string{} // mailbox id -> its user, read once per request
	out := make([]*store.Record, 0, len(recs))
	for _, r := range recs {
		id := mailboxID(ent, r)
		user, ok := users[id]
		if !ok || id == "" {
			var err error
			if user, err = c.mailboxUserOf(q, ent, r); err != nil {
				return nil, err
			}
			users[id] = user
		}
		if user == c.UserID {
			out = append(out, r)
		}
	}
	return out, nil
}

// CheckFolderRule checks a folder-level tracking rule about to be written:
// it names a folder and a mailbox, the mailbox is the caller's, the folder
// has no other rule in it, and the mailbox stays within MaxFolderRules.
// prevMailbox is the rule's mailbox before the change ("" on create), so
// an update within a full mailbox is allowed.
func (c *Session) CheckFolderRule(q store.Queryer, ent *Entity, rec *store.Record, prevMailbox string) error {
	if rec.Str("exchangefolderid") == "" {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"A folder-level tracking rule needs exchangefolderid, the ID of the mail folder it maps.")
	}
	ref := rec.Lookups["mailboxid"]
	if ref == nil {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"A folder-level tracking rule needs its mailbox: send \"mailboxid@odata.bind\": \"/mailboxes(<guid>)\".")
	}
	mb, err := store.GetRecord(c.Ctx, q, "mailboxes", ref.ID)
	if err != nil {
		return err
	}
	if mb == nil {
		return wire.RecordNotFound("mailbox", ref.ID)
	}
	if user := MailboxUser(mb); user != c.UserID {
		verb := "Write"
		if prevMailbox == "" {
			verb = "Create"
		}
		return c.mailboxDenied(ent, rec, user, verb)
	}
	rules, err := store.ListRecords(c.Ctx, q, ent.Set)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range rules {
		other := r.Lookups["mailboxid"]
		if r.ID == rec.ID || other == nil || other.ID != ref.ID {
			continue
		}
		n++
		// Folder IDs are compared exactly: Exchange's are case-sensitive,
		// and so are IMAP folder names. The folder is not named in the
		// message, since its name is the company's data.
		if r.Str("exchangefolderid") == rec.Str("exchangefolderid") {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeDuplicate,
				"A folder-level tracking rule for this folder already exists in the mailbox (mailboxtrackingfolderid %s); change or delete that rule instead.", r.ID)
		}
	}
	if n >= MaxFolderRules && prevMailbox != ref.ID {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"A mailbox can have at most %d folder-level tracking rules, and this one has %d already; delete a rule before adding another.", MaxFolderRules, n)
	}
	return nil
}

// PrimaryNameOf returns the primary name of the record r points at, ""
// when it has none or is gone.
func (c *Session) PrimaryNameOf(q store.Queryer, r *store.Ref) (string, error) {
	ent, ok := c.Cat.Logical(r.Table)
	if !ok || ent.PrimaryName == "" {
		return "", nil
	}
	rec, err := store.GetRecord(c.Ctx, q, ent.Set, r.ID)
	if err != nil || rec == nil {
		return "", err
	}
	return rec.Str(ent.PrimaryName), nil
}
