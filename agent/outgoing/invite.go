package outgoing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"crmsync/agent/compose"
	"crmsync/agent/crm"
)

// Meetings is what sending invitations asks of the CRM.
type Meetings interface {
	OrganizedMeetings(ctx context.Context, userID string, since, now time.Time) ([]crm.Meeting, error)
}

// KV is the part of the cache invitations keep their state in: per
// appointment, a hash of what was last sent and its sequence number.
type KV interface {
	Get(ctx context.Context, k string) ([]byte, bool, error)
	Set(ctx context.Context, k string, v []byte) error
}

// sinceKey holds when invitations started: appointments not changed since
// then are not sent, so switching sending on does not invite everyone to
// every meeting already arranged.
const sinceKey = "outgoing.invitations_since"

// inviteKey is the kv key of an appointment's invitation state.
func inviteKey(id string) string { return "outgoing.invite." + id }

// invitations sends an invitation for each future appointment the user
// organises with attendees outside the organisation, when it is new or
// changed since the last one: same UID as the calendar item crmsync keeps
// for it, and a higher SEQUENCE, so calendar apps update the meeting.
// Sending one twice (a restart between sending and recording) only
// repeats the same invitation, which calendar apps recognise.
func (w *Worker) invitations(ctx context.Context, rep *Report) error {
	if w.o.Meetings == nil || w.o.KV == nil {
		return nil
	}
	c, err := w.o.Meetings()
	var na NotAllowed
	if errors.As(err, &na) {
		return nil
	}
	if err != nil {
		return err
	}
	now := w.o.Now()
	// The CRM keeps whole seconds: start at the next one, so nothing
	// changed in the second sending was switched on counts as new.
	since := now.Truncate(time.Second).Add(time.Second)
	if b, ok, err := w.o.KV.Get(ctx, sinceKey); err != nil {
		return err
	} else if ok && len(b) == 8 {
		since = time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	} else {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(since.UnixMilli()))
		if err := w.o.KV.Set(ctx, sinceKey, b[:]); err != nil {
			return err
		}
	}
	meetings, err := c.OrganizedMeetings(ctx, w.o.UserID, since, now)
	if err != nil {
		return fmt.Errorf("outgoing: list the appointments you organise: %w", err)
	}
	var errs []error
	for _, m := range meetings {
		if err := w.invite(ctx, m, rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// external reports whether a party is outside the organisation: not a
// CRM user, and with an address.
func external(p crm.Party) bool { return p.Address != "" && p.Entity != "systemuser" }

// meetingHash sums what an invitation says, to see that it changed.
func meetingHash(m crm.Meeting) []byte {
	var addrs []string
	for _, p := range append(append([]crm.Party{}, m.Required...), m.Optional...) {
		addrs = append(addrs, strings.ToLower(p.Address))
	}
	sort.Strings(addrs)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d\x00%v\x00%s", m.Subject, m.Location, m.Description,
		m.Start.Unix(), m.End.Unix(), m.AllDay, strings.Join(addrs, ","))
	return h.Sum(nil)[:8]
}

// invite sends one meeting's invitation when it is due.
func (w *Worker) invite(ctx context.Context, m crm.Meeting, rep *Report) error {
	var to []compose.Address
	var rcpts []string
	for _, p := range append(append([]crm.Party{}, m.Required...), m.Optional...) {
		if external(p) {
			to = append(to, compose.Address{Name: p.Name, Addr: p.Address})
			rcpts = append(rcpts, p.Address)
		}
	}
	if len(rcpts) == 0 {
		return nil
	}
	sum := meetingHash(m)
	seq := 0
	if b, ok, err := w.o.KV.Get(ctx, inviteKey(m.ID)); err != nil {
		return err
	} else if ok && len(b) == 12 {
		if string(b[:8]) == string(sum) {
			return nil // sent as it is
		}
		seq = int(binary.BigEndian.Uint32(b[8:])) + 1
	}
	organizer := w.o.From
	if m.Organizer.Address != "" {
		organizer = compose.Address{Name: m.Organizer.Name, Addr: m.Organizer.Address}
	}
	if organizer.Addr == "" {
		return nil // nobody to send it as; the email side says so
	}
	meeting := compose.Meeting{UID: "crm-" + m.ID, Sequence: seq, Organizer: organizer, Subject: m.Subject,
		Location: m.Location, Description: m.Description, Start: m.Start, End: m.End, AllDay: m.AllDay}
	for _, p := range m.Required {
		if p.Address != "" && !strings.EqualFold(p.Address, organizer.Addr) {
			meeting.Required = append(meeting.Required, compose.Address{Name: p.Name, Addr: p.Address})
		}
	}
	for _, p := range m.Optional {
		if p.Address != "" {
			meeting.Optional = append(meeting.Optional, compose.Address{Name: p.Name, Addr: p.Address})
		}
	}
	if meeting.End.IsZero() || meeting.End.Before(meeting.Start) {
		meeting.End = meeting.Start
	}
	ics, err := compose.Invitation(meeting)
	if err != nil {
		rep.Notices = append(rep.Notices, fmt.Sprintf("The invitation to %q could not be written: %v", m.Subject, err))
		return nil
	}
	msg := compose.Email{MessageID: fmt.Sprintf("crm.invite.%s.%d@%s", m.ID, seq, domainOf(organizer.Addr)), Date: w.o.Now(),
		From: organizer, To: to, Subject: m.Subject, HTML: m.Description, Invitation: ics}
	if msg.HTML == "" {
		msg.HTML = m.Subject
	}
	data, err := compose.Build(msg)
	if err != nil {
		rep.Notices = append(rep.Notices, fmt.Sprintf("The invitation to %q could not be written: %v", m.Subject, err))
		return nil
	}
	if _, err := w.o.Submit(ctx, organizer.Addr, rcpts, data); err != nil {
		rep.Notices = append(rep.Notices, fmt.Sprintf("The invitation to %q was not sent: %v", m.Subject, err))
		return nil // tried again on the next pass
	}
	var state [12]byte
	copy(state[:8], sum)
	binary.BigEndian.PutUint32(state[8:], uint32(seq))
	if err := w.o.KV.Set(ctx, inviteKey(m.ID), state[:]); err != nil {
		return err
	}
	rep.Invitations++
	if s, err := w.o.Sent(); err == nil {
		if err := s.AppendSent(ctx, data); err != nil {
			rep.Notices = append(rep.Notices, fmt.Sprintf("The invitation to %q was sent, but its copy could not be kept in your Sent folder: %v", m.Subject, err))
		}
	}
	return nil
}

// domainOf is the domain of an address, for Message-IDs.
func domainOf(addr string) string {
	if _, d, ok := strings.Cut(addr, "@"); ok && d != "" && !strings.ContainsAny(d, "<>\" \t\r\n") {
		return d
	}
	return "crmsync.invalid"
}
