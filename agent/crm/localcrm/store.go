package localcrm

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed schema.sql
var schemaSQL string

// schemaVersion is bumped with every incompatible change to schema.sql.
const schemaVersion = 1

// StoreFile is the name of the store inside Options.DataDir.
const StoreFile = "localcrm.db"

// store is the SQLite database behind a Server.
type store struct {
	db *sql.DB // one connection: SQLite serialises writers anyway, and in-memory data lives in it
}

// queryer is satisfied by *sql.DB and *sql.Tx.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// driverName is SQLite with crm_lower, the lower-casing the query filters
// use (Unicode, as strings.ToLower), so that an index on an address finds
// exactly what a filter on it matches. SQLite's own lower() folds ASCII
// only: "ÅSA@example.se" would not be found as "åsa@example.se".
const driverName = "sqlite3_localcrm"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		return c.RegisterFunc("crm_lower", crmLower, true)
	}})
}

// crmLower lower-cases text; anything else (a missing column is NULL)
// has no address and yields NULL.
func crmLower(v any) any {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return nil
}

// openStore opens (creating if needed) the store in dir, or an in-memory
// store when dir is empty.
func openStore(dir string) (*store, error) {
	var dsn string
	if dir == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		// A private name keeps two in-memory servers in one process apart.
		dsn = "file:localcrm-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&_fk=1&_txlock=immediate&_stmt_cache_size=64"
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("localcrm: create data directory: %w", err)
		}
		path := filepath.Join(dir, StoreFile)
		// Create the file ourselves so it is private from the first byte;
		// SQLite gives its -wal and -shm files the same mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("localcrm: create store: %w", err)
		}
		_ = f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("localcrm: protect store: %w", err)
		}
		dsn = "file:" + path + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_fk=1&_txlock=immediate&_stmt_cache_size=64"
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("localcrm: open store: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	st := &store{db: db}
	if err := st.migrate(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return st, nil
}

func (st *store) migrate() error {
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("localcrm: create schema: %w", err)
	}
	v, err := getMeta(ctx, st.db, "schema_version")
	if err != nil {
		return err
	}
	switch v {
	case "":
		return setMeta(ctx, st.db, "schema_version", strconv.Itoa(schemaVersion))
	case strconv.Itoa(schemaVersion):
		return nil
	}
	return fmt.Errorf("localcrm: the store has schema version %s, but this program knows only version %d; use a newer program or another data directory", v, schemaVersion)
}

func (st *store) close() error {
	if err := st.db.Close(); err != nil {
		return fmt.Errorf("localcrm: close store: %w", err)
	}
	return nil
}

// tx runs fn in one transaction, so a failed request leaves nothing behind.
func (st *store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("localcrm: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("localcrm: commit: %w", err)
	}
	return nil
}

func getMeta(ctx context.Context, q queryer, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("localcrm: read %s: %w", key, err)
	}
	return v, nil
}

func setMeta(ctx context.Context, q queryer, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("localcrm: write %s: %w", key, err)
	}
	return nil
}

// nextVersion returns a new value of the store-wide row version counter.
// Row versions double as creation sequence numbers.
func nextVersion(ctx context.Context, q queryer) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES ('version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
		RETURNING CAST(value AS INTEGER)`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("localcrm: next version: %w", err)
	}
	return v, nil
}

// newGUID returns a random (version 4) GUID in lower case.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func formatGUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ref points at a record: its logical table name and id.
type ref struct {
	Table string `json:"t"`
	ID    string `json:"id"`
}

// record is one row of any table.
type record struct {
	set        string
	id         string
	seq        int64 // creation order, unique across the store
	version    int64 // bumped on every write
	createdOn  time.Time
	modifiedOn time.Time
	attrs      map[string]any  // plain columns: string, float64 or bool; absent = null
	lookups    map[string]*ref // by attribute name (ownerid, regardingobjectid, ...)
}

type recordData struct {
	A map[string]any  `json:"a"`
	L map[string]*ref `json:"l"`
}

func (r *record) owner() string {
	if o := r.lookups["ownerid"]; o != nil {
		return o.ID
	}
	return ""
}

func (r *record) str(col string) string {
	s, _ := r.attrs[col].(string)
	return s
}

func (r *record) messageID() any {
	if r.set != "emails" {
		return nil
	}
	if m := r.str("messageid"); m != "" {
		return m
	}
	return nil
}

const recordCols = `entityset, id, seq, version, createdon, modifiedon, data`

func scanRecord(sc interface{ Scan(...any) error }) (*record, error) {
	var (
		r                 record
		created, modified string
		data              string
	)
	if err := sc.Scan(&r.set, &r.id, &r.seq, &r.version, &created, &modified, &data); err != nil {
		return nil, err
	}
	var d recordData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("localcrm: decode record %s(%s): %w", r.set, r.id, err)
	}
	r.attrs, r.lookups = d.A, d.L
	if r.attrs == nil {
		r.attrs = map[string]any{}
	}
	if r.lookups == nil {
		r.lookups = map[string]*ref{}
	}
	r.createdOn, _ = time.Parse(time.RFC3339, created)
	r.modifiedOn, _ = time.Parse(time.RFC3339, modified)
	return &r, nil
}

// getRecord returns the record, or nil when it does not exist.
func getRecord(ctx context.Context, q queryer, set, id string) (*record, error) {
	row := q.QueryRowContext(ctx, `SELECT `+recordCols+` FROM records WHERE entityset = ? AND id = ?`, set, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read %s(%s): %w", set, id, err)
	}
	return r, nil
}

// listRecords returns every record of a set in creation order.
func listRecords(ctx context.Context, q queryer, set string) ([]*record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+recordCols+` FROM records WHERE entityset = ? ORDER BY seq`, set)
	if err != nil {
		return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("localcrm: list %s: %w", set, err)
	}
	return out, nil
}

// findByMessageID returns the emails whose messageid is m, oldest first.
// Case matters unless fold is set: duplicate detection compares bytes, an
// OData eq filter ignores (ASCII) case. Each way has its index.
func findByMessageID(ctx context.Context, q queryer, m string, fold bool) ([]*record, error) {
	query := `SELECT ` + recordCols + ` FROM records WHERE messageid = ? AND entityset = 'emails' ORDER BY seq`
	if fold {
		query = `SELECT ` + recordCols + ` FROM records WHERE messageid = ? COLLATE NOCASE AND entityset = 'emails' ORDER BY seq`
	}
	rows, err := q.QueryContext(ctx, query, m)
	if err != nil {
		return nil, fmt.Errorf("localcrm: find message id: %w", err)
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: find message id: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// findByAddress returns the records of the resolution tables (users,
// contacts, accounts, leads) that have addr, ignoring case, in any of
// their address columns, oldest first. One indexed query answers for all
// four tables: address resolution runs for every message decided.
func findByAddress(ctx context.Context, q queryer, addr string) ([]*record, error) {
	rows, err := q.QueryContext(ctx, addressQuery, addr)
	if err != nil {
		return nil, fmt.Errorf("localcrm: find address: %w", err)
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("localcrm: find address: %w", err)
		}
		if ent, ok := tables.set(r.set); ok && hasAddress(r, ent, addr) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// hasAddress reports whether r, a record of e, holds addr (lower case)
// in one of e's own address columns. The query searches the address
// columns of all four tables, and a column one table keeps an address in
// could hold something else in another.
func hasAddress(r *record, e *entity, addr string) bool {
	for _, c := range e.emailCols {
		if s, ok := r.attrs[c].(string); ok && strings.ToLower(s) == addr {
			return true
		}
	}
	return false
}

// addressQuery selects records by address through the address indexes of
// schema.sql; its expressions must match theirs exactly.
var addressQuery = func() string {
	seen := map[string]bool{}
	var terms []string
	for _, logical := range resolutionOrder {
		ent, _ := tables.logical(logical)
		for _, c := range ent.emailCols {
			if !seen[c] {
				seen[c] = true
				terms = append(terms, `crm_lower(json_extract(data, '$.a.`+c+`')) = ?1`)
			}
		}
	}
	return `SELECT ` + recordCols + ` FROM records WHERE ` + strings.Join(terms, " OR ") + ` ORDER BY seq`
}()

func encodeData(r *record) (string, error) {
	b, err := json.Marshal(recordData{A: r.attrs, L: r.lookups})
	if err != nil {
		return "", fmt.Errorf("localcrm: encode %s(%s): %w", r.set, r.id, err)
	}
	return string(b), nil
}

// insertRecord stores a new record; seq and version are assigned here.
func insertRecord(ctx context.Context, tx *sql.Tx, r *record) error {
	v, err := nextVersion(ctx, tx)
	if err != nil {
		return err
	}
	r.seq, r.version = v, v
	data, err := encodeData(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO records (entityset, id, seq, version, createdon, modifiedon, messageid, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.set, r.id, r.seq, r.version, formatTime(r.createdOn), formatTime(r.modifiedOn), r.messageID(), data)
	if err != nil {
		return fmt.Errorf("localcrm: insert %s(%s): %w", r.set, r.id, err)
	}
	return nil
}

// updateRecord writes r back with a new version.
func updateRecord(ctx context.Context, tx *sql.Tx, r *record) error {
	v, err := nextVersion(ctx, tx)
	if err != nil {
		return err
	}
	r.version = v
	data, err := encodeData(r)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE records SET version = ?, modifiedon = ?, messageid = ?, data = ?
		WHERE entityset = ? AND id = ?`,
		r.version, formatTime(r.modifiedOn), r.messageID(), data, r.set, r.id)
	if err != nil {
		return fmt.Errorf("localcrm: update %s(%s): %w", r.set, r.id, err)
	}
	return nil
}

// deleteRecord removes a record and, for emails, its parties.
func deleteRecord(ctx context.Context, tx *sql.Tx, set, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE entityset = ? AND id = ?`, set, id); err != nil {
		return fmt.Errorf("localcrm: delete %s(%s): %w", set, id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM parties WHERE activityid = ?`, id); err != nil {
		return fmt.Errorf("localcrm: delete parties of %s: %w", id, err)
	}
	return nil
}

// party is one sender or recipient of an email.
type party struct {
	id          string
	activityID  string
	seq         int
	mask        int // participationtypemask: 1 sender, 2 to, 3 cc, 4 bcc
	target      *ref
	addressUsed string
	unresolved  string
}

func listParties(ctx context.Context, q queryer, activityID string) ([]*party, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, activityid, seq, mask, party_table, party_id, addressused, unresolvedpartyname
		FROM parties WHERE activityid = ? ORDER BY seq`, activityID)
	if err != nil {
		return nil, fmt.Errorf("localcrm: list parties: %w", err)
	}
	defer rows.Close()
	var out []*party
	for rows.Next() {
		var p party
		var table, pid string
		if err := rows.Scan(&p.id, &p.activityID, &p.seq, &p.mask, &table, &pid, &p.addressUsed, &p.unresolved); err != nil {
			return nil, fmt.Errorf("localcrm: list parties: %w", err)
		}
		if pid != "" {
			p.target = &ref{Table: table, ID: pid}
		}
		out = append(out, &p)
	}
	return out, rows.Err()
}

// replaceParties sets an email's whole party list, as Dataverse treats
// party lists.
func replaceParties(ctx context.Context, tx *sql.Tx, activityID string, ps []*party) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM parties WHERE activityid = ?`, activityID); err != nil {
		return fmt.Errorf("localcrm: replace parties: %w", err)
	}
	for i, p := range ps {
		p.activityID, p.seq = activityID, i
		if p.id == "" {
			p.id = newGUID()
		}
		table, pid := "", ""
		if p.target != nil {
			table, pid = p.target.Table, p.target.ID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO parties (id, activityid, seq, mask, party_table, party_id, addressused, unresolvedpartyname)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.id, activityID, i, p.mask, table, pid, p.addressUsed, p.unresolved)
		if err != nil {
			return fmt.Errorf("localcrm: insert party: %w", err)
		}
	}
	return nil
}
