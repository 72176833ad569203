package idp

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

func hashPassword(pw string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(sha256.New, pw, salt, iterations, 32)
}

// checkPassword compares in constant time.
func checkPassword(u *store.User, pw string) bool {
	h, err := hashPassword(pw, u.Salt, u.Iterations)
	return err == nil && subtle.ConstantTimeCompare(h, u.Hash) == 1
}

// AddUser inserts a sign-in and its systemuser record in tx, with the
// role (store.RoleSalesperson or store.RoleSalesViewer); id "" picks a new
// one. It returns the systemuserid.
func (s *Provider) AddUser(ctx context.Context, tx *sql.Tx, id, email, password, fullname, role string) (string, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return "", fmt.Errorf("localcrm: add user: %q is not a plain email address", email)
	}
	if password == "" {
		return "", errors.New("localcrm: add user: the password is empty")
	}
	existing, err := store.UserByEmail(ctx, tx, email)
	if err != nil {
		return "", err
	}
	if existing != nil {
		return "", fmt.Errorf("localcrm: add user %s: %w", email, ErrUserExists)
	}
	if id == "" {
		id = wire.NewGUID()
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	hash, err := hashPassword(password, salt, s.opts.PasswordIterations)
	if err != nil {
		return "", fmt.Errorf("localcrm: add user: hash password: %w", err)
	}
	u := &store.User{ID: id, Email: email, Salt: salt, Hash: hash, Iterations: s.opts.PasswordIterations, Role: role}
	if err := store.InsertUser(ctx, tx, u); err != nil {
		return "", err
	}
	first, last, _ := strings.Cut(fullname, " ")
	now := s.now()
	rec := &store.Record{
		Set: "systemusers", ID: id, CreatedOn: now, ModifiedOn: now,
		Attrs: map[string]any{
			"fullname": fullname, "firstname": first, "lastname": last,
			"internalemailaddress": email, "domainname": email, "isdisabled": false,
		},
		Lookups: map[string]*store.Ref{"businessunitid": {Table: "businessunit", ID: s.opts.BusinessUnitID}},
	}
	if err := store.InsertRecord(ctx, tx, rec); err != nil {
		return "", err
	}
	return id, nil
}

// UserID returns the systemuserid of the user with this email address.
func (s *Provider) UserID(email string) (string, error) {
	ctx := context.Background()
	u, err := store.UserByEmail(ctx, s.st.Q(ctx), email)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", fmt.Errorf("localcrm: user %s: %w", email, ErrNoUser)
	}
	return u.ID, nil
}

// SetPassword changes a user's password, as an administrator would on the
// server. Like Entra ID, it revokes the user's refresh tokens; access
// tokens already issued stay valid until they expire.
func (s *Provider) SetPassword(email, password string) error {
	if password == "" {
		return errors.New("localcrm: set password: the password is empty")
	}
	ctx := context.Background()
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		u, err := store.UserByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("localcrm: set password for %s: %w", email, ErrNoUser)
		}
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		hash, err := hashPassword(password, salt, s.opts.PasswordIterations)
		if err != nil {
			return fmt.Errorf("localcrm: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET salt = ?, hash = ?, iterations = ? WHERE id = ?`,
			salt, hash, s.opts.PasswordIterations, u.ID); err != nil {
			return fmt.Errorf("localcrm: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND kind = 'refresh'`, u.ID); err != nil {
			return fmt.Errorf("localcrm: set password: revoke tokens: %w", err)
		}
		return nil
	})
}

// RevokeTokens ends every session of the user: access and refresh tokens
// of every sign-in flow stop working at once, so the next request gets
// 401, and authorization and device codes not yet redeemed are dropped.
func (s *Provider) RevokeTokens(email string) error {
	ctx := context.Background()
	u, err := store.UserByEmail(ctx, s.st.Q(ctx), email)
	if err != nil {
		return err
	}
	if u == nil {
		return fmt.Errorf("localcrm: revoke tokens of %s: %w", email, ErrNoUser)
	}
	// Codes not yet redeemed go first, so none of them becomes a token
	// after the tokens are gone.
	s.flows.forgetUser(u.ID)
	if _, err := s.st.Q(ctx).ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, u.ID); err != nil {
		return fmt.Errorf("localcrm: revoke tokens: %w", err)
	}
	return nil
}

// SetUserDisabled disables or enables a user. A disabled user cannot sign
// in, existing tokens stop working, and the user no longer matches
// addresses of incoming mail.
func (s *Provider) SetUserDisabled(email string, disabled bool) error {
	ctx := context.Background()
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		u, err := store.UserByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("localcrm: disable %s: %w", email, ErrNoUser)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, u.ID); err != nil {
			return fmt.Errorf("localcrm: disable user: %w", err)
		}
		rec, err := store.GetRecord(ctx, tx, "systemusers", u.ID)
		if err != nil || rec == nil {
			return err
		}
		rec.Attrs["isdisabled"] = disabled
		rec.ModifiedOn = s.now()
		return store.UpdateRecord(ctx, tx, rec)
	})
}

// Tokens.

// newToken returns a random opaque token and the hash under which it is
// stored; the token itself never reaches the store or the logs.
func newToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Authenticate checks the bearer token of a Web API request and returns
// its user; a refusal is a *wire.Error, 401 with the challenge.
func (s *Provider) Authenticate(ctx context.Context, r *http.Request, origin string) (*store.User, error) {
	challenge := s.challenge(origin)
	authz := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if authz == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		e := wire.Errf(http.StatusUnauthorized, wire.CodeUnauthorized,
			"The request has no bearer token. Sign in at %s and send 'Authorization: Bearer <access_token>'.", s.tokenEndpointURL(origin))
		e.Header = http.Header{"WWW-Authenticate": {challenge}}
		return nil, e
	}
	invalid := func(msg string) error {
		e := wire.Errf(http.StatusUnauthorized, wire.CodeUnauthorized, "%s", msg)
		e.Header = http.Header{"WWW-Authenticate": {challenge + `, error="invalid_token"`}}
		return e
	}
	var userID string
	var expires int64
	err := s.st.Q(ctx).QueryRowContext(ctx, `SELECT user_id, expires FROM tokens WHERE hash = ? AND kind = 'access'`,
		tokenHash(token)).Scan(&userID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invalid("The access token is not valid; sign in again.")
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: check token: %w", err)
	}
	if s.now().UnixNano() >= expires {
		return nil, invalid("The access token has expired; refresh it or sign in again.")
	}
	u, err := store.UserByID(ctx, s.st.Q(ctx), userID)
	if err != nil {
		return nil, err
	}
	if u == nil || u.Disabled {
		return nil, invalid("The user of this access token is disabled or no longer exists.")
	}
	return u, nil
}
