package cache

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"crmsync/agent"
)

// ActionKind is what a queued action asks of the CRM.
type ActionKind int

// The action kinds. The numbers are stored; never renumber them.
const (
	ActionTrack        ActionKind = 1 // create the email activity, optionally regarding a record
	ActionUntrack      ActionKind = 2 // delete the CRM copy if owned, else forget the link
	ActionSetRegarding ActionKind = 3 // point the activity at another record
)

// String returns the kind's name for logs.
func (k ActionKind) String() string {
	switch k {
	case ActionTrack:
		return "Track"
	case ActionUntrack:
		return "Untrack"
	case ActionSetRegarding:
		return "SetRegarding"
	}
	return "Unknown"
}

// Action is one queued outbox row. Like the messages, it holds IDs only: the
// headers and body are re-read from the Maildir when it is replayed.
type Action struct {
	ID        int64            // set by Enqueue; increases with every new row
	Key       agent.MessageKey // the message acted on
	Kind      ActionKind
	Regarding *agent.RecordRef // target record: optional for Track, required for SetRegarding, nil for Untrack
	IdemKey   string           // 32 hex digits sent with the CRM request so a replay cannot create twice
	Attempts  int              // failed tries so far
	NextAt    time.Time        // not due before this time
	CreatedAt time.Time
	LastError int // kind code of the last failure, 0..MaxCode; never error text, which could echo a subject
}

// outboxColumns is the column list scanAction expects.
const outboxColumns = `id, key, action, regarding_entity, regarding_id, idem_key, attempts, next_at, created_at, last_error`

// scanAction reads one row selected with outboxColumns.
func scanAction(sc scanner) (Action, error) {
	var (
		a              Action
		key, ent, rid  string
		kind           int
		next, creation int64
	)
	if err := sc.Scan(&a.ID, &key, &kind, &ent, &rid, &a.IdemKey, &a.Attempts, &next, &creation, &a.LastError); err != nil {
		return Action{}, err
	}
	a.Key, a.Kind = agent.MessageKey(key), ActionKind(kind)
	a.Regarding = refFrom(ent, rid)
	a.NextAt, a.CreatedAt = fromMS(next), fromMS(creation)
	return a, nil
}

// newIdemKey returns 128 random bits in hex.
func newIdemKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Enqueue queues a, durably: when it returns, the row survives a crash or a
// power cut. The message's state becomes Pending in the same transaction
// (a row is created for a key the cache has not seen). Only Key, Kind,
// Regarding and, optionally, IdemKey and NextAt are read from a; the stored
// row is returned.
//
// One action of each kind is queued per message. Enqueueing a kind that is
// already queued returns the queued row; if the regarding target differs,
// the queued row takes the new target, since the user's latest choice wins.
// Should that row be in flight at that moment, Complete and Fail keep it so
// the new target is applied on the next try.
func (s *Store) Enqueue(ctx context.Context, a Action) (Action, error) {
	out, _, err := s.enqueue(ctx, nil, false, a)
	return out, err
}

// Decide records a decision about a message and, in the same transaction,
// queues the action it calls for, so a crash leaves either both or neither:
// never a message marked for tracking with nothing queued to track it.
// m.Key must equal a.Key; the message's state becomes Pending.
func (s *Store) Decide(ctx context.Context, m Message, a Action) (Action, error) {
	out, _, err := s.decide(ctx, m, a, false)
	return out, err
}

// DecideNew is Decide for a message the cache has no row for yet, as an
// automatic decision is: the check and the write are one transaction, so a
// choice the user made while the message was being decided always stands.
// It returns false, and writes nothing, when the message has a row.
func (s *Store) DecideNew(ctx context.Context, m Message, a Action) (Action, bool, error) {
	return s.decide(ctx, m, a, true)
}

func (s *Store) decide(ctx context.Context, m Message, a Action, onlyNew bool) (Action, bool, error) {
	if m.Key != a.Key {
		return Action{}, false, wrap("decide", invalid("the message and the action are for different keys"))
	}
	m.State = agent.Pending
	r, err := s.row(m)
	if err != nil {
		return Action{}, false, wrap("decide", err)
	}
	return s.enqueue(ctx, &r, onlyNew, a)
}

// NewDecision is an automatic decision for a message the cache has no row
// for yet: its row, and the action it calls for (nil when none). A row
// with an action is written Pending.
type NewDecision struct {
	Message Message
	Action  *Action
}

// DecideNewAll writes a batch of automatic decisions in one transaction:
// one sync for the whole batch, which is what lets a large Maildir be
// decided at scan speed. Each decision is written as DecideNew writes it
// (a row, and its action queued with it), and only for a key that has no
// row yet: a choice the user made while the message was being decided
// always stands. It returns, per decision, whether it was written. A
// decision that is not acceptable (ErrInvalid) fails alone: its error is
// in refused, at its index (refused is nil when none was), and the others
// are written. err is the failure
// of the transaction, after which nothing was written.
func (s *Store) DecideNewAll(ctx context.Context, ds []NewDecision) (written []bool, refused []error, err error) {
	type prepared struct {
		row      msgRow
		ent, rid string
		action   *Action
	}
	ps := make([]prepared, len(ds))
	ok := make([]bool, len(ds))
	for i, d := range ds {
		p, bad := prepared{}, error(nil)
		m := d.Message
		if d.Action != nil {
			if m.Key != d.Action.Key {
				bad = invalid("the message and the action are for different keys")
			} else {
				a := *d.Action
				if p.ent, p.rid, bad = checkAction(&a); bad == nil {
					p.action = &a
					m.State = agent.Pending
				}
			}
		}
		if bad == nil {
			p.row, bad = s.row(m)
		}
		if bad != nil {
			if refused == nil {
				refused = make([]error, len(ds))
			}
			refused[i] = wrap("decide", bad)
			continue
		}
		ps[i], ok[i] = p, true
	}
	written = make([]bool, len(ds))
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, refused, wrap("decide", err)
	}
	defer tx.Rollback()
	// Statements prepared for the whole batch: preparing per row cost
	// more than the inserts themselves.
	stmt, err := tx.PrepareContext(ctx, insertSQL+" ON CONFLICT (key) DO NOTHING")
	if err != nil {
		return nil, refused, wrap("decide", err)
	}
	defer stmt.Close()
	var multi *sql.Stmt // inserts insertRows rows at once
	args := make([]any, 0, insertRows*msgCols)
	for i := 0; i < len(ps); {
		// Rows with no action, in runs of insertRows, go in one
		// statement each; should a key of the run have a row already
		// (rare: the user acted meanwhile), the run is undone and
		// written row by row to learn which.
		run := 0
		for run < insertRows && i+run < len(ps) && ok[i+run] && ps[i+run].action == nil {
			run++
		}
		if run == insertRows {
			if multi == nil {
				if multi, err = tx.PrepareContext(ctx, multiInsertSQL); err != nil {
					return nil, refused, wrap("decide", err)
				}
				defer multi.Close()
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT decide_run"); err != nil {
				return nil, refused, wrap("decide", err)
			}
			args = args[:0]
			for j := i; j < i+run; j++ {
				args = ps[j].row.appendArgs(args)
			}
			res, err := multi.ExecContext(ctx, args...)
			if err != nil {
				return nil, refused, wrap("decide", err)
			}
			n, err := res.RowsAffected()
			if err == nil && n == int64(run) {
				if _, err := tx.ExecContext(ctx, "RELEASE decide_run"); err != nil {
					return nil, refused, wrap("decide", err)
				}
				for j := i; j < i+run; j++ {
					written[j] = true
				}
				i += run
				continue
			}
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO decide_run"); err != nil {
				return nil, refused, wrap("decide", err)
			}
			if _, err := tx.ExecContext(ctx, "RELEASE decide_run"); err != nil {
				return nil, refused, wrap("decide", err)
			}
			run = 0 // row by row below
		}
		for end := i + max(run, 1); i < end; i++ {
			if !ok[i] {
				continue
			}
			p := &ps[i]
			res, err := stmt.ExecContext(ctx, p.row.args()...)
			if err != nil {
				return nil, refused, wrap("decide", err)
			}
			if n, err := res.RowsAffected(); err == nil && n == 0 {
				continue // the key has a row: left as it is
			}
			if p.action != nil {
				if err := s.queueTx(ctx, tx, *p.action, p.ent, p.rid, false); err != nil {
					return nil, refused, err
				}
			}
			written[i] = true
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, refused, wrap("decide: commit", err)
	}
	return written, refused, nil
}

// checkAction validates a for queueing and gives it an idempotency key;
// it returns the regarding record as column values.
func checkAction(a *Action) (ent, rid string, err error) {
	if err := checkKey(a.Key); err != nil {
		return "", "", err
	}
	if ent, rid, err = normRef(a.Regarding); err != nil {
		return "", "", err
	}
	switch a.Kind {
	case ActionTrack:
	case ActionUntrack:
		if a.Regarding != nil {
			return "", "", invalid("Untrack takes no regarding record")
		}
	case ActionSetRegarding:
		if a.Regarding == nil {
			return "", "", invalid("SetRegarding needs a regarding record")
		}
	default:
		return "", "", invalid("unknown action kind")
	}
	if a.IdemKey == "" {
		if a.IdemKey, err = newIdemKey(); err != nil {
			return "", "", fmt.Errorf("make idempotency key: %w", err)
		}
	} else if err := checkIdemKey(a.IdemKey); err != nil {
		return "", "", err
	}
	return ent, rid, nil
}

// enqueue queues a; when msg is set, that message row is written first in
// the same transaction, and with onlyNew only if the message has no row
// yet (false is returned otherwise, with nothing written).
func (s *Store) enqueue(ctx context.Context, msg *msgRow, onlyNew bool, a Action) (Action, bool, error) {
	ent, rid, err := checkAction(&a)
	if err != nil {
		return Action{}, false, wrap("enqueue", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Action{}, false, wrap("enqueue", err)
	}
	defer tx.Rollback()
	if msg != nil {
		q := upsertSQL
		if onlyNew {
			q = insertSQL + " ON CONFLICT (key) DO NOTHING"
		}
		res, err := tx.ExecContext(ctx, q, msg.args()...)
		if err != nil {
			return Action{}, false, wrap("decide", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return Action{}, false, nil
		}
	}
	out, err := s.enqueueTx(ctx, tx, a, ent, rid, msg == nil)
	if err != nil {
		return Action{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Action{}, false, wrap("enqueue: commit", err)
	}
	return out, true, nil
}

// enqueueTx queues a, checked by checkAction, inside tx; with markPending
// it also marks the message Pending (creating a bare row if needed). It
// returns the queued row.
func (s *Store) enqueueTx(ctx context.Context, tx *sql.Tx, a Action, ent, rid string, markPending bool) (Action, error) {
	if err := s.queueTx(ctx, tx, a, ent, rid, markPending); err != nil {
		return Action{}, err
	}
	out, err := scanAction(tx.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE key = ? AND action = ?",
		string(a.Key), int(a.Kind)))
	if err != nil {
		return Action{}, wrap("enqueue", err)
	}
	return out, nil
}

// queueTx is enqueueTx without reading the queued row back.
func (s *Store) queueTx(ctx context.Context, tx *sql.Tx, a Action, ent, rid string, markPending bool) error {
	now := ms(s.now())
	next := ms(a.NextAt)
	if next == 0 {
		next = now
	}
	// A duplicate keeps its row, idempotency key and schedule; only the
	// target can change. The changed flag tells Complete and Fail that the
	// row no longer describes what a worker may be doing right now.
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET regarding_entity = ?, regarding_id = ?, changed = 1
		WHERE key = ? AND action = ? AND (regarding_entity <> ? OR regarding_id <> ?)`,
		ent, rid, string(a.Key), int(a.Kind), ent, rid)
	if err != nil {
		return wrap("enqueue", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO outbox
			(key, action, regarding_entity, regarding_id, idem_key, attempts, next_at, last_error, created_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, 0, ?)
			ON CONFLICT (key, action) DO NOTHING`,
			string(a.Key), int(a.Kind), ent, rid, a.IdemKey, next, now)
		if err != nil {
			return wrap("enqueue", err)
		}
	}
	if markPending { // a decision's row says Pending already
		_, err = tx.ExecContext(ctx, `INSERT INTO messages (key, state, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			string(a.Key), int(agent.Pending), now)
		if err != nil {
			return wrap("enqueue: mark message pending", err)
		}
	}
	return nil
}

// Act carries out a user's action on key as one transaction. choose sees
// the message row as it is now (with found false, the row fresh returns,
// which Act calls only then) and returns the row to write and the action
// to queue; a nil action writes and queues nothing. No other writer can
// change the row in between, so a column written meanwhile by someone
// else (the outbox recording an ActivityID) is never overwritten with a
// stale copy. The row is written with state Pending; the row as written
// and the queued action are returned.
func (s *Store) Act(ctx context.Context, key agent.MessageKey, fresh func() (Message, error),
	choose func(m Message, found bool) (Message, *Action, error)) (Message, *Action, error) {
	if err := checkKey(key); err != nil {
		return Message{}, nil, wrap("act", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Message{}, nil, wrap("act", err)
	}
	defer tx.Rollback()
	m, err := scanMessage(tx.QueryRowContext(ctx, "SELECT "+msgColumns+" FROM messages WHERE key = ?", string(key)))
	found := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if m, err = fresh(); err != nil {
			return Message{}, nil, err
		}
	case err != nil:
		return Message{}, nil, wrap("act", err)
	}
	m, a, err := choose(m, found)
	if err != nil || a == nil {
		return m, nil, err
	}
	if m.Key != key || a.Key != key {
		return Message{}, nil, wrap("act", invalid("the message and the action are for different keys"))
	}
	m.State, m.UpdatedAt = agent.Pending, time.Time{} // row stamps it now
	r, err := s.row(m)
	if err != nil {
		return Message{}, nil, wrap("act", err)
	}
	ent, rid, err := checkAction(a)
	if err != nil {
		return Message{}, nil, wrap("act", err)
	}
	if err := upsert(ctx, tx, r); err != nil {
		return Message{}, nil, wrap("act", err)
	}
	out, err := s.enqueueTx(ctx, tx, *a, ent, rid, false)
	if err != nil {
		return Message{}, nil, err
	}
	if err := tx.Commit(); err != nil {
		return Message{}, nil, wrap("act: commit", err)
	}
	return m, &out, nil
}

// Due returns up to limit actions whose time has come (NextAt <= now),
// oldest queued first, so actions on one message replay in the order they
// were asked for.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]Action, error) {
	if limit <= 0 {
		return nil, wrap("list due actions", invalid("limit must be positive"))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("list due actions", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE next_at <= ? ORDER BY id LIMIT ?",
		ms(now), limit)
	if err != nil {
		return nil, wrap("list due actions", err)
	}
	var out []Action
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("list due actions", err)
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("list due actions", err)
	}
	// The worker now holds the current target of these rows; a change from
	// here on is one it has not seen.
	for _, a := range out {
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET changed = 0 WHERE id = ? AND changed = 1", a.ID); err != nil {
			return nil, wrap("list due actions", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("list due actions", err)
	}
	return out, nil
}

// NextDue returns the earliest NextAt in the outbox, and false when the
// outbox is empty, so the worker knows how long it may sleep.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT min(next_at) FROM outbox").Scan(&next); err != nil {
		return time.Time{}, false, wrap("find next due action", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next.Int64), true, nil
}

// Complete records that action id succeeded: in one transaction it deletes
// the row and writes m, the message as the CRM now has it, so a crash leaves
// either the queued action or its result, never neither and never both. m's
// state is stored as Pending while another action for the message is still
// queued. If the row's target was changed after Due handed it out, the row
// stays, to apply the new target. An unknown id is ErrNotFound and writes
// nothing. m.Key may be empty; otherwise it must be the action's key.
func (s *Store) Complete(ctx context.Context, id int64, m Message) error {
	return s.finish(ctx, "complete action", id, m)
}

// Fail gives action id up: in one transaction it deletes the row and stores
// m with state Failed (Pending while another action for the message is still
// queued) and m.Reason saying why. As with Complete, a row whose target was
// changed after Due handed it out stays for one more try.
func (s *Store) Fail(ctx context.Context, id int64, m Message) error {
	m.State = agent.Failed
	return s.finish(ctx, "fail action", id, m)
}

// finish is the shared body of Complete and Fail.
func (s *Store) finish(ctx context.Context, op string, id int64, m Message) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	var (
		key     string
		changed bool
	)
	err = tx.QueryRowContext(ctx, "SELECT key, changed FROM outbox WHERE id = ?", id).Scan(&key, &changed)
	if errors.Is(err, sql.ErrNoRows) {
		return wrap(op, ErrNotFound)
	}
	if err != nil {
		return wrap(op, err)
	}
	if m.Key == "" {
		m.Key = agent.MessageKey(key)
	}
	if string(m.Key) != key {
		return wrap(op, invalid("message key is not the action's key"))
	}
	r, err := s.row(m)
	if err != nil {
		return wrap(op, err)
	}
	if changed {
		// Let Due hand out the new target; the attempt that just ended
		// does not count against it.
		_, err = tx.ExecContext(ctx, "UPDATE outbox SET changed = 0, attempts = 0, last_error = 0 WHERE id = ?", id)
	} else {
		_, err = tx.ExecContext(ctx, "DELETE FROM outbox WHERE id = ?", id)
	}
	if err != nil {
		return wrap(op, err)
	}
	var others bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM outbox WHERE key = ?)", key).Scan(&others); err != nil {
		return wrap(op, err)
	}
	if others {
		r.state = int(agent.Pending)
	}
	if err := upsert(ctx, tx, r); err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op+": commit", err)
	}
	return nil
}

// Reschedule records a failed try of action id: attempts goes up by one,
// the action is not due before next, and errKind (a code, never text) is
// kept as LastError. An unknown id is ErrNotFound.
func (s *Store) Reschedule(ctx context.Context, id int64, next time.Time, errKind int) error {
	if err := checkCode("error kind", errKind); err != nil {
		return wrap("reschedule action", err)
	}
	if next.IsZero() {
		return wrap("reschedule action", invalid("next time is zero"))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
		ms(next), errKind, id)
	if err != nil {
		return wrap("reschedule action", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("reschedule action", err)
	} else if n == 0 {
		return wrap("reschedule action", ErrNotFound)
	}
	return nil
}

// Pending returns the number of queued actions, for the status line.
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil {
		return 0, wrap("count queued actions", err)
	}
	return n, nil
}

// Action returns the queued action id, and whether it is still queued.
func (s *Store) Action(ctx context.Context, id int64) (Action, bool, error) {
	a, err := scanAction(s.db.QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Action{}, false, nil
	}
	if err != nil {
		return Action{}, false, wrap("read action", err)
	}
	return a, true, nil
}
