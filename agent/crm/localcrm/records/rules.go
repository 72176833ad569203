package records

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Session applies the record rules for one request: who asks, when, and
// in which environment.
type Session struct {
	Ctx    context.Context
	Cat    *Catalog
	UserID string // the caller's systemuserid
	Now    func() time.Time
	// Role is the caller's security role, whose privileges
	// (RolePrivileges) the activity rules check; "" for the server's own
	// work, which no privilege limits.
	Role string

	fields *FieldAccess // the caller's field access, once read (FieldAccess)
}

// View is a record as the query language sees it: every readable column,
// null when unset.
func View(ent *Entity, rec *store.Record) map[string]any {
	m := make(map[string]any, len(ent.Columns)+len(ent.Lookups))
	for _, col := range ent.Columns {
		m[col.Name] = rec.Attrs[col.Name]
	}
	m[ent.Key] = rec.ID
	m["createdon"] = wire.FormatTime(rec.CreatedOn)
	m["modifiedon"] = wire.FormatTime(rec.ModifiedOn)
	m["versionnumber"] = float64(rec.Version)
	for _, l := range ent.Lookups {
		if r := rec.Lookups[l.Attr]; r != nil {
			m[l.ValueName()] = r.ID
		} else {
			m[l.ValueName()] = nil
		}
	}
	return m
}

// ETag is the record's weak ETag, W/"<version>".
func ETag(rec *store.Record) string { return `W/"` + strconv.FormatInt(rec.Version, 10) + `"` }

// ETagMatches compares an If-Match/If-None-Match list with the record's
// version; weak and strong forms match alike.
func ETagMatches(header string, rec *store.Record) bool {
	want := strconv.FormatInt(rec.Version, 10)
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
		if t == want {
			return true
		}
	}
	return false
}

// PrivilegeDenied is Dataverse's answer when a role lacks access.
func (c *Session) PrivilegeDenied(ent *Entity, rec *store.Record, verb string) error {
	priv := "prv" + verb + privEntity(ent)
	if rec == nil && ent.Logical == "mailbox" {
		return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
			"Principal user (Id=%s, type=8) is missing %s privilege on mailbox: only a CRM administrator may create, change or delete mailboxes.",
			c.UserID, priv)
	}
	if rec == nil {
		return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
			"Principal user (Id=%s, type=8) is missing %s privilege on %s: records of this table are read-only through the Web API.",
			c.UserID, priv, ent.Logical)
	}
	return wire.Errf(http.StatusForbidden, wire.CodePrivilege,
		"Principal user (Id=%s, type=8) is missing %s privilege for %s (Id=%s), which is owned by another user (Id=%s): only the owner may %s it.",
		c.UserID, priv, ent.Logical, rec.ID, rec.Owner(), map[string]string{"Write": "update", "Delete": "delete"}[verb])
}

func privEntity(ent *Entity) string {
	switch ent.Logical {
	case "email", "appointment", "task":
		return "Activity"
	case "userquery":
		return "UserQuery"
	case "systemuser":
		return "User"
	case "mailboxtrackingfolder":
		return "MailboxTrackingFolder"
	}
	return strings.ToUpper(ent.Logical[:1]) + ent.Logical[1:]
}

// MayWrite applies the salesperson role: activities (emails, appointments,
// tasks: prvWriteActivity and prvDeleteActivity at user depth) and notes
// are changed and deleted only by their owner, and only by a role that
// holds the privilege (Sales Viewer does not); other business records may
// be updated by anyone in the organization and deleted by their owner;
// users are read-only.
func (c *Session) MayWrite(ent *Entity, rec *store.Record, verb string) error {
	if ent.ReadOnly {
		return c.PrivilegeDenied(ent, nil, verb)
	}
	if ent.Activity {
		if err := c.RequirePrivileges(map[string]string{"Write": "changing an activity", "Delete": "deleting an activity"}[verb],
			"prv"+verb+"Activity"); err != nil {
			return err
		}
	}
	if rec == nil || !ent.UserOwned || rec.Owner() == c.UserID {
		return nil
	}
	if ent.Activity || ent.Logical == "annotation" || verb == "Delete" {
		return c.PrivilegeDenied(ent, rec, verb)
	}
	return nil
}

// Insert creates a record from a validated change.
func (c *Session) Insert(tx *sql.Tx, ent *Entity, id string, ch *Change) (*store.Record, error) {
	rec := c.NewRecord(ent, id)
	if ent.Activity {
		if err := c.RequirePrivileges("creating an activity", "prvCreateActivity"); err != nil {
			return nil, err
		}
	}
	if err := CheckNewEmailStatus(ent, ch); err != nil {
		return nil, err
	}
	if err := c.CheckSecuredWrite(tx, ent, ch, true); err != nil {
		return nil, err
	}
	if err := c.Apply(ent, rec, ch); err != nil {
		return nil, err
	}
	if err := c.CheckWritten(ent, rec, "Create"); err != nil {
		return nil, err
	}
	if ent.Set == "emails" {
		if err := c.CheckDuplicateMessageID(tx, rec); err != nil {
			return nil, err
		}
	}
	if ent.Logical == "mailboxtrackingfolder" {
		if err := c.CheckFolderRule(tx, ent, rec, ""); err != nil {
			return nil, err
		}
	}
	if err := c.CheckFileRecord(tx, ent, rec, ""); err != nil {
		return nil, err
	}
	if ent.Logical == "incident" && rec.Str("ticketnumber") == "" {
		t, err := TicketNumber(c.Ctx, tx)
		if err != nil {
			return nil, err
		}
		rec.Attrs["ticketnumber"] = t
	}
	if err := store.InsertRecord(c.Ctx, tx, rec); err != nil {
		return nil, err
	}
	if ch.PartiesSet {
		if err := store.ReplaceParties(c.Ctx, tx, rec.ID, ch.Parties); err != nil {
			return nil, err
		}
	}
	if ent.Logical == "activitymimeattachment" {
		if err := c.CountAttachments(tx, rec.Lookups["objectid"]); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// CheckWritten checks a record about to be stored by a create or update
// (verb Create or Write): a personal view stays its owner's and must hold
// a query this server can run.
func (c *Session) CheckWritten(ent *Entity, rec *store.Record, verb string) error {
	if ent.Logical != "userquery" {
		return nil
	}
	if err := c.CheckUserQueryOwner(ent, rec, verb); err != nil {
		return err
	}
	return c.CheckView(ent, rec)
}

// CheckDuplicateMessageID refuses a second email with the same Message-ID
// when it is a received one, the CRM's duplicate detection for incoming
// mail. Outgoing copies of one message (several senders' Sent folders)
// are kept apart by direction.
func (c *Session) CheckDuplicateMessageID(q store.Queryer, rec *store.Record) error {
	m := rec.Str("messageid")
	if m == "" {
		return nil
	}
	others, err := store.FindByMessageID(c.Ctx, q, m, false)
	if err != nil {
		return err
	}
	dir, _ := rec.Attrs["directioncode"].(bool)
	for _, o := range others {
		odir, _ := o.Attrs["directioncode"].(bool)
		if o.ID != rec.ID && odir == dir && o.Owner() == rec.Owner() {
			return wire.Errf(http.StatusPreconditionFailed, wire.CodeDuplicate,
				"Cannot insert duplicate key: an email with this message ID already exists (activityid %s).", o.ID)
		}
	}
	return nil
}

// CheckClosedActivity enforces that a completed or canceled activity is
// read-only ("Completed and canceled email is read-only and can't be
// edited", Microsoft's email reference; the appointment reference says the
// same of appointments). What may still change: its regarding record (the
// legacy client's docs: the regarding record of a sent email can be set or
// changed), its state (statecode, statuscode), and an email's messageid
// together with a change to statuscode 3 (Sent), which is how the
// Message-ID of an email sent by the CRM is recorded. The check looks at
// the record before the change, so the request that completes an open
// activity may carry other columns. An appointment's open states are Open
// and Scheduled.
func CheckClosedActivity(ent *Entity, old *store.Record, ch *Change) error {
	if !ent.Activity {
		return nil
	}
	state, _ := old.Attrs["statecode"].(float64)
	if state != 1 && state != 2 {
		return nil
	}
	refuse := func(what string) error {
		word := "completed"
		if state == 2 {
			word = "canceled"
		}
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"The %s is %s and can't be edited; only its regarding record can be changed (this request changes '%s').", ent.Logical, word, what)
	}
	toSent := ch.Attrs["statuscode"] == float64(3) && old.Attrs["statuscode"] != float64(3)
	keys := make([]string, 0, len(ch.Attrs))
	for k := range ch.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same column is named every time
	for _, k := range keys {
		switch {
		case k == "statecode", k == "statuscode":
		case k == "messageid" && toSent && ent.Set == "emails":
		default:
			return refuse(k)
		}
	}
	for attr := range ch.Lookups {
		if attr != "regardingobjectid" {
			return refuse(attr)
		}
	}
	if ch.PartiesSet {
		return refuse(ent.PartyNav)
	}
	return nil
}

// Apply writes a change into a record and keeps the derived columns
// (state pairs, names, sender lines) consistent.
func (c *Session) Apply(ent *Entity, rec *store.Record, ch *Change) error {
	wasCompleted := rec.Attrs["statecode"] == float64(1)
	prevStatus := rec.Attrs["statuscode"]
	for k, v := range ch.Attrs {
		if v == nil {
			delete(rec.Attrs, k)
		} else {
			rec.Attrs[k] = v
		}
	}
	for k, r := range ch.Lookups {
		if r == nil {
			delete(rec.Lookups, k)
		} else {
			rec.Lookups[k] = r
		}
	}
	if err := fixState(ent, rec, ch); err != nil {
		return err
	}
	_, hasEnd := ent.Column("actualend")
	if ent.Activity && hasEnd && !wasCompleted && rec.Attrs["statecode"] == float64(1) && rec.Attrs["actualend"] == nil {
		// Dataverse's actualend: "By default, it displays the date and
		// time when the activity was completed."
		rec.Attrs["actualend"] = wire.FormatTime(c.Now())
	}
	if ent.Set == "emails" && rec.Attrs["statuscode"] == float64(EmailSent) && prevStatus != float64(EmailSent) && rec.Attrs["senton"] == nil {
		// senton is read-only (Microsoft's email reference): the server
		// records when an email became Sent.
		rec.Attrs["senton"] = wire.FormatTime(c.Now())
	}
	_, first := ch.Attrs["firstname"]
	_, last := ch.Attrs["lastname"]
	_, full := ch.Attrs["fullname"]
	if (ent.Logical == "contact" || ent.Logical == "lead") && (first || last) && !full {
		rec.Attrs["fullname"] = strings.TrimSpace(rec.Str("firstname") + " " + rec.Str("lastname"))
	}
	if ent.Set == "emails" && ch.PartiesSet {
		fillSenderLines(rec, ch.Parties)
	}
	return nil
}

// fillSenderLines sets sender and torecipients from the parties unless the
// client gave them, as the CRM derives them.
func fillSenderLines(rec *store.Record, ps []*store.Party) {
	var from string
	var to []string
	for _, p := range ps {
		switch p.Mask {
		case 1:
			from = p.AddressUsed
		case 2:
			if p.AddressUsed != "" {
				to = append(to, p.AddressUsed)
			}
		}
	}
	if _, ok := rec.Attrs["sender"]; !ok && from != "" {
		rec.Attrs["sender"] = TruncateRunes(from, 250)
	}
	if _, ok := rec.Attrs["torecipients"]; !ok && len(to) > 0 {
		rec.Attrs["torecipients"] = TruncateRunes(strings.Join(to, ";"), 500)
	}
}

// TruncateRunes cuts s to at most n characters.
func TruncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// fixState checks the statecode/statuscode pair and fills in the default
// status for a new state.
func fixState(ent *Entity, rec *store.Record, ch *Change) error {
	if ent.States == nil {
		return nil
	}
	state, hasState := rec.Attrs["statecode"].(float64)
	status, hasStatus := rec.Attrs["statuscode"].(float64)
	_, stateChanged := ch.Attrs["statecode"]
	_, statusChanged := ch.Attrs["statuscode"]
	if !hasState {
		state, hasState = float64(ent.NewState), true
		if statusChanged && hasStatus {
			for s, list := range ent.States {
				for _, x := range list {
					if float64(x) == status {
						state = float64(s)
					}
				}
			}
		}
		rec.Attrs["statecode"] = state
	}
	allowed, ok := ent.States[int(state)]
	if !ok {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, "statecode %v is not valid for a%s %s.", state, article(ent.Logical), ent.Logical)
	}
	if !hasStatus || (stateChanged && !statusChanged) {
		rec.Attrs["statuscode"] = float64(allowed[0])
		return nil
	}
	for _, a := range allowed {
		if float64(a) == status {
			return nil
		}
	}
	return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
		"statuscode %v is not valid for a%s %s with statecode %v; use one of %v.", status, article(ent.Logical), ent.Logical, state, allowed)
}

// NewRecord builds a record for create and upsert, owned by the caller
// unless the body assigns it.
func (c *Session) NewRecord(ent *Entity, id string) *store.Record {
	now := c.Now()
	rec := &store.Record{Set: ent.Set, ID: id, CreatedOn: now, ModifiedOn: now,
		Attrs: map[string]any{}, Lookups: map[string]*store.Ref{}}
	if ent.UserOwned {
		me := &store.Ref{Table: "systemuser", ID: c.UserID}
		rec.Lookups["ownerid"], rec.Lookups["createdby"], rec.Lookups["modifiedby"] = me, me, me
	}
	if ent.Set == "emails" {
		rec.Attrs["directioncode"] = true
		rec.Attrs["attachmentcount"] = float64(0)
	}
	if ent.Logical == "mailboxtrackingfolder" {
		rec.Attrs["folderonboardingstatus"] = float64(0) // SystemRequired; no rule has run yet
	}
	return rec
}

// TicketNumber makes a case number in the CRM's CAS-00000-XXXXXX style.
func TicketNumber(ctx context.Context, q store.Queryer) (string, error) {
	n, err := store.NextVersion(ctx, q)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("CAS-%05d-%s", n%100000, strings.ToUpper(strings.ReplaceAll(wire.NewGUID(), "-", "")[:6])), nil
}

// article returns "n" before a vowel, for "an email" and "a contact".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "n"
	}
	return ""
}
