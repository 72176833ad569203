package cache

import (
	"context"
)

// The steps of an outgoing email, in order. Each is written before the
// next begins, so a restart resumes from the last one written.
const (
	OutClaimed  = 1 // marked Sending in the CRM: no other device sends it
	OutHanding  = 2 // being handed to the mail server: it may have gone out
	OutAccepted = 3 // the mail server accepted it
	OutMarked   = 4 // marked Sent in the CRM; only the Sent copy may be missing
)

// Outgoing is how far crmsync got with sending one email.
type Outgoing struct {
	ActivityID string
	Step       int
	Version    int64
}

// PutOutgoing records a step of an email; the write is durable when it
// returns.
func (s *Store) PutOutgoing(ctx context.Context, o Outgoing) error {
	id, err := normGUID("an outgoing email's ID", o.ActivityID)
	if err != nil || id == "" {
		return wrap("put outgoing", invalid("an outgoing email needs its GUID"))
	}
	if o.Step < OutClaimed || o.Step > OutMarked {
		return wrap("put outgoing", invalid("unknown step of an outgoing email"))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO outgoing (activity_id, step, version, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (activity_id) DO UPDATE SET step = excluded.step, version = excluded.version, updated_at = excluded.updated_at`,
		id, o.Step, o.Version, ms(s.now()))
	return wrap("put outgoing", err)
}

// OutgoingSteps returns every email crmsync is in the middle of sending.
func (s *Store) OutgoingSteps(ctx context.Context) ([]Outgoing, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT activity_id, step, version FROM outgoing ORDER BY updated_at")
	if err != nil {
		return nil, wrap("list outgoing", err)
	}
	defer rows.Close()
	var out []Outgoing
	for rows.Next() {
		var o Outgoing
		if err := rows.Scan(&o.ActivityID, &o.Step, &o.Version); err != nil {
			return nil, wrap("list outgoing", err)
		}
		out = append(out, o)
	}
	return out, wrap("list outgoing", rows.Err())
}

// DeleteOutgoing forgets an email that is done (Sent or Failed in the
// CRM); a missing one is not an error.
func (s *Store) DeleteOutgoing(ctx context.Context, activityID string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx, "DELETE FROM outgoing WHERE activity_id = ?", activityID)
	return wrap("delete outgoing", err)
}
