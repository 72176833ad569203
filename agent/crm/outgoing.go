package crm

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Email states and statuses of outgoing mail (Microsoft's email table
// reference: statuscode 6 Pending Send, 7 Sending and 3 Sent are states of
// Completed (1); 8 Failed and 1 Draft of Open (0)).
const (
	EmailOpen        = 0
	EmailCompleted   = 1
	EmailDraft       = 1
	EmailSent        = 3
	EmailPendingSend = 6
	EmailSending     = 7
	EmailFailed      = 8
)

// OutgoingEmail is an email written in the CRM that waits to be sent by
// the user's own mail account. Its content is held in memory only, for
// the time it takes to send it.
type OutgoingEmail struct {
	ID             string
	Version        int64 // the row version it was read at
	Subject        string
	HTML           string // the description, as Dataverse keeps an email's body
	MessageID      string // set once it was sent
	HasAttachments bool
	Status         int
	Modified       time.Time
}

// Attachment is a file of an outgoing email (activitymimeattachment).
type Attachment struct {
	Filename string
	MIMEType string
	Data     []byte
}

// maxAttachmentBytes bounds what is read of one email's attachments, so a
// huge attachment cannot exhaust memory; the message size limit of the
// mail server is lower anyway.
const maxAttachmentBytes = 25 << 20

// PendingEmails asks the CRM for the user's emails that wait for their
// client to send them (Pending Send), with BackgroundSendEmail as the
// legacy Outlook client did. The CRM answers only emails whose sender's
// mailbox says a client application delivers them.
func (c *HTTPClient) PendingEmails(ctx context.Context) ([]OutgoingEmail, error) {
	const op = "list pending email"
	fetch := `<fetch><entity name="email"><attribute name="activityid"/><attribute name="subject"/>` +
		`<attribute name="description"/><attribute name="statuscode"/><attribute name="messageid"/>` +
		`<attribute name="modifiedon"/><attribute name="versionnumber"/><filter>` +
		`<condition attribute="statuscode" operator="eq" value="` + strconv.Itoa(EmailPendingSend) + `"/>` +
		`<condition attribute="ownerid" operator="eq-userid"/></filter>` +
		`<order attribute="modifiedon"/></entity></fetch>`
	body := map[string]any{"Query": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.FetchExpression", "Query": fetch}}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "BackgroundSendEmail", body: body})
	if err != nil {
		return nil, err
	}
	var ans struct {
		EntityCollection []map[string]any
		HasAttachments   []bool
	}
	if err := decode(op, resp, &ans); err != nil {
		return nil, err
	}
	out := make([]OutgoingEmail, 0, len(ans.EntityCollection))
	for i, row := range ans.EntityCollection {
		e := outgoingFrom(row)
		if !IsGUID(e.ID) {
			return nil, &Error{Op: op, Kind: KindBadResponse, Message: "an email has no valid activityid"}
		}
		if i < len(ans.HasAttachments) {
			e.HasAttachments = ans.HasAttachments[i]
		}
		out = append(out, e)
	}
	return out, nil
}

func outgoingFrom(row map[string]any) OutgoingEmail {
	var e OutgoingEmail
	id, _ := row["activityid"].(string)
	e.ID = strings.ToLower(id)
	e.Subject, _ = row["subject"].(string)
	e.HTML, _ = row["description"].(string)
	e.MessageID, _ = row["messageid"].(string)
	if v, ok := row["versionnumber"].(float64); ok {
		e.Version = int64(v)
	}
	if v, ok := row["statuscode"].(float64); ok {
		e.Status = int(v)
	}
	if s, ok := row["modifiedon"].(string); ok {
		e.Modified, _ = time.Parse(time.RFC3339, s)
	}
	return e
}

// OutgoingEmail reads one email for sending, with its current version.
func (c *HTTPClient) OutgoingEmail(ctx context.Context, id string) (OutgoingEmail, error) {
	const op = "read email"
	if err := checkGUID(op, "email ID", id); err != nil {
		return OutgoingEmail{}, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true, path: "emails(" + id + ")" +
		query("$select", "activityid,subject,description,statuscode,messageid,modifiedon,versionnumber,attachmentcount")})
	if err != nil {
		return OutgoingEmail{}, err
	}
	var row map[string]any
	if err := decode(op, resp, &row); err != nil {
		return OutgoingEmail{}, err
	}
	e := outgoingFrom(row)
	if n, ok := row["attachmentcount"].(float64); ok {
		e.HasAttachments = n > 0
	}
	return e, nil
}

// Recipients are an outgoing email's parties, by address.
type Recipients struct {
	From        Party
	To, Cc, Bcc []Party
}

// Participation masks of an email's parties.
const (
	maskFrom = 1
	maskTo   = 2
	maskCc   = 3
	maskBcc  = 4
)

// EmailRecipients reads an email's sender and recipients with their
// addresses: the address the CRM kept for the party, else the record's
// primary address.
func (c *HTTPClient) EmailRecipients(ctx context.Context, id string) (Recipients, error) {
	const op = "read email parties"
	if err := checkGUID(op, "email ID", id); err != nil {
		return Recipients{}, err
	}
	var rows []map[string]any
	err := c.annotatedRows(ctx, op, "emails"+query("$select", "activityid", "$filter", "activityid eq "+id,
		"$expand", "email_activity_parties($select=participationtypemask,addressused,_partyid_value)"), formattedPrefer,
		func(row map[string]any) error { rows = append(rows, row); return nil })
	if err != nil {
		return Recipients{}, err
	}
	if len(rows) != 1 {
		return Recipients{}, &Error{Op: op, Kind: KindNotFound, Message: "the email is gone"}
	}
	refs := map[string]string{}
	parties := partyRows(rows[0]["email_activity_parties"], refs)
	addrs, err := c.PartyAddresses(ctx, refs)
	if err != nil {
		return Recipients{}, err
	}
	var r Recipients
	for _, p := range parties {
		party := p.party(addrs)
		switch p.mask {
		case maskFrom:
			r.From = party
		case maskTo:
			r.To = append(r.To, party)
		case maskCc:
			r.Cc = append(r.Cc, party)
		case maskBcc:
			r.Bcc = append(r.Bcc, party)
		}
	}
	return r, nil
}

// EmailAttachments reads an email's attachments into memory.
func (c *HTTPClient) EmailAttachments(ctx context.Context, id string) ([]Attachment, error) {
	const op = "read email attachments"
	if err := checkGUID(op, "email ID", id); err != nil {
		return nil, err
	}
	var out []Attachment
	total := 0
	path := "activitymimeattachments" + query("$select", "filename,mimetype,body,filesize", "$filter", "_objectid_value eq "+id)
	err := c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
		var a Attachment
		a.Filename, _ = row["filename"].(string)
		a.MIMEType, _ = row["mimetype"].(string)
		b64, _ := row["body"].(string)
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return &Error{Op: op, Kind: KindBadResponse, Message: "an attachment's body is not base64", Err: err}
		}
		total += len(data)
		if total > maxAttachmentBytes {
			return &Error{Op: op, Kind: KindBadRequest, Message: "the attachments are larger than 25 MB",
				UserText: "The email's attachments are larger than 25 MB, more than mail servers accept; make them smaller in the CRM and send it again."}
		}
		a.Data = data
		out = append(out, a)
		return nil
	})
	return out, err
}

// SetEmailStatus changes an outgoing email's status, applying only to
// the version given (If-Match) when it is above zero, and returns the new
// version. Sent also records the Message-ID the email went out with, in
// the same request, so a reply correlates.
func (c *HTTPClient) SetEmailStatus(ctx context.Context, id string, version int64, status int, messageID string) (int64, error) {
	state := EmailCompleted
	if status == EmailFailed || status == EmailDraft {
		state = EmailOpen
	}
	body := map[string]any{"statecode": state, "statuscode": status}
	if messageID != "" {
		body["messageid"] = clipRunes(messageID, messageIDMax)
	}
	return c.UpdateRow(ctx, "emails", "activityid", id, version, body)
}

// AddEmailNote writes a note on an email, such as why it could not be
// sent, so it can be read in the CRM.
func (c *HTTPClient) AddEmailNote(ctx context.Context, id, subject, text string) error {
	const op = "add note"
	if err := checkGUID(op, "email ID", id); err != nil {
		return err
	}
	body := map[string]any{"subject": clipRunes(subject, 500), "notetext": text,
		"objectid_email@odata.bind": "/emails(" + id + ")"}
	_, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "annotations", body: body})
	return err
}

// SendEmailAgain puts an email back in Pending Send (SendEmail with
// IssueSend), as the CRM's Send button does: a retry of a failed email.
func (c *HTTPClient) SendEmailAgain(ctx context.Context, id string) error {
	const op = "send email"
	if err := checkGUID(op, "email ID", id); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodPost,
		path: "emails(" + id + ")/Microsoft.Dynamics.CRM.SendEmail", body: map[string]any{"IssueSend": true, "TrackingToken": ""}})
	return refusal(err, "The CRM refused to send the email: ")
}

// EmailStates reads the status of emails by ID, for the outbox listing.
func (c *HTTPClient) EmailStates(ctx context.Context, ids []string) (map[string]OutgoingEmail, error) {
	rows, err := c.Rows(ctx, "emails", "activityid", ids, []string{"activityid", "subject", "statuscode", "modifiedon", "versionnumber"}, "")
	if err != nil {
		return nil, err
	}
	out := map[string]OutgoingEmail{}
	for _, row := range rows {
		e := outgoingFrom(row)
		out[e.ID] = e
	}
	return out, nil
}

// RecentOutgoing lists the user's outgoing email crmsync deals with:
// pending, sending and failed, and what was sent in the last week, newest
// first, at most 50.
func (c *HTTPClient) RecentOutgoing(ctx context.Context, userID string, since time.Time) ([]OutgoingEmail, error) {
	const op = "list outgoing email"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return nil, err
	}
	filter := "_ownerid_value eq " + userID + " and directioncode eq true and (statuscode eq " + strconv.Itoa(EmailPendingSend) +
		" or statuscode eq " + strconv.Itoa(EmailSending) + " or statuscode eq " + strconv.Itoa(EmailFailed) +
		" or (statuscode eq " + strconv.Itoa(EmailSent) + " and modifiedon ge " + since.UTC().Format(time.RFC3339) + "))"
	path := "emails" + query("$select", "activityid,subject,statuscode,messageid,modifiedon,versionnumber", "$filter", filter,
		"$orderby", "modifiedon desc", "$top", "50")
	var out []OutgoingEmail
	err := c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
		out = append(out, outgoingFrom(row))
		return nil
	})
	return out, err
}

// EmailNotes returns the notes on an email, oldest first, as "subject:
// text" lines.
func (c *HTTPClient) EmailNotes(ctx context.Context, id string) ([]string, error) {
	const op = "read notes"
	if err := checkGUID(op, "email ID", id); err != nil {
		return nil, err
	}
	var out []string
	path := "annotations" + query("$select", "subject,notetext", "$filter", "_objectid_value eq "+id, "$orderby", "createdon asc")
	err := c.annotatedRows(ctx, op, path, "", func(row map[string]any) error {
		s, _ := row["subject"].(string)
		t, _ := row["notetext"].(string)
		out = append(out, s+": "+t)
		return nil
	})
	return out, err
}
