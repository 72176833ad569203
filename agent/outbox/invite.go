package outbox

import (
	"context"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/item"
)

// FieldMeetingRequest names, among the fields a track uploaded, the
// meeting request tracked with its message as an appointment.
const FieldMeetingRequest = "Meeting request"

// trackInvitation records the meeting request a tracked message carries
// as an appointment, regarding the message's record. Its ID derives from
// the user and the meeting's UID, so tracking the message again (a retry,
// or the same invitation in another copy of the message) finds the
// appointment instead of making another. An invitation that cannot be
// read leaves the message tracked and says why.
func (w *Worker) trackInvitation(ctx context.Context, ics []byte, user string, regarding *agent.RecordRef) (string, error) {
	it, err := item.DecodeEvent(ics)
	if err != nil || it.UID == "" || !crm.IsGUID(user) {
		why := "it has no UID"
		if err != nil {
			why = err.Error()
		}
		return "The meeting request in this message could not be read, so only the message was tracked: " + why, nil
	}
	v := it.Values
	a := crm.Appointment{
		ID: crm.DerivedID(user, it.UID), UID: it.UID, Subject: v["Subject"], Location: v["Location"],
		Description: v["Body"], AllDay: v["IsAllDayEvent"] == "true", Regarding: regarding,
		Organizer: firstParty(v["Organizer"]), Required: parties(v["RequiredAttendees"]), Optional: parties(v["OptionalAttendees"]),
	}
	a.Start, _ = valueTime(v["Start"])
	a.End, _ = valueTime(v["End"])
	if a.Start.IsZero() {
		return "The meeting request in this message has no start time, so only the message was tracked.", nil
	}
	if _, err := w.o.CRM.TrackAppointment(ctx, a); err != nil {
		return "", err
	}
	return "Tracked with its meeting, " + quoteSubject(a.Subject) + ", as an appointment.", nil
}

func quoteSubject(s string) string {
	if s == "" {
		return "which has no subject"
	}
	return "“" + s + "”"
}

// parties reads the attendee lines of item values ("address\tname").
func parties(lines string) []crm.Party {
	var out []crm.Party
	for _, l := range strings.Split(lines, "\n") {
		addr, name, _ := strings.Cut(l, "\t")
		if addr = strings.TrimSpace(addr); addr != "" {
			out = append(out, crm.Party{Address: addr, Name: name})
		}
	}
	return out
}

func firstParty(lines string) crm.Party {
	if ps := parties(lines); len(ps) > 0 {
		return ps[0]
	}
	return crm.Party{}
}

// valueTime reads a time of item values: RFC 3339, or a date.
func valueTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
