package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed schema.sql
var schemaSQL string

// schemaVersion is bumped with every incompatible change to schema.sql.
const schemaVersion = 1

// Store is the SQLite database behind a Server. It is safe for concurrent
// use.
type Store struct {
	db *sql.DB // one connection: SQLite serialises writers anyway, and in-memory data lives in it
}

// Queryer is what reads and writes go through: *sql.DB or *sql.Tx.
type Queryer interface {
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

// File is the name of the store inside its data directory.
const File = "localcrm.db"

// Open opens (creating if needed) the store in dir, or an in-memory store
// when dir is empty.
func Open(dir string) (*Store, error) {
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
		path := filepath.Join(dir, File)
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
	st := &Store{db: db}
	if err := st.migrate(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := migrateMFA(context.Background(), db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return st, nil
}

func (st *Store) migrate() error {
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("localcrm: create schema: %w", err)
	}
	v, err := GetMeta(ctx, st.db, "schema_version")
	if err != nil {
		return err
	}
	switch v {
	case "":
		return SetMeta(ctx, st.db, "schema_version", strconv.Itoa(schemaVersion))
	case strconv.Itoa(schemaVersion):
		return nil
	}
	return fmt.Errorf("localcrm: the store has schema version %s, but this program knows only version %d; use a newer program or another data directory", v, schemaVersion)
}

// Close releases the database.
func (st *Store) Close() error {
	if err := st.db.Close(); err != nil {
		return fmt.Errorf("localcrm: close store: %w", err)
	}
	return nil
}

// txKey is the context key of an outer transaction (Begin).
type txKey struct{}

// txFrom returns the outer transaction of ctx, or nil.
func txFrom(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{}).(*sql.Tx)
	return tx
}

// Q returns what reads of a request go through: the outer transaction
// when ctx carries one, else the database. The store has a single
// connection, so a read on the database while a transaction holds it would
// wait for that transaction forever.
func (st *Store) Q(ctx context.Context) Queryer {
	if tx := txFrom(ctx); tx != nil {
		return tx
	}
	return st.db
}

// Begin starts a transaction that several requests share (a $batch
// change set): Q and Tx called with txCtx, or a context derived from it,
// use it, Tx in a savepoint of its own. Exactly one of commit and rollback
// ends it; rollback after commit does nothing, so it may be deferred. The
// store has a single connection: until the transaction ends, everything
// else waits.
func (st *Store) Begin(ctx context.Context) (txCtx context.Context, commit func() error, rollback func(), err error) {
	if txFrom(ctx) != nil {
		return nil, nil, nil, errors.New("localcrm: begin transaction: this context already carries one")
	}
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("localcrm: begin transaction: %w", err)
	}
	var once sync.Once
	commit = func() error {
		err := errors.New("localcrm: commit: the transaction has already ended")
		once.Do(func() {
			err = nil
			if cerr := tx.Commit(); cerr != nil {
				err = fmt.Errorf("localcrm: commit: %w", cerr)
			}
		})
		return err
	}
	rollback = func() {
		once.Do(func() { _ = tx.Rollback() })
	}
	return context.WithValue(ctx, txKey{}, tx), commit, rollback, nil
}

// Tx runs fn in one transaction, so a failed request leaves nothing behind.
// Inside an outer transaction (ctx from Begin) fn runs in a
// savepoint of it instead: a failure undoes only fn's own writes and
// leaves the outer transaction usable, for its owner to commit or roll back.
func (st *Store) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if outer := txFrom(ctx); outer != nil {
		return savepoint(ctx, outer, fn)
	}
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

// savepoint runs fn inside a savepoint of tx.
func savepoint(ctx context.Context, tx *sql.Tx, fn func(tx *sql.Tx) error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT localcrm_request`); err != nil {
		return fmt.Errorf("localcrm: savepoint: %w", err)
	}
	if err := fn(tx); err != nil {
		// Undo fn's writes even when the request's context is done: the
		// outer transaction must stay consistent for its rollback or commit.
		bg := context.WithoutCancel(ctx)
		if _, rerr := tx.ExecContext(bg, `ROLLBACK TO localcrm_request`); rerr == nil {
			_, _ = tx.ExecContext(bg, `RELEASE localcrm_request`)
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, `RELEASE localcrm_request`); err != nil {
		return fmt.Errorf("localcrm: release savepoint: %w", err)
	}
	return nil
}

// GetMeta reads a value of the meta table; "" when it is not set.
func GetMeta(ctx context.Context, q Queryer, key string) (string, error) {
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

// SetMeta writes a value of the meta table.
func SetMeta(ctx context.Context, q Queryer, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("localcrm: write %s: %w", key, err)
	}
	return nil
}

// NextVersion returns a new value of the store-wide row version counter.
// Row versions double as creation sequence numbers.
func NextVersion(ctx context.Context, q Queryer) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES ('version', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
		RETURNING CAST(value AS INTEGER)`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("localcrm: next version: %w", err)
	}
	return v, nil
}
