package idp

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

// requiresMFA reports whether the user must use a second factor.
func (s *Provider) requiresMFA(ctx context.Context, userID string) (bool, error) {
	var on int
	err := s.st.Q(ctx).QueryRowContext(ctx, `SELECT require_mfa FROM users WHERE id = ?`, userID).Scan(&on)
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
func (s *Provider) SetRequireMFA(email string, on bool) error {
	ctx := context.Background()
	res, err := s.st.Q(ctx).ExecContext(ctx, `UPDATE users SET require_mfa = ? WHERE email = ?`, on, email)
	if err != nil {
		return fmt.Errorf("localcrm: set MFA for %s: %w", email, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("localcrm: set MFA for %s: %w", email, ErrNoUser)
	}
	return nil
}
