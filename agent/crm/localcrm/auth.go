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
	"strconv"
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
// stop working at once, so the next request gets 401.
func (s *Server) RevokeTokens(email string) error {
	ctx := context.Background()
	u, err := getUserByEmail(ctx, s.st.db, email)
	if err != nil {
		return err
	}
	if u == nil {
		return fmt.Errorf("localcrm: revoke tokens of %s: %w", email, ErrNoUser)
	}
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
	challenge := "Bearer authorization_uri=" + origin + "/oauth2/v2.0/authorize, resource_id=" + origin + "/"
	authz := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	if authz == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		e := errf(http.StatusUnauthorized, codeUnauthorized,
			"The request has no bearer token. Sign in at %s/oauth2/v2.0/token and send 'Authorization: Bearer <access_token>'.", origin)
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

// writeOAuthError answers a token request in the RFC 6749 §5.2 shape.
func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	body, _ := marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// handleToken is the OAuth 2.0 token endpoint: the password (ROPC) and
// refresh_token grants, as Entra ID answers them.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint only accepts POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body must be application/x-www-form-urlencoded.")
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok && clientID == "" {
		clientID = id // client authentication in the header (RFC 6749 §2.3.1)
	}
	grant := f.Get("grant_type")
	ctx := r.Context()
	switch grant {
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the parameter 'grant_type'.")
		return
	case "password", "refresh_token":
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type",
			"The grant type '"+grant+"' is not supported; use password or refresh_token.")
		return
	}
	if clientID == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the parameter 'client_id'.")
		return
	}
	var (
		u     *user
		scope = f.Get("scope")
	)
	if grant == "password" {
		username, password := f.Get("username"), f.Get("password")
		if username == "" || password == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the parameters 'username' and 'password'.")
			return
		}
		if wait, ok := s.limiter.allow("signin:"+strings.ToLower(username), s.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			writeOAuthError(w, http.StatusTooManyRequests, "temporarily_unavailable", "Too many sign-in attempts; wait and try again.")
			return
		}
		found, err := getUserByEmail(ctx, s.st.db, username)
		if err != nil {
			s.log.Error("localcrm: token: read user", "err", err)
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "The sign-in could not be completed.")
			return
		}
		// The same answer for an unknown user and a wrong password, so the
		// endpoint does not reveal which addresses exist.
		if found == nil || !found.checkPassword(password) {
			s.log.Info("localcrm: sign-in refused")
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password.")
			return
		}
		u = found
	} else {
		rt := f.Get("refresh_token")
		if rt == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body must contain the parameter 'refresh_token'.")
			return
		}
		var userID, tokClient, tokScope string
		var expires int64
		err := s.st.db.QueryRowContext(ctx, `SELECT user_id, client_id, scope, expires FROM tokens WHERE hash = ? AND kind = 'refresh'`,
			tokenHash(rt)).Scan(&userID, &tokClient, &tokScope, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70000: The refresh token is not valid or was revoked; sign in again.")
			return
		case err != nil:
			s.log.Error("localcrm: token: read refresh token", "err", err)
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "The sign-in could not be completed.")
			return
		case s.now().UnixNano() >= expires:
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS700082: The refresh token has expired; sign in again.")
			return
		case tokClient != clientID:
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS700005: The refresh token was issued to another client.")
			return
		}
		if scope == "" {
			scope = tokScope
		}
		found, err := getUserByID(ctx, s.st.db, userID)
		if err != nil || found == nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50057: The user account no longer exists.")
			return
		}
		u = found
	}
	if u.disabled {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50057: The user account is disabled.")
		return
	}
	if scope == "" {
		scope = s.origin(r) + "/user_impersonation"
	}
	access, refresh, err := s.issueTokens(ctx, u.id, clientID, scope)
	if err != nil {
		s.log.Error("localcrm: token: issue", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "The sign-in could not be completed.")
		return
	}
	ttl := int(s.opts.TokenTTL.Seconds())
	body, _ := marshal(object{
		{"token_type", "Bearer"},
		{"scope", scope},
		{"expires_in", ttl},
		{"ext_expires_in", ttl},
		{"access_token", access},
		{"refresh_token", refresh},
	})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

// issueTokens stores a new access and refresh token pair. An earlier
// refresh token stays valid until it expires, as with Entra ID, so two
// clients refreshing at once do not lock each other out.
func (s *Server) issueTokens(ctx context.Context, userID, clientID, scope string) (access, refresh string, err error) {
	now := s.now()
	access, ah := newToken()
	refresh, rh := newToken()
	err = s.st.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND expires <= ?`, userID, now.UnixNano()); err != nil {
			return fmt.Errorf("localcrm: prune tokens: %w", err)
		}
		ins := `INSERT INTO tokens (hash, kind, user_id, client_id, scope, expires) VALUES (?, ?, ?, ?, ?, ?)`
		if _, err := tx.ExecContext(ctx, ins, ah, "access", userID, clientID, scope, now.Add(s.opts.TokenTTL).UnixNano()); err != nil {
			return fmt.Errorf("localcrm: store token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, ins, rh, "refresh", userID, clientID, scope, now.Add(s.opts.RefreshTTL).UnixNano()); err != nil {
			return fmt.Errorf("localcrm: store token: %w", err)
		}
		return nil
	})
	return access, refresh, err
}
