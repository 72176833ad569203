package functions

import (
	"database/sql"
	"net/http"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// deliverParams are the body parameters of DeliverIncomingEmail and
// DeliverPromoteEmail.
var deliverParams = map[string]string{
	"MessageId": "string", "Subject": "string", "From": "string", "To": "string", "Cc": "string",
	"Bcc": "string", "ReceivedOn": "string", "SubmittedBy": "string", "Importance": "string",
	"Body": "string", "Attachments": "array", "ExtraProperties": "object", "ValidateBeforeCreate": "bool",
}

// deliverEmail implements DeliverIncomingEmail (boundID "") and
// DeliverPromoteEmail (bound to an existing email, which it completes in
// place). The email is received (directioncode false, Completed/Received),
// owned by the caller, with parties resolved like incoming mail.
func (c *Call) deliverEmail(ent *records.Entity, boundID string) (wire.Object, error) {
	op := "DeliverIncomingEmail"
	if boundID != "" {
		op = "DeliverPromoteEmail"
	}
	body, err := c.ReadBody()
	if err != nil {
		return nil, err
	}
	p := map[string]string{}
	attachments := 0
	for k, v := range body {
		kind, ok := deliverParams[k]
		if !ok {
			return nil, wire.BadPayload("The action %s has no parameter named '%s'.", op, k)
		}
		if v == nil {
			continue
		}
		switch kind {
		case "string":
			s, ok := v.(string)
			if !ok {
				return nil, wire.BadPayload("The parameter '%s' of %s must be a string.", k, op)
			}
			p[k] = s
		case "array":
			a, ok := v.([]any)
			if !ok {
				return nil, wire.BadPayload("The parameter '%s' of %s must be an array.", k, op)
			}
			attachments = len(a)
		case "object":
			if _, ok := v.(map[string]any); !ok {
				return nil, wire.BadPayload("The parameter '%s' of %s must be an object.", k, op)
			}
		case "bool":
			if _, ok := v.(bool); !ok {
				return nil, wire.BadPayload("The parameter '%s' of %s must be true or false.", k, op)
			}
		}
	}
	if p["MessageId"] == "" {
		return nil, wire.BadPayload("The action %s requires the parameter 'MessageId'.", op)
	}
	ch := records.NewChange()
	for param, col := range map[string]string{"Subject": "subject", "Body": "description", "MessageId": "messageid", "SubmittedBy": "submittedby"} {
		if v, ok := p[param]; ok {
			cd, _ := ent.Column(col)
			val, err := records.ConvertValue(ent, cd, v)
			if err != nil {
				return nil, err
			}
			ch.Attrs[col] = val
		}
	}
	if v, ok := p["ReceivedOn"]; ok && v != "" {
		d, ok := wire.ParseDateLiteral(v)
		if !ok {
			return nil, wire.BadPayload("The parameter 'ReceivedOn' of %s must be a date and time such as 2024-05-01T09:30:00Z.", op)
		}
		ch.Attrs["senton"], ch.Attrs["actualend"] = d, d
	}
	if v, ok := p["Importance"]; ok && v != "" {
		n, ok := map[string]float64{"low": 0, "0": 0, "normal": 1, "1": 1, "high": 2, "2": 2}[strings.ToLower(v)]
		if !ok {
			return nil, wire.BadPayload("The parameter 'Importance' of %s must be low, normal or high (0, 1, 2).", op)
		}
		ch.Attrs["prioritycode"] = n
	}
	if from, ok := p["From"]; ok {
		ch.Attrs["sender"] = records.TruncateRunes(from, 250)
	}
	if to, ok := p["To"]; ok {
		ch.Attrs["torecipients"] = records.TruncateRunes(to, 500)
	}
	var id string
	err = c.Store.Tx(c.Ctx, func(tx *sql.Tx) error {
		var bound *store.Record
		if boundID != "" {
			if bound, err = store.GetRecord(c.Ctx, tx, ent.Set, boundID); err != nil {
				return err
			}
			if bound == nil {
				return wire.RecordNotFound(ent.Logical, boundID)
			}
			if err := c.MayWrite(ent, bound, "Write"); err != nil {
				return err
			}
		}
		dups, err := store.FindByMessageID(c.Ctx, tx, p["MessageId"], false)
		if err != nil {
			return err
		}
		for _, d := range dups {
			if d.ID != boundID {
				return wire.Errf(http.StatusPreconditionFailed, wire.CodeDuplicate,
					"Cannot insert duplicate key: an email with this message ID already exists (activityid %s).", d.ID)
			}
		}
		if _, given := p["From"]; given || boundID == "" {
			ps, err := c.partiesFromAddresses(tx, p)
			if err != nil {
				return err
			}
			ch.Parties, ch.PartiesSet = ps, true
		}
		if bound == nil {
			ch.Attrs["directioncode"] = false
			ch.Attrs["statecode"], ch.Attrs["statuscode"] = float64(1), float64(4)
			rec := c.NewRecord(ent, wire.NewGUID())
			rec.Attrs["attachmentcount"] = float64(attachments)
			if err := c.Apply(ent, rec, ch); err != nil {
				return err
			}
			if err := store.InsertRecord(c.Ctx, tx, rec); err != nil {
				return err
			}
			id = rec.ID
			return store.ReplaceParties(c.Ctx, tx, rec.ID, ch.Parties)
		}
		out, _ := bound.Attrs["directioncode"].(bool)
		ch.Attrs["statecode"], ch.Attrs["statuscode"] = float64(1), float64(4)
		if out {
			ch.Attrs["statuscode"] = float64(3)
		}
		if attachments > 0 {
			bound.Attrs["attachmentcount"] = float64(attachments)
		}
		if err := c.Apply(ent, bound, ch); err != nil {
			return err
		}
		bound.ModifiedOn = c.Now()
		bound.Lookups["modifiedby"] = &store.Ref{Table: "systemuser", ID: c.UserID}
		if err := store.UpdateRecord(c.Ctx, tx, bound); err != nil {
			return err
		}
		id = bound.ID
		if ch.PartiesSet {
			return store.ReplaceParties(c.Ctx, tx, bound.ID, ch.Parties)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return wire.Object{
		{"@odata.context", c.Base + "$metadata#Microsoft.Dynamics.CRM." + op + "Response"},
		{"EmailId", id},
	}, nil
}

// partiesFromAddresses builds sender and recipient parties from the
// address text, resolving each address; unresolved ones keep only the
// address, as the CRM stores them.
func (c *Call) partiesFromAddresses(q store.Queryer, p map[string]string) ([]*store.Party, error) {
	var out []*store.Party
	add := func(mask int, addr string) error {
		r, err := c.ResolveAddress(q, addr)
		if err != nil {
			return err
		}
		out = append(out, &store.Party{Mask: mask, Target: r, AddressUsed: records.TruncateRunes(addr, 320)})
		return nil
	}
	if from, ok := parseOneAddress(p["From"]); ok {
		if err := add(1, from); err != nil {
			return nil, err
		}
	}
	for _, mk := range []struct {
		mask int
		key  string
	}{{2, "To"}, {3, "Cc"}, {4, "Bcc"}} {
		for _, a := range parseAddressList(p[mk.key]) {
			if err := add(mk.mask, a); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
