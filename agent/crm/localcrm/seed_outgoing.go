package localcrm

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"

	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// The demo's outgoing email: what a desktop client that delivers mail for
// the CRM (the legacy Dynamics 365 for Outlook's job) finds waiting.
// alice's mailbox delivers through the client, so her two Pending Send
// emails are what BackgroundSendEmail gives her client; her draft is not
// pending; bob's pending email waits for server-side synchronization,
// which this server does not have.

// DemoQuoteFileName is the name of the PDF attached to alice's pending
// "Quote for 250 laptops".
const DemoQuoteFileName = "quote.pdf"

// demoAttachment is a file of a demo email.
type demoAttachment struct {
	name, mimeType string
	data           []byte
}

// demoOutgoing is one email of the demo, written by owner (a demo user's
// address) to contacts (by address), and sent with SendEmail unless it
// stays a draft.
type demoOutgoing struct {
	subject, body, owner string
	to, cc               []string
	pending              bool
	regardingOpportunity string // an opportunity's name; "" for none
	files                []demoAttachment
}

// DemoOutgoingEmailIDs returns the ids of the demo's outgoing emails, in
// the order the seed creates them: alice's "Quote for 250 laptops" and
// "Delivery dates for Fabrikam" (Pending Send), alice's draft "Agenda for
// the Contoso quarterly review", and bob's "Telemetry sensor pricing"
// (Pending Send).
func DemoOutgoingEmailIDs() []string {
	var out []string
	for _, d := range demoOutgoingEmails() {
		out = append(out, DemoID("email", d.subject))
	}
	return out
}

func demoOutgoingEmails() []demoOutgoing {
	const alice, bob = "alice@demo.local", "bob@demo.local"
	return []demoOutgoing{
		{
			subject: "Quote for 250 laptops", owner: alice, pending: true,
			to: []string{"maria.campbell@contoso.example"}, cc: []string{"thomas.andersen@contoso.example"},
			regardingOpportunity: "250 laptops for the field team",
			body: "<html><body><p>Dear Maria,</p><p>Please find attached our quote <b>Q-2025-0042</b> for " +
				"250 laptops for your field team, including three years of on-site support.</p>" +
				"<p>The prices hold for 30 days. Thomas, the technical specification is on page 2.</p>" +
				"<p>Kind regards,<br>Alice Martin</p></body></html>",
			files: []demoAttachment{{DemoQuoteFileName, "application/pdf", DemoQuotePDF()}},
		},
		{
			subject: "Delivery dates for Fabrikam", owner: alice, pending: true,
			to: []string{"yvonne.mckay@fabrikam.example"},
			body: "<html><body><p>Hello Yvonne,</p><p>The first 40 units can ship on Monday and the rest " +
				"the week after. Does that work for your warehouse?</p><p>Best,<br>Alice</p></body></html>",
		},
		{
			subject: "Agenda for the Contoso quarterly review", owner: alice,
			to:   []string{"maria.campbell@contoso.example"},
			body: "<html><body><p>Maria, here is a first draft of the agenda.</p></body></html>",
		},
		{
			subject: "Telemetry sensor pricing", owner: bob, pending: true,
			to:   []string{"nancy.anderson@adventure-works.example"},
			body: "<html><body><p>Hi Nancy,</p><p>Our price list for the bike telemetry sensors is below.</p></body></html>",
		},
	}
}

// DemoQuotePDF returns the demo's quote: a one-page PDF of a few hundred
// bytes, built with its cross-reference table so that PDF readers open it.
func DemoQuotePDF() []byte {
	content := "BT /F1 18 Tf 72 770 Td (Quote Q-2025-0042: 250 laptops) Tj ET"
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// seedOutgoing adds the demo's outgoing email in tx, each made as a
// client makes one: a draft with its parties and attachments, then, for
// the pending ones, the SendEmail rules (records.Session.SendEmail) as
// its owner, so they are consistent with what the action produces. An
// email that exists (by its fixed id) is left as it is.
func (s *Server) seedOutgoing(ctx context.Context, tx *sql.Tx, users map[string]string) error {
	ent, _ := s.cat.Set("emails")
	roles := map[string]string{}
	for _, u := range DemoUsers() {
		roles[u.Email] = u.Role
	}
	for _, d := range demoOutgoingEmails() {
		id := DemoID("email", d.subject)
		existing, err := store.GetRecord(ctx, tx, ent.Set, id)
		if err != nil {
			return err
		}
		if existing != nil {
			continue
		}
		owner := users[d.owner]
		sess := &records.Session{Ctx: ctx, Cat: s.cat, UserID: owner, Now: s.now, Role: roles[d.owner]}
		now := s.now()
		me := &store.Ref{Table: "systemuser", ID: owner}
		rec := &store.Record{Set: ent.Set, ID: id, CreatedOn: now, ModifiedOn: now,
			Attrs: map[string]any{
				"subject": d.subject, "description": d.body, "directioncode": true, "prioritycode": float64(1),
				"statecode": float64(0), "statuscode": float64(records.EmailDraft), "attachmentcount": float64(0),
			},
			Lookups: map[string]*store.Ref{"ownerid": me, "createdby": me, "modifiedby": me}}
		if d.regardingOpportunity != "" {
			if _, ok := s.cat.Set("opportunities"); ok {
				rec.Lookups["regardingobjectid"] = &store.Ref{Table: "opportunity", ID: DemoID("opportunity", d.regardingOpportunity)}
			}
		}
		parties := []*store.Party{{Mask: 1, Target: me, AddressUsed: d.owner}}
		for _, group := range []struct {
			mask  int
			addrs []string
		}{{2, d.to}, {3, d.cc}} {
			for _, a := range group.addrs {
				parties = append(parties, &store.Party{Mask: group.mask, Target: &store.Ref{Table: "contact", ID: DemoID("contact", a)}, AddressUsed: a})
			}
		}
		ch := records.NewChange()
		ch.Parties, ch.PartiesSet = parties, true
		if err := sess.Apply(ent, rec, ch); err != nil { // sender and recipient lines
			return err
		}
		if err := store.InsertRecord(ctx, tx, rec); err != nil {
			return err
		}
		if err := store.ReplaceParties(ctx, tx, id, parties); err != nil {
			return err
		}
		for _, f := range d.files {
			att := &store.Record{Set: "activitymimeattachments", ID: DemoID("activitymimeattachment", d.subject+"/"+f.name),
				CreatedOn: now, ModifiedOn: now,
				Attrs: map[string]any{"filename": f.name, "mimetype": f.mimeType,
					"body": base64.StdEncoding.EncodeToString(f.data), "filesize": float64(len(f.data)), "objecttypecode": "email"},
				Lookups: map[string]*store.Ref{"objectid": {Table: "email", ID: id}, "ownerid": me}}
			if err := store.InsertRecord(ctx, tx, att); err != nil {
				return err
			}
		}
		if err := sess.CountAttachments(tx, &store.Ref{Table: "email", ID: id}); err != nil {
			return err
		}
		if !d.pending {
			continue
		}
		if rec, err = store.GetRecord(ctx, tx, ent.Set, id); err != nil {
			return err
		}
		if err := sess.SendEmail(tx, ent, rec, true, ""); err != nil {
			return fmt.Errorf("localcrm: seed: send %q: %w", d.subject, err)
		}
	}
	return nil
}
