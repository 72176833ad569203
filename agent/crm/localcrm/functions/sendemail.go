package functions

import (
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"crmsync/agent/crm/localcrm/fetchxml"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// UnboundAction runs an unbound action (IsUnboundAction) with its JSON
// body.
func (c *Call) UnboundAction(name string) (wire.Object, error) {
	if name == "BackgroundSendEmail" {
		return c.backgroundSendEmail()
	}
	return nil, wire.NotFoundSegment(name)
}

// sendEmail answers POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail:
// "Sends an e-mail message" (Microsoft's SendEmail action reference, [PAD]
// webapi/reference/sendemail). Parameters: IssueSend (Edm.Boolean, not
// nullable: "whether the email is to be sent or marked as sent") and
// TrackingToken (Edm.String, nullable). The answer is SendEmailResponse
// with the email's Subject. The message needs prvReadActivity,
// prvReadUser and prvWriteActivity ("SendEmail message privileges"), and
// access to the email: here its owner. records.Session.SendEmail holds
// the rules.
func (c *Call) sendEmail(ent *records.Entity, id string) (wire.Object, error) {
	const op = "SendEmail"
	body, err := c.ReadBody()
	if err != nil {
		return nil, err
	}
	issue, token, hasIssue := false, "", false
	for k, v := range body {
		switch k {
		case "IssueSend":
			b, ok := v.(bool)
			if !ok {
				return nil, wire.BadPayload("The parameter 'IssueSend' of %s must be true (send the email) or false (record it as sent).", op)
			}
			issue, hasIssue = b, true
		case "TrackingToken":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, wire.BadPayload("The parameter 'TrackingToken' of %s must be a string.", op)
			}
			token = s
		default:
			if strings.HasPrefix(k, "@") {
				continue
			}
			return nil, wire.BadPayload("The action %s has no parameter named '%s'; its parameters are IssueSend and TrackingToken.", op, k)
		}
	}
	if !hasIssue {
		return nil, wire.BadPayload("The action %s requires the parameter 'IssueSend' (true to send the email, false to record it as sent).", op)
	}
	if err := c.RequirePrivileges("the SendEmail message", records.PrvReadActivity, records.PrvReadUser, records.PrvWriteActivity); err != nil {
		return nil, err
	}
	var subject string
	err = c.Store.Tx(c.Ctx, func(tx *sql.Tx) error {
		rec, err := store.GetRecord(c.Ctx, tx, ent.Set, id)
		if err != nil {
			return err
		}
		if rec == nil {
			return wire.RecordNotFound(ent.Logical, id)
		}
		if err := c.MayWrite(ent, rec, "Write"); err != nil {
			return err
		}
		if err := c.SendEmail(tx, ent, rec, issue, token); err != nil {
			return err
		}
		subject = rec.Str("subject")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.SendEmailResponse"},
		{"Subject", subject},
	}, nil
}

// backgroundSendEmailCore are the email columns BackgroundSendEmail
// always returns, whatever the query's attributes, so a desktop client
// has what it needs to send and then claim each email (the ETag is in
// @odata.etag).
var backgroundSendEmailCore = []string{
	"activityid", "subject", "description", "statecode", "statuscode", "_ownerid_value",
	"messageid", "directioncode", "createdon", "modifiedon", "versionnumber",
}

// backgroundSendEmail answers POST BackgroundSendEmail: the action a
// desktop client (the legacy Dynamics 365 for Outlook) polls for the
// email it must send through the user's own mail account. Parameter
// Query (QueryBase): "the query to find the email activities to send",
// which "must specify an entity name of 'email'" (the
// BackgroundSendEmailRequest.Query reference); this server takes a
// FetchExpression ({"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression",
// "Query": "<fetch>...</fetch>"}). The answer is
// BackgroundSendEmailResponse: EntityCollection (Collection(email), "The
// resulting emails") and HasAttachments (Collection(Edm.Boolean), one per
// email, in order). The caller needs prvReadActivity and prvWriteActivity
// ("BackgroundSendEmail message privileges").
//
// Whatever the query asks, only emails that are Pending Send (1/6) and
// sent from the caller (sender party = the caller's systemuser) are
// returned, and only while the caller's mailbox delivers through a
// desktop client (outgoingemaildeliverymethod 1); with server-side
// synchronization (2) or None (0) the answer is empty, as the client has
// nothing to send. Microsoft's pages do not say that the message changes
// the state of what it returns (UNCONFIRMED either way), so it changes
// nothing: the client claims each email with a PATCH to Sending (7) and
// If-Match.
func (c *Call) backgroundSendEmail() (wire.Object, error) {
	const op = "BackgroundSendEmail"
	if c.Method != http.MethodPost {
		return nil, wire.MethodNotAllowed(c.Method, "'"+op+"'", http.MethodPost)
	}
	body, err := c.ReadBody()
	if err != nil {
		return nil, err
	}
	var query map[string]any
	for k, v := range body {
		switch {
		case k == "Query":
			q, ok := v.(map[string]any)
			if !ok {
				return nil, wire.BadPayload("The parameter 'Query' of %s must be an object such as {\"@odata.type\": \"Microsoft.Dynamics.CRM.FetchExpression\", \"Query\": \"<fetch>...</fetch>\"}.", op)
			}
			query = q
		case strings.HasPrefix(k, "@"):
		default:
			return nil, wire.BadPayload("The action %s has no parameter named '%s'; its parameter is Query.", op, k)
		}
	}
	if query == nil {
		return nil, wire.BadPayload("The action %s requires the parameter 'Query', a FetchExpression on email.", op)
	}
	typ, _ := query["@odata.type"].(string)
	typ = strings.TrimPrefix(typ, "#")
	if typ != "Microsoft.Dynamics.CRM.FetchExpression" {
		return nil, wire.BadPayload("The Query of %s must be a FetchExpression (\"@odata.type\": \"Microsoft.Dynamics.CRM.FetchExpression\"); this server does not take '%s'.",
			op, wire.Truncate(typ, 100))
	}
	src, _ := query["Query"].(string)
	if src == "" {
		return nil, wire.BadPayload("The FetchExpression of %s needs its FetchXML in 'Query'.", op)
	}
	if err := c.RequirePrivileges("the BackgroundSendEmail message", records.PrvReadActivity, records.PrvWriteActivity); err != nil {
		return nil, err
	}
	ent, _ := c.Cat.Logical("email")
	f, err := fetchxml.Parse(src)
	if err != nil {
		return nil, fetchError(err)
	}
	if f.Entity.Name != ent.Logical {
		return nil, wire.Errf(http.StatusBadRequest, wire.CodeInvalidQuery,
			"The query of %s must be on the entity 'email', not '%s'.", op, wire.Truncate(f.Entity.Name, 100))
	}
	fq, err := fetchxml.Compile(f, records.FetchSchema(ent), fetchxml.Env{UserID: c.UserID, Now: c.Now()})
	if err != nil {
		return nil, fetchError(err)
	}
	q := c.Store.Q(c.Ctx)
	var recs []*store.Record
	mb, err := c.SenderMailbox(q, c.UserID)
	if err != nil {
		return nil, err
	}
	if mb != nil && records.OutgoingMethod(mb) == records.DeliveryOutlook {
		if recs, err = c.pendingFrom(q, ent); err != nil {
			return nil, err
		}
	}
	rows := make([]fetchxml.Row, len(recs))
	for i, r := range recs {
		if rows[i], err = c.fetchRow(q, ent, r, fq.NeedsParty); err != nil {
			return nil, err
		}
	}
	res := fq.Run(rows)
	sel := selection(ent, fq.Attributes)
	counts, err := c.AttachmentCounts(q)
	if err != nil {
		return nil, err
	}
	emails := make([]wire.Object, 0, len(res.Indexes))
	has := make([]bool, 0, len(res.Indexes))
	for _, i := range res.Indexes {
		o, err := c.Represent(q, ent, recs[i], sel)
		if err != nil {
			return nil, err
		}
		emails = append(emails, append(wire.Object{{"@odata.type", "#" + ent.TypeName()}}, o...))
		has = append(has, counts[recs[i].ID] > 0)
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM.BackgroundSendEmailResponse"},
		{"EntityCollection", emails},
		{"HasAttachments", has},
	}, nil
}

// pendingFrom returns the emails, oldest first, that are Pending Send and
// sent from the caller: the candidates of BackgroundSendEmail, before its
// query.
func (c *Call) pendingFrom(q store.Queryer, ent *records.Entity) ([]*store.Record, error) {
	all, err := store.ListRecords(c.Ctx, q, ent.Set)
	if err != nil {
		return nil, err
	}
	all, err = c.Readable(q, ent, all)
	if err != nil {
		return nil, err
	}
	var out []*store.Record
	for _, r := range all {
		if r.Attrs["statecode"] != float64(1) || r.Attrs["statuscode"] != float64(records.EmailPendingSend) {
			continue
		}
		ps, err := store.ListParties(c.Ctx, q, r.ID)
		if err != nil {
			return nil, err
		}
		if records.EmailSender(ps) == c.UserID {
			out = append(out, r)
		}
	}
	return out, nil
}

// fetchRow is an email as a FetchXML query sees it, with its parties when
// the query links them.
func (c *Call) fetchRow(q store.Queryer, ent *records.Entity, r *store.Record, parties bool) (fetchxml.Row, error) {
	v, err := c.ReadView(q, ent, r)
	if err != nil {
		return fetchxml.Row{}, err
	}
	row := fetchxml.Row{Attrs: records.FetchRow(ent, v)}
	if parties {
		ps, err := store.ListParties(c.Ctx, q, r.ID)
		if err != nil {
			return fetchxml.Row{}, err
		}
		for _, p := range ps {
			fp := fetchxml.Party{ActivityPartyID: p.ID, Mask: p.Mask, AddressUsed: p.AddressUsed}
			if p.Target != nil {
				fp.PartyID = p.Target.ID
			}
			row.Parties = append(row.Parties, fp)
		}
	}
	return row, nil
}

// selection is what BackgroundSendEmail writes of each email: every
// property when the query names no attributes (or all-attributes), else
// backgroundSendEmailCore and the query's attributes as the Web API names
// them (lookups as _x_value).
func selection(ent *records.Entity, attrs []string) []string {
	if attrs == nil {
		return nil
	}
	out := append([]string{}, backgroundSendEmailCore...)
	seen := map[string]bool{}
	for _, p := range out {
		seen[p] = true
	}
	for _, a := range attrs {
		name := a
		if _, ok := ent.Column(a); !ok {
			name = ""
			for _, l := range ent.Lookups {
				if l.Attr == a {
					name = l.ValueName()
				}
			}
		}
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// fetchError turns a FetchXML problem into Dataverse's error shape, as
// the Web API's fetchXml queries answer it: 400 with 0x80041103 for an
// unknown attribute, else 0x80040203.
func fetchError(err error) error {
	var fe *fetchxml.Error
	if errors.As(err, &fe) {
		code := wire.CodeInvalidQuery
		if fe.NoAttribute {
			code = wire.CodeNoAttribute
		}
		return wire.Errf(http.StatusBadRequest, code, "%s", fe.Msg)
	}
	return err
}
