package crm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"crmsync/agent"
)

// Appointment is a meeting to record in the CRM as an appointment
// activity: one the user was invited to by mail, or marked for tracking
// in their calendar.
type Appointment struct {
	// ID is the activity's GUID, chosen by the caller (see DerivedID), so
	// that a retry finds the appointment it made instead of making another.
	ID          string
	UID         string // the meeting's iCalendar UID, kept as globalobjectid
	Subject     string
	Location    string
	Description string
	Start, End  time.Time
	AllDay      bool
	// Organizer is the meeting's organizer. Dataverse takes only a system
	// user as the organizer party; anyone else is kept by address, and a
	// CRM contact or account organizing becomes the regarding record when
	// Regarding is nil.
	Organizer          Party
	Required, Optional []Party
	Regarding          *agent.RecordRef
}

// Participation masks of an appointment's parties.
const (
	maskRequiredAttendee = 5
	maskOptionalAttendee = 6
	maskOrganizer        = 7
)

// DerivedID returns the GUID of the CRM record a user makes from an item
// or meeting with this iCalendar UID: the same user and UID always give
// the same GUID, so a create retried after a crash is refused as a
// duplicate instead of doubling the record.
func DerivedID(userID, uid string) string {
	sum := sha256.Sum256([]byte("crmsync record\x00" + strings.ToLower(userID) + "\x00" + uid))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50 // a name-based (version 5) layout
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TrackAppointment creates the appointment, its parties resolved by
// address as an email's are, and returns its ID. An appointment that
// exists already with that ID (an earlier attempt got through) counts as
// created.
func (c *HTTPClient) TrackAppointment(ctx context.Context, a Appointment) (string, error) {
	const op = "track appointment"
	if err := checkGUID(op, "appointment ID", a.ID); err != nil {
		return "", err
	}
	if a.Start.IsZero() {
		return "", &Error{Op: op, Kind: KindBadRequest, Message: "the meeting has no start time"}
	}
	var addrs []string
	for _, p := range append(append([]Party{a.Organizer}, a.Required...), a.Optional...) {
		addrs = append(addrs, p.Address)
	}
	resolved, err := c.ResolveParties(ctx, addrs)
	if err != nil {
		return "", err
	}
	var parties []map[string]any
	add := func(p Party, mask int) {
		row := map[string]any{"participationtypemask": mask}
		set, ok := partySets[p.Entity]
		switch {
		case p.Resolved() && ok && (mask != maskOrganizer || p.Entity == "systemuser"):
			row["partyid_"+p.Entity+"@odata.bind"] = "/" + set + "(" + p.ID + ")"
		case p.Address != "":
			row["addressused"] = clipRunes(p.Address, addressMax)
		default:
			return
		}
		parties = append(parties, row)
	}
	add(resolved[0], maskOrganizer)
	for i := range a.Required {
		add(resolved[1+i], maskRequiredAttendee)
	}
	for i := range a.Optional {
		add(resolved[1+len(a.Required)+i], maskOptionalAttendee)
	}
	end := a.End
	if end.Before(a.Start) {
		end = a.Start
	}
	body := map[string]any{
		"activityid":     a.ID,
		"subject":        clipRunes(a.Subject, 200),
		"location":       clipRunes(a.Location, 200),
		"description":    a.Description,
		"scheduledstart": a.Start.UTC().Format(time.RFC3339),
		"scheduledend":   end.UTC().Format(time.RFC3339),
		"isalldayevent":  a.AllDay,
		"globalobjectid": clipRunes(a.UID, 300),
	}
	if len(parties) > 0 {
		body["appointment_activity_parties"] = parties
	}
	if org := resolved[0]; a.Regarding == nil && org.Resolved() && (org.Entity == "contact" || org.Entity == "account") {
		// A meeting a customer organises is about them: the organizer
		// party can only be kept by address, so the link is the
		// regarding record.
		a.Regarding = &agent.RecordRef{Entity: org.Entity, ID: org.ID}
	}
	if a.Regarding != nil {
		rs, ok := regardingSets[a.Regarding.Entity]
		if ok && IsGUID(a.Regarding.ID) {
			body["regardingobjectid_"+a.Regarding.Entity+"_appointment@odata.bind"] = "/" + rs.set + "(" + a.Regarding.ID + ")"
		}
	}
	id, _, err := c.CreateRow(ctx, "appointments", "activityid", body)
	if errors.Is(err, ErrConflict) {
		return strings.ToLower(a.ID), nil
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// Meeting is an appointment as its invitation needs it. Held in memory
// only.
type Meeting struct {
	ID, Subject, Location, Description string
	Start, End                         time.Time
	AllDay                             bool
	Organizer                          Party
	Required, Optional                 []Party
}

// OrganizedMeetings lists the future appointments the user organises
// that were created or changed since since, with their parties'
// addresses: the ones whose invitations crmsync may have to send.
func (c *HTTPClient) OrganizedMeetings(ctx context.Context, userID string, since, now time.Time) ([]Meeting, error) {
	const op = "list organised appointments"
	if err := checkGUID(op, "user ID", userID); err != nil {
		return nil, err
	}
	filter := "_ownerid_value eq " + userID + " and scheduledstart gt " + now.UTC().Format(time.RFC3339) +
		" and modifiedon ge " + since.UTC().Format(time.RFC3339) + " and (statecode eq 0 or statecode eq 3)"
	path := "appointments" + query("$select", "activityid,subject,location,description,scheduledstart,scheduledend,isalldayevent",
		"$filter", filter, "$orderby", "scheduledstart asc", "$top", "200",
		"$expand", "appointment_activity_parties($select=participationtypemask,addressused,_partyid_value)")
	type rawMeeting struct {
		m       Meeting
		parties []partyRow
	}
	var raws []rawMeeting
	refs := map[string]string{}
	err := c.annotatedRows(ctx, op, path, formattedPrefer, func(row map[string]any) error {
		var rm rawMeeting
		id, _ := row["activityid"].(string)
		rm.m.ID = strings.ToLower(id)
		rm.m.Subject, _ = row["subject"].(string)
		rm.m.Location, _ = row["location"].(string)
		rm.m.Description, _ = row["description"].(string)
		rm.m.AllDay, _ = row["isalldayevent"].(bool)
		if s, ok := row["scheduledstart"].(string); ok {
			rm.m.Start, _ = time.Parse(time.RFC3339, s)
		}
		if s, ok := row["scheduledend"].(string); ok {
			rm.m.End, _ = time.Parse(time.RFC3339, s)
		}
		rm.parties = partyRows(row["appointment_activity_parties"], refs)
		raws = append(raws, rm)
		return nil
	})
	if err != nil {
		return nil, err
	}
	addrs, err := c.PartyAddresses(ctx, refs)
	if err != nil {
		return nil, err
	}
	var out []Meeting
	for _, rm := range raws {
		m := rm.m
		for _, p := range rm.parties {
			party := p.party(addrs)
			switch p.mask {
			case maskOrganizer:
				m.Organizer = party
			case maskRequiredAttendee:
				m.Required = append(m.Required, party)
			case maskOptionalAttendee:
				m.Optional = append(m.Optional, party)
			}
		}
		if strings.EqualFold(m.Organizer.ID, userID) {
			out = append(out, m)
		}
	}
	return out, nil
}

// partyRow is one expanded activity party as an answer carries it.
type partyRow struct {
	mask          int
	id, table     string
	name, address string
}

// partyRows reads an activity's expanded parties, noting in refs the
// records whose address the CRM did not keep on the party.
func partyRows(expanded any, refs map[string]string) []partyRow {
	list, _ := expanded.([]any)
	var out []partyRow
	for _, x := range list {
		pm, ok := x.(map[string]any)
		if !ok {
			continue
		}
		var p partyRow
		if f, ok := pm["participationtypemask"].(float64); ok {
			p.mask = int(f)
		}
		p.id, _ = pm["_partyid_value"].(string)
		p.id = strings.ToLower(p.id)
		p.table, _ = pm["_partyid_value"+annLogical].(string)
		p.name, _ = pm["_partyid_value"+annFormatted].(string)
		p.address, _ = pm["addressused"].(string)
		if p.address == "" && p.id != "" {
			refs[p.id] = p.table
		}
		out = append(out, p)
	}
	return out
}

// party is the row as a Party: the address the CRM kept, else the
// record's primary one from addrs.
func (p partyRow) party(addrs map[string]string) Party {
	addr := p.address
	if addr == "" {
		addr = addrs[p.id]
	}
	return Party{Address: addr, Entity: p.table, ID: p.id, Name: p.name}
}

// MailboxAppointmentDelivery returns how the mailbox delivers appointments,
// contacts and tasks (actdeliverymethod): 0 means a client application
// ("Microsoft Dynamics 365 for Outlook"), 1 server-side synchronization,
// 2 none.
func (c *HTTPClient) MailboxAppointmentDelivery(ctx context.Context, mailboxID string) (int, error) {
	const op = "read mailbox"
	if err := checkGUID(op, "mailbox ID", mailboxID); err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodGet, idempotent: true,
		path: "mailboxes(" + mailboxID + ")" + query("$select", "actdeliverymethod")})
	if err != nil {
		return 0, err
	}
	var m struct {
		ACT *int `json:"actdeliverymethod"`
	}
	if err := decode(op, resp, &m); err != nil {
		return 0, err
	}
	if m.ACT == nil {
		return 2, nil
	}
	return *m.ACT, nil
}
