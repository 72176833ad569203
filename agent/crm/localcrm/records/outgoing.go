package records

import (
	"database/sql"
	"net/http"
	"strconv"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// The statuscode values of an email and their statecodes ([PAD]
// reference/entities/email.md): Draft 1 and Failed 8 are open (0);
// Completed 2, Sent 3, Received 4, Pending Send 6 and Sending 7 are
// completed (1); Canceled 5 is canceled (2).
const (
	EmailDraft       = 1
	EmailCompleted   = 2
	EmailSent        = 3
	EmailReceived    = 4
	EmailCanceled    = 5
	EmailPendingSend = 6
	EmailSending     = 7
	EmailFailed      = 8
)

// emailStatusLabels names the statuscode values, for messages.
var emailStatusLabels = map[int]string{
	EmailDraft: "Draft", EmailCompleted: "Completed", EmailSent: "Sent", EmailReceived: "Received",
	EmailCanceled: "Canceled", EmailPendingSend: "Pending Send", EmailSending: "Sending", EmailFailed: "Failed",
}

// statusLabel writes a statuscode with its label: "Pending Send (6)".
func statusLabel(v any) string {
	f, _ := v.(float64)
	n := strconv.Itoa(int(f))
	if l, ok := emailStatusLabels[int(f)]; ok {
		return l + " (" + n + ")"
	}
	return "statuscode " + n
}

// CheckNewEmailStatus refuses an email created directly as Pending Send,
// Sending or Failed: those states belong to sending, which starts with
// the SendEmail action on a draft (this server's rule, so that every
// pending email has passed SendEmail's checks).
func CheckNewEmailStatus(ent *Entity, ch *Change) error {
	if ent.Set != "emails" {
		return nil
	}
	switch s, _ := ch.Attrs["statuscode"].(float64); int(s) {
	case EmailPendingSend, EmailSending, EmailFailed:
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation,
			"An email cannot be created as %s; create it as a draft and send it with the SendEmail action (POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail).",
			statusLabel(ch.Attrs["statuscode"]))
	}
	return nil
}

// CheckEmailStatusChange checks a PATCH that changes an email's status
// against the sending lifecycle a desktop client follows:
//
//	Pending Send (6) -> Sending (7)   the client claims the email (with If-Match)
//	Sending (7)      -> Sent (3)      with messageid, in one request
//	Pending Send or Sending -> Failed (0/8)
//	Failed (8)       -> Pending Send  only through SendEmail (a retry)
//
// A second claim of an email that is already Sending is refused, so two
// clients never both send it. Other status changes keep the general
// rules (Draft to Pending Send or Sent, Pending Send to Sent, cancel).
// Dataverse's own rules for these transitions are not documented
// (UNCONFIRMED); these are this server's, strict so that a client
// written against it is safe on any server.
func CheckEmailStatusChange(ent *Entity, old *store.Record, ch *Change) error {
	if ent.Set != "emails" {
		return nil
	}
	to, changed := ch.Attrs["statuscode"].(float64)
	if !changed {
		state, ok := ch.Attrs["statecode"].(float64)
		if !ok {
			return nil
		}
		list := ent.States[int(state)]
		if len(list) == 0 {
			return nil // fixState refuses the state itself
		}
		to = float64(list[0])
	}
	from, _ := old.Attrs["statuscode"].(float64)
	refuse := func(format string, args ...any) error {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, format, args...)
	}
	switch {
	case from == EmailSending && to == EmailSending:
		return refuse("The email is already Sending (7): another client has claimed it. Read it again; only the client that set Sending may set Sent (3) or Failed (8).")
	case to == EmailSending && from != EmailPendingSend:
		return refuse("An email becomes Sending (7) only from Pending Send (6), and this one is %s.", statusLabel(old.Attrs["statuscode"]))
	case from == EmailSending && to != EmailSent && to != EmailFailed:
		return refuse("An email that is Sending (7) can only become Sent (statecode 1, statuscode 3) or Failed (statecode 0, statuscode 8), not %s.", statusLabel(to))
	case to == EmailPendingSend && from == EmailFailed:
		return refuse("A failed email goes back to Pending Send only through the SendEmail action (POST emails(<id>)/Microsoft.Dynamics.CRM.SendEmail with IssueSend true), which checks it again.")
	case to == EmailFailed && from != EmailFailed && from != EmailPendingSend && from != EmailSending:
		return refuse("Only an email that is Pending Send (6) or Sending (7) can fail, and this one is %s.", statusLabel(old.Attrs["statuscode"]))
	}
	return nil
}

// SenderMailbox returns the mailbox of the user whose id is given (their
// systemuser's defaultmailbox), nil when they have none.
func (c *Session) SenderMailbox(q store.Queryer, userID string) (*store.Record, error) {
	u, err := store.GetRecord(c.Ctx, q, "systemusers", userID)
	if err != nil || u == nil {
		return nil, err
	}
	ref := u.Lookups["defaultmailbox"]
	if ref == nil {
		return nil, nil
	}
	return store.GetRecord(c.Ctx, q, "mailboxes", ref.ID)
}

// OutgoingMethod is a mailbox's outgoingemaildeliverymethod.
func OutgoingMethod(mb *store.Record) int {
	f, _ := mb.Attrs["outgoingemaildeliverymethod"].(float64)
	return int(f)
}

// EmailSender returns the user an email is sent from: its sender party's
// systemuser, "" when the sender is not a user or there is none.
func EmailSender(ps []*store.Party) string {
	for _, p := range ps {
		if p.Mask == 1 && p.Target != nil && p.Target.Table == "systemuser" {
			return p.Target.ID
		}
	}
	return ""
}

// SendEmail is the SendEmail message on an email (rec, read in tx): the
// email must be outgoing, open (Draft or Failed), sent from the caller
// (an email without a sender gets the caller; another user's address
// needs prvSendAsUser), and have a To, Cc or Bcc party. With issueSend
// false it is recorded as Sent at once ("Indicates whether the email is
// to be sent or marked as sent", Microsoft's SendEmail action reference);
// with issueSend true it becomes Pending Send (statecode 1, statuscode 6),
// for the sender's mailbox to deliver: a desktop client when its
// outgoingemaildeliverymethod is 1 (it picks the email up with
// BackgroundSendEmail), server-side synchronization when 2 (which this
// server does not have, so such an email waits); a mailbox with 0 (None)
// cannot send, and the request is refused. trackingToken, when not
// empty, is stored in trackingtoken; none is generated, as with tracking
// tokens turned off in the organization's email settings. The caller
// checks the role's privileges and the record's owner first.
func (c *Session) SendEmail(tx *sql.Tx, ent *Entity, rec *store.Record, issueSend bool, trackingToken string) error {
	refuse := func(format string, args ...any) error {
		return wire.Errf(http.StatusBadRequest, wire.CodeValidation, format, args...)
	}
	if out, _ := rec.Attrs["directioncode"].(bool); !out {
		return refuse("The email (Id=%s) is an incoming email (directioncode false); only outgoing email can be sent.", rec.ID)
	}
	state, _ := rec.Attrs["statecode"].(float64)
	status, _ := rec.Attrs["statuscode"].(float64)
	if state != 0 || (status != EmailDraft && status != EmailFailed) {
		return refuse("The email (Id=%s) is %s; only an open email (Draft or Failed) can be sent.", rec.ID, statusLabel(rec.Attrs["statuscode"]))
	}
	ch := NewChange()
	if trackingToken != "" {
		col, _ := ent.Column("trackingtoken")
		v, err := ConvertValue(ent, col, trackingToken)
		if err != nil {
			return err
		}
		ch.Attrs["trackingtoken"] = v
	}
	ps, err := store.ListParties(c.Ctx, tx, rec.ID)
	if err != nil {
		return err
	}
	me, err := store.GetRecord(c.Ctx, tx, "systemusers", c.UserID)
	if err != nil {
		return err
	}
	if me == nil {
		return wire.RecordNotFound("systemuser", c.UserID)
	}
	myAddress := me.Str("internalemailaddress")
	var sender *store.Party
	recipients := 0
	for _, p := range ps {
		switch p.Mask {
		case 1:
			sender = p
		case 2, 3, 4:
			recipients++
		}
	}
	senderUser := c.UserID
	switch {
	case sender == nil:
		// "The email's from party ... or, if no from party, the caller
		// is set as from."
		ps = append([]*store.Party{{Mask: 1, Target: &store.Ref{Table: "systemuser", ID: c.UserID}, AddressUsed: myAddress}}, ps...)
		ch.Parties, ch.PartiesSet = ps, true
	case sender.Target == nil:
		if myAddress == "" || !strings.EqualFold(strings.TrimSpace(sender.AddressUsed), myAddress) {
			return refuse("The sender of the email (Id=%s) is the address '%s', not a user; an email sent through the CRM goes out from a user's mailbox: bind the sender with partyid_systemuser@odata.bind.",
				rec.ID, wire.Truncate(sender.AddressUsed, 320))
		}
		sender.Target = &store.Ref{Table: "systemuser", ID: c.UserID}
		ch.Parties, ch.PartiesSet = ps, true
	case sender.Target.Table == "queue":
		// Queue mailboxes send through server-side synchronization only
		// (UNCONFIRMED for the legacy client); this server has none.
		return refuse("The email (Id=%s) is sent from a queue (Id=%s); this server sends email only from a user's own mailbox.", rec.ID, sender.Target.ID)
	case sender.Target.ID != c.UserID:
		if err := c.RequirePrivileges("sending email from another user's address (Send Email as Another User)", PrvSendAsUser); err != nil {
			return err
		}
		senderUser = sender.Target.ID
	}
	if recipients == 0 {
		// Dataverse's own error for an email without recipients is
		// UNCONFIRMED; the sentence says what to do.
		return refuse("The email (Id=%s) has no recipient; add a To, Cc or Bcc party (participationtypemask 2, 3 or 4) before sending it.", rec.ID)
	}
	ch.Attrs["statecode"], ch.Attrs["statuscode"] = float64(1), float64(EmailSent)
	if issueSend {
		mb, err := c.SenderMailbox(tx, senderUser)
		if err != nil {
			return err
		}
		if mb == nil {
			return refuse("The email (Id=%s) cannot be sent: its sender (systemuser Id=%s) has no mailbox.", rec.ID, senderUser)
		}
		if OutgoingMethod(mb) == DeliveryNone {
			// The code and wording of Dataverse's refusal are
			// UNCONFIRMED.
			return refuse("The email (Id=%s) cannot be sent: the sender's mailbox (Id=%s) has no outgoing email delivery method (outgoingemaildeliverymethod 0, None). An administrator must set it to Microsoft Dynamics 365 for Outlook or Server-Side Synchronization.",
				rec.ID, mb.ID)
		}
		ch.Attrs["statuscode"] = float64(EmailPendingSend)
	}
	if err := c.Apply(ent, rec, ch); err != nil {
		return err
	}
	rec.ModifiedOn = c.Now()
	rec.Lookups["modifiedby"] = &store.Ref{Table: "systemuser", ID: c.UserID}
	if err := store.UpdateRecord(c.Ctx, tx, rec); err != nil {
		return err
	}
	if ch.PartiesSet {
		return store.ReplaceParties(c.Ctx, tx, rec.ID, ch.Parties)
	}
	return nil
}
