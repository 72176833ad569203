package cache

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"crmsync/agent"
)

// Message is what the cache knows about one message: IDs, codes and times,
// never content. The display data (sender, subject) is re-read from the
// Maildir when needed.
type Message struct {
	Key        agent.MessageKey // Maildir unique name; identifies the row
	Folder     string           // Maildir++ folder: "" for the inbox, or ".Sent" and the like
	MsgIDHash  []byte           // Store.HashMessageID of the Message-ID: nil or HashSize bytes
	State      agent.TrackState // where the message stands; Pending while an action is queued
	Reason     int              // decision or failure code, 0..MaxCode; the text is rebuilt from it
	ActivityID string           // the CRM email activity GUID, or "" when not tracked
	Regarding  *agent.RecordRef // Entity and ID only: Name is dropped on write and empty on read
	OwnedByMe  bool             // the signed-in user owns the CRM copy (so Untrack may delete it)
	ReceivedAt time.Time        // stored to the millisecond
	UpdatedAt  time.Time        // stored to the millisecond; PutMessage uses now when zero
}

// msgRow is a Message checked and reduced to its column values.
type msgRow struct {
	key, folder                string
	hash                       []byte
	state, reason              int
	activity, entity, regardID string
	owned                      bool
	received, updated          int64
}

// row validates m and converts it to column values.
func (s *Store) row(m Message) (msgRow, error) {
	if err := checkKey(m.Key); err != nil {
		return msgRow{}, err
	}
	if err := checkFolder(m.Folder); err != nil {
		return msgRow{}, err
	}
	if m.MsgIDHash != nil {
		if err := checkHash(m.MsgIDHash); err != nil {
			return msgRow{}, err
		}
	}
	if m.State < agent.Untracked || m.State > agent.Failed {
		return msgRow{}, invalid("track state is out of range")
	}
	if err := checkCode("reason", m.Reason); err != nil {
		return msgRow{}, err
	}
	act, err := normGUID("activity ID", m.ActivityID)
	if err != nil {
		return msgRow{}, err
	}
	ent, rid, err := normRef(m.Regarding)
	if err != nil {
		return msgRow{}, err
	}
	upd := m.UpdatedAt
	if upd.IsZero() {
		upd = s.now()
	}
	return msgRow{
		key: string(m.Key), folder: m.Folder, hash: m.MsgIDHash,
		state: int(m.State), reason: m.Reason,
		activity: act, entity: ent, regardID: rid, owned: m.OwnedByMe,
		received: ms(m.ReceivedAt), updated: ms(upd),
	}, nil
}

// execer is what both *sql.DB and *sql.Tx offer for writing.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertSQL adds a message row; upsertSQL also replaces an existing one.
const (
	insertSQL = `INSERT INTO messages
		(key, folder, msgid_hash, state, reason, activity_id, regarding_entity, regarding_id, owned_by_me, received_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	upsertSQL = insertSQL + `
		ON CONFLICT (key) DO UPDATE SET
			folder = excluded.folder, msgid_hash = excluded.msgid_hash, state = excluded.state,
			reason = excluded.reason, activity_id = excluded.activity_id,
			regarding_entity = excluded.regarding_entity, regarding_id = excluded.regarding_id,
			owned_by_me = excluded.owned_by_me, received_at = excluded.received_at,
			updated_at = excluded.updated_at`
)

func (r msgRow) args() []any {
	return r.appendArgs(make([]any, 0, msgCols))
}

// appendArgs appends r's column values, in insertSQL's order, to args.
func (r msgRow) appendArgs(args []any) []any {
	return append(args, r.key, r.folder, r.hash, r.state, r.reason, r.activity, r.entity, r.regardID, r.owned, r.received, r.updated)
}

// msgCols is the number of columns insertSQL writes.
const msgCols = 11

// insertRows is how many rows multiInsertSQL writes: one statement for
// many rows costs far less per row than one each.
const insertRows = 64

// multiInsertSQL adds insertRows message rows, leaving alone those whose
// key has a row already.
var multiInsertSQL = insertSQL + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", insertRows-1) +
	" ON CONFLICT (key) DO NOTHING"

// upsert writes r, replacing every column of an existing row.
func upsert(ctx context.Context, x execer, r msgRow) error {
	_, err := x.ExecContext(ctx, upsertSQL, r.args()...)
	return err
}

// msgColumns is the column list scanMessage expects.
const msgColumns = `key, folder, msgid_hash, state, reason, activity_id, regarding_entity, regarding_id, owned_by_me, received_at, updated_at`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanMessage reads one row selected with msgColumns.
func scanMessage(sc scanner) (Message, error) {
	var (
		m                 Message
		key, ent, rid     string
		state             int
		received, updated int64
	)
	if err := sc.Scan(&key, &m.Folder, &m.MsgIDHash, &state, &m.Reason, &m.ActivityID, &ent, &rid,
		&m.OwnedByMe, &received, &updated); err != nil {
		return Message{}, err
	}
	m.Key = agent.MessageKey(key)
	m.State = agent.TrackState(state)
	m.Regarding = refFrom(ent, rid)
	m.ReceivedAt, m.UpdatedAt = fromMS(received), fromMS(updated)
	return m, nil
}

// PutMessage inserts or replaces the row for m.Key. Values that are not IDs
// of the expected shape are refused with ErrInvalid; GUIDs are stored in
// lower case. It writes m as given, so a caller holding a stale copy while
// an action is queued should not put it back.
func (s *Store) PutMessage(ctx context.Context, m Message) error {
	r, err := s.row(m)
	if err != nil {
		return wrap("put message", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := upsert(ctx, s.db, r); err != nil {
		return wrap("put message", err)
	}
	return nil
}

// PutMessages writes many rows in one transaction: one sync for a whole
// batch, which is what lets a large Maildir be decided at scan speed.
// Rows whose key already has a row are left alone when keepExisting is
// set (their keys are returned), so a batch of automatic decisions never
// overwrites a user's action.
func (s *Store) PutMessages(ctx context.Context, ms []Message, keepExisting bool) (kept []agent.MessageKey, err error) {
	rows := make([]msgRow, len(ms))
	for i, m := range ms {
		r, err := s.row(m)
		if err != nil {
			return nil, wrap("put messages", err)
		}
		rows[i] = r
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("put messages", err)
	}
	defer tx.Rollback()
	query := upsertSQL
	if keepExisting {
		query = insertSQL + " ON CONFLICT (key) DO NOTHING"
	}
	// One statement prepared for the whole batch: preparing per row cost
	// more than the inserts themselves.
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, wrap("put messages", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		res, err := stmt.ExecContext(ctx, r.args()...)
		if err != nil {
			return nil, wrap("put messages", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			kept = append(kept, agent.MessageKey(r.key))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("put messages: commit", err)
	}
	return kept, nil
}

// Message returns the row for key, and whether there is one.
func (s *Store) Message(ctx context.Context, key agent.MessageKey) (Message, bool, error) {
	if err := checkKey(key); err != nil {
		return Message{}, false, wrap("read message", err)
	}
	return oneMessage("read message", s.byKey.QueryRowContext(ctx, string(key)))
}

// MessageByHash returns a message with the given Message-ID hash, and
// whether there is one. The same message can sit in two folders (a copy in
// Sent and in the inbox); a tracked copy is preferred, then the most
// recently updated.
func (s *Store) MessageByHash(ctx context.Context, hash []byte) (Message, bool, error) {
	if err := checkHash(hash); err != nil {
		return Message{}, false, wrap("find message by hash", err)
	}
	row := s.db.QueryRowContext(ctx, "SELECT "+msgColumns+` FROM messages WHERE msgid_hash = ?
		ORDER BY state = ? DESC, activity_id <> '' DESC, updated_at DESC, key LIMIT 1`, hash, int(agent.Tracked))
	return oneMessage("find message by hash", row)
}

// oneMessage turns "no row" into a false found rather than an error.
func oneMessage(op string, row *sql.Row) (Message, bool, error) {
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, wrap(op, err)
	}
	return m, true, nil
}

// hashChunk keeps IN lists well below SQLite's limit on bound parameters.
const hashChunk = 200

// AnyTracked reports whether any of the hashes (of In-Reply-To and
// References entries) belongs to a tracked message, so a reply can be
// tracked without asking the CRM. A message counts while its Track is
// queued, or while it has an activity and no Untrack is queued.
func (s *Store) AnyTracked(ctx context.Context, hashes [][]byte) (bool, error) {
	for len(hashes) > 0 {
		n := min(len(hashes), hashChunk)
		chunk := hashes[:n]
		hashes = hashes[n:]
		args := make([]any, 0, n+4)
		for _, h := range chunk {
			if err := checkHash(h); err != nil {
				return false, wrap("find tracked replies", err)
			}
			args = append(args, h)
		}
		args = append(args, int(agent.Tracked), int(agent.Pending), int(ActionTrack), int(ActionUntrack))
		q := `SELECT EXISTS (SELECT 1 FROM messages m
			WHERE m.msgid_hash IN (?` + strings.Repeat(", ?", n-1) + `)
			AND (m.state = ? OR (m.state = ? AND
				(m.activity_id <> '' OR EXISTS (SELECT 1 FROM outbox o WHERE o.key = m.key AND o.action = ?))
				AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = m.key AND o.action = ?))))`
		var found bool
		if err := s.db.QueryRowContext(ctx, q, args...).Scan(&found); err != nil {
			return false, wrap("find tracked replies", err)
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

// RecentMessages returns up to limit messages, the most recently received
// first.
func (s *Store) RecentMessages(ctx context.Context, limit int) ([]Message, error) {
	if limit <= 0 {
		return nil, wrap("list recent messages", invalid("limit must be positive"))
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+msgColumns+
		" FROM messages ORDER BY received_at DESC, key DESC LIMIT ?", limit)
	if err != nil {
		return nil, wrap("list recent messages", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, wrap("list recent messages", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list recent messages", err)
	}
	return out, nil
}

// TrackedActivityIDs returns every CRM activity ID the cache links to a
// message, once each, so the periodic sync can find copies deleted in the
// CRM.
func (s *Store) TrackedActivityIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT DISTINCT activity_id FROM messages WHERE activity_id <> '' ORDER BY activity_id")
	if err != nil {
		return nil, wrap("list activity IDs", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("list activity IDs", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list activity IDs", err)
	}
	return out, nil
}

// ForgetActivity unlinks every message from activityID after its CRM copy
// was deleted elsewhere: the state goes back to Untracked (Pending if an
// action is still queued), the reason becomes reason (the caller's code
// for "deleted in the CRM"), and the activity, regarding and owner are
// cleared. It returns the keys of the messages unlinked. An unknown
// activity is not an error.
func (s *Store) ForgetActivity(ctx context.Context, activityID string, reason int) ([]agent.MessageKey, error) {
	id, err := normGUID("activity ID", activityID)
	if err != nil || id == "" {
		return nil, wrap("forget activity", invalid("activity ID is not a GUID"))
	}
	if err := checkCode("reason", reason); err != nil {
		return nil, wrap("forget activity", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	rows, err := s.db.QueryContext(ctx, `UPDATE messages SET
			state = CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.key = messages.key) THEN ? ELSE ? END,
			reason = ?, activity_id = '', regarding_entity = '', regarding_id = '', owned_by_me = 0, updated_at = ?
		WHERE activity_id = ? RETURNING key`, int(agent.Pending), int(agent.Untracked), reason, ms(s.now()), id)
	if err != nil {
		return nil, wrap("forget activity", err)
	}
	defer rows.Close()
	var keys []agent.MessageKey
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, wrap("forget activity", err)
		}
		keys = append(keys, agent.MessageKey(k))
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("forget activity", err)
	}
	return keys, nil
}

// DeleteMessage removes the row for key, for a message gone from the
// Maildir. Queued actions for it stay: an Untrack must still reach the CRM.
func (s *Store) DeleteMessage(ctx context.Context, key agent.MessageKey) error {
	if err := checkKey(key); err != nil {
		return wrap("delete message", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, err := s.db.ExecContext(ctx, "DELETE FROM messages WHERE key = ?", string(key)); err != nil {
		return wrap("delete message", err)
	}
	return nil
}

// CountByState returns how many messages are in each state; states with no
// messages are absent.
func (s *Store) CountByState(ctx context.Context) (map[agent.TrackState]int, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT state, count(*) FROM messages GROUP BY state")
	if err != nil {
		return nil, wrap("count messages", err)
	}
	defer rows.Close()
	out := make(map[agent.TrackState]int)
	for rows.Next() {
		var st, n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrap("count messages", err)
		}
		out[agent.TrackState(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("count messages", err)
	}
	return out, nil
}
