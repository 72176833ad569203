package crm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
