package localcrm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Multi-factor authentication is a flag on the user: such a user cannot
// get a token with a password alone (the password grant answers
// AADSTS50076), but may sign in on the interactive pages, which stand for
// the second factor.

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

// requiresMFA reports whether the user must use a second factor.
func (s *Server) requiresMFA(ctx context.Context, userID string) (bool, error) {
	var on int
	err := s.st.db.QueryRowContext(ctx, `SELECT require_mfa FROM users WHERE id = ?`, userID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("localcrm: read MFA setting: %w", err)
	}
	return on != 0, nil
}

// SetRequireMFA marks a user as having to use multi-factor authentication,
// or clears the mark. Tokens already issued stay valid, as with Entra ID.
func (s *Server) SetRequireMFA(email string, on bool) error {
	ctx := context.Background()
	res, err := s.st.db.ExecContext(ctx, `UPDATE users SET require_mfa = ? WHERE email = ?`, on, email)
	if err != nil {
		return fmt.Errorf("localcrm: set MFA for %s: %w", email, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("localcrm: set MFA for %s: %w", email, ErrNoUser)
	}
	return nil
}
