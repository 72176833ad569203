package cache

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// schemaFS holds the numbered migrations, 0001_init.sql first. A file, once
// released, is never edited: a change to the schema is a new file.
//
//go:embed schema/*.sql
var schemaFS embed.FS

// migration is one numbered schema step.
type migration struct {
	version int    // from the file name; the user_version after this step
	name    string // file name, for messages
	sql     string
}

// migrations returns the embedded steps in order, checking that they are
// numbered 1, 2, 3 ... without gaps, so user_version always names exactly
// the steps applied.
func migrations() ([]migration, error) {
	names, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("schema file %s is not named NNNN_name.sql", base)
		}
		body, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("schema file %s: expected version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this build writes: the number of the
// last embedded migration.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies the steps the database has not seen, all in one
// transaction together with the new user_version, so a crash leaves the
// schema either as it was or fully current. It returns the versions before
// and after.
func migrate(ctx context.Context, db *sql.DB) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	latest := ms[len(ms)-1].version

	from, err = userVersion(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if err := checkNotNewer(from, latest); err != nil {
		return from, from, err
	}
	if from == latest {
		return from, from, nil
	}

	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: another process may race us
	if err != nil {
		return from, from, classify("begin", err)
	}
	defer tx.Rollback()
	// Read again under the write lock: another process may have migrated.
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return from, from, classify("read schema version", err)
	}
	if err := checkNotNewer(cur, latest); err != nil {
		return from, cur, err
	}
	for _, m := range ms[cur:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return from, cur, classify("apply "+m.name, err)
		}
	}
	// PRAGMA takes no parameters; latest is an int from our own file names.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", latest)); err != nil {
		return from, cur, classify("set schema version", err)
	}
	if err := tx.Commit(); err != nil {
		return from, cur, classify("commit migration", err)
	}
	return from, latest, nil
}

// userVersion reads the number of migrations applied to the file.
func userVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, classify("read schema version", err)
	}
	return v, nil
}

// checkNotNewer refuses a file from a newer build: writing to it could undo
// what that build relies on.
func checkNotNewer(have, latest int) error {
	if have > latest {
		return fmt.Errorf("%w: the file has schema version %d and this crmsync knows versions up to %d; "+
			"update crmsync, or move the file away to start a fresh cache (tracked messages are re-learned from the CRM)",
			ErrNewerSchema, have, latest)
	}
	return nil
}
