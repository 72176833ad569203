package localcrm

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
)

// Security roles. Salesperson holds prvSyncToOutlook; Sales Viewer is the
// same without it, for users who may use the CRM but not sync mail.
const (
	RoleSalesperson = "Salesperson"
	RoleSalesViewer = "Sales Viewer"
)

// user is a sign-in: a row of the users table. Its id is also the id of
// the user's systemuser record.
type user struct {
	id         string
	email      string
	salt, hash []byte
	iterations int
	role       string
	disabled   bool
}

func scanUser(sc interface{ Scan(...any) error }) (*user, error) {
	var u user
	var disabled int
	if err := sc.Scan(&u.id, &u.email, &u.salt, &u.hash, &u.iterations, &u.role, &disabled); err != nil {
		return nil, err
	}
	u.disabled = disabled != 0
	return &u, nil
}

const userCols = `id, email, salt, hash, iterations, role, disabled`

func getUserByEmail(ctx context.Context, q queryer, email string) (*user, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read user: %w", err)
	}
	return u, nil
}

func getUserByID(ctx context.Context, q queryer, id string) (*user, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localcrm: read user: %w", err)
	}
	return u, nil
}

func hashPassword(pw string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(sha256.New, pw, salt, iterations, 32)
}

// checkPassword compares in constant time.
func (u *user) checkPassword(pw string) bool {
	h, err := hashPassword(pw, u.salt, u.iterations)
	return err == nil && subtle.ConstantTimeCompare(h, u.hash) == 1
}

// AddUser creates a user who can sign in, with a systemuser record. canSync
// picks the Salesperson role (with prvSyncToOutlook) or Sales Viewer
// (without). It returns the systemuserid.
func (s *Server) AddUser(email, password, fullname string, canSync bool) (string, error) {
	role := RoleSalesViewer
	if canSync {
		role = RoleSalesperson
	}
	var id string
	err := s.st.tx(context.Background(), func(tx *sql.Tx) error {
		var err error
		id, err = s.addUser(context.Background(), tx, "", email, password, fullname, role)
		return err
	})
	return id, err
}

// addUser inserts the login and the systemuser record; id "" picks a new one.
func (s *Server) addUser(ctx context.Context, tx *sql.Tx, id, email, password, fullname, role string) (string, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return "", fmt.Errorf("localcrm: add user: %q is not a plain email address", email)
	}
	if password == "" {
		return "", errors.New("localcrm: add user: the password is empty")
	}
	existing, err := getUserByEmail(ctx, tx, email)
	if err != nil {
		return "", err
	}
	if existing != nil {
		return "", fmt.Errorf("localcrm: add user %s: %w", email, ErrUserExists)
	}
	if id == "" {
		id = newGUID()
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	hash, err := hashPassword(password, salt, s.opts.PasswordIterations)
	if err != nil {
		return "", fmt.Errorf("localcrm: add user: hash password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, 0)`,
		id, email, salt, hash, s.opts.PasswordIterations, role); err != nil {
		return "", fmt.Errorf("localcrm: add user: %w", err)
	}
	first, last, _ := strings.Cut(fullname, " ")
	now := s.now()
	rec := &record{
		set: "systemusers", id: id, createdOn: now, modifiedOn: now,
		attrs: map[string]any{
			"fullname": fullname, "firstname": first, "lastname": last,
			"internalemailaddress": email, "domainname": email, "isdisabled": false,
		},
		lookups: map[string]*ref{"businessunitid": {Table: "businessunit", ID: s.org.buID}},
	}
	if err := insertRecord(ctx, tx, rec); err != nil {
		return "", err
	}
	return id, nil
}

// UserID returns the systemuserid of the user with this email address.
func (s *Server) UserID(email string) (string, error) {
	u, err := getUserByEmail(context.Background(), s.st.db, email)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", fmt.Errorf("localcrm: user %s: %w", email, ErrNoUser)
	}
	return u.id, nil
}

// SetPassword changes a user's password, as an administrator would on the
// server. Like Entra ID, it revokes the user's refresh tokens; access
// tokens already issued stay valid until they expire.
func (s *Server) SetPassword(email, password string) error {
	if password == "" {
		return errors.New("localcrm: set password: the password is empty")
	}
	ctx := context.Background()
	return s.st.tx(ctx, func(tx *sql.Tx) error {
		u, err := getUserByEmail(ctx, tx, email)
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
			salt, hash, s.opts.PasswordIterations, u.id); err != nil {
			return fmt.Errorf("localcrm: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND kind = 'refresh'`, u.id); err != nil {
			return fmt.Errorf("localcrm: set password: revoke tokens: %w", err)
		}
		return nil
	})
}

// RevokeTokens ends every session of the user: access and refresh tokens
// of every sign-in flow stop working at once, so the next request gets
// 401, and authorization and device codes not yet redeemed are dropped.
func (s *Server) RevokeTokens(email string) error {
	ctx := context.Background()
	u, err := getUserByEmail(ctx, s.st.db, email)
	if err != nil {
		return err
	}
	if u == nil {
		return fmt.Errorf("localcrm: revoke tokens of %s: %w", email, ErrNoUser)
	}
	// Codes not yet redeemed go first, so none of them becomes a token
	// after the tokens are gone.
	s.flows.forgetUser(u.id)
	if _, err := s.st.db.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, u.id); err != nil {
		return fmt.Errorf("localcrm: revoke tokens: %w", err)
	}
	return nil
}

// SetUserDisabled disables or enables a user. A disabled user cannot sign
// in, existing tokens stop working, and the user no longer matches
// addresses of incoming mail.
func (s *Server) SetUserDisabled(email string, disabled bool) error {
	ctx := context.Background()
	return s.st.tx(ctx, func(tx *sql.Tx) error {
		u, err := getUserByEmail(ctx, tx, email)
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("localcrm: disable %s: %w", email, ErrNoUser)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, u.id); err != nil {
			return fmt.Errorf("localcrm: disable user: %w", err)
		}
		rec, err := getRecord(ctx, tx, "systemusers", u.id)
		if err != nil || rec == nil {
			return err
		}
		rec.attrs["isdisabled"] = disabled
		rec.modifiedOn = s.now()
		return updateRecord(ctx, tx, rec)
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

// authenticate checks the bearer token of a Web API request.
func (s *Server) authenticate(ctx context.Context, r *http.Request, origin string) (*user, error) {
	challenge := s.challenge(origin)
	authz := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if authz == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		e := errf(http.StatusUnauthorized, codeUnauthorized,
			"The request has no bearer token. Sign in at %s and send 'Authorization: Bearer <access_token>'.", s.tokenEndpointURL(origin))
		e.header = http.Header{"WWW-Authenticate": {challenge}}
		return nil, e
	}
	invalid := func(msg string) error {
		e := errf(http.StatusUnauthorized, codeUnauthorized, "%s", msg)
		e.header = http.Header{"WWW-Authenticate": {challenge + `, error="invalid_token"`}}
		return e
	}
	var userID string
	var expires int64
	err := s.st.db.QueryRowContext(ctx, `SELECT user_id, expires FROM tokens WHERE hash = ? AND kind = 'access'`,
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
	u, err := getUserByID(ctx, s.st.db, userID)
	if err != nil {
		return nil, err
	}
	if u == nil || u.disabled {
		return nil, invalid("The user of this access token is disabled or no longer exists.")
	}
	return u, nil
}
