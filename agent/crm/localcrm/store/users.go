package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Security roles. Salesperson holds prvSyncToOutlook; Sales Viewer is the
// same without it, for users who may use the CRM but not sync mail, and
// reads activities without creating, changing or sending them.
const (
	RoleSalesperson = "Salesperson"
	RoleSalesViewer = "Sales Viewer"
	// RoleSystemAdministrator holds every privilege of Salesperson and,
	// as in Dataverse, full access to secured columns.
	RoleSystemAdministrator = "System Administrator"
)

// User is a sign-in: a row of the users table. Its ID is also the id of
// the user's systemuser record.
type User struct {
	ID         string
	Email      string
	Salt, Hash []byte // PBKDF2-HMAC-SHA256 of the password
	Iterations int
	Role       string
	Disabled   bool
}

const userCols = `id, email, salt, hash, iterations, role, disabled`

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	var u User
	var disabled int
	if err := sc.Scan(&u.ID, &u.Email, &u.Salt, &u.Hash, &u.Iterations, &u.Role, &disabled); err != nil {
		return nil, err
	}
	u.Disabled = disabled != 0
	return &u, nil
}

// UserByEmail returns the user with this address (any case), or nil.
func UserByEmail(ctx context.Context, q Queryer, email string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with this id, or nil.
func UserByID(ctx context.Context, q Queryer, id string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read user: %w", err)
	}
	return u, nil
}

// InsertUser adds a sign-in. The caller checks that the address is free.
func InsertUser(ctx context.Context, q Queryer, u *User) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Salt, u.Hash, u.Iterations, u.Role, u.Disabled); err != nil {
		return fmt.Errorf("localcrm: add user: %w", err)
	}
	return nil
}

// SetUserRole changes a user's security role.
func SetUserRole(ctx context.Context, q Queryer, id, role string) error {
	if _, err := q.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id); err != nil {
		return fmt.Errorf("localcrm: set role: %w", err)
	}
	return nil
}

// migrateMFA adds the users.require_mfa column to stores created before it
// existed; new stores get it the same way, so there is one schema path.
func migrateMFA(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('users')`)
	if err != nil {
		return fmt.Errorf("localcrm: read users schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("localcrm: read users schema: %w", err)
		}
		if name == "require_mfa" {
			return rows.Err()
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("localcrm: read users schema: %w", err)
	}
	rows.Close()
	if _, err := db.ExecContext(ctx, `ALTER TABLE users ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0`); err != nil {
		return fmt.Errorf("localcrm: add users.require_mfa: %w", err)
	}
	return nil
}
