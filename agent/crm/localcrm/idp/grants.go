package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Grant types of the token endpoint.
const (
	grantPassword = "password"
	grantRefresh  = "refresh_token"
	grantCode     = "authorization_code"
	grantDevice   = "urn:ietf:params:oauth:grant-type:device_code"
	// grantDeviceShort is what MSAL for Go, AD FS and Entra's v1.0
	// protocol send; Entra accepts it next to the RFC 8628 URN.
	grantDeviceShort = "device_code"
)

// errRefreshSpent means the refresh token was used up by a concurrent
// request between reading and rotating it.
var errRefreshSpent = errors.New("localcrm: refresh token already used")

// grant is what a successful grant check yields: whose tokens to issue,
// for what, and which refresh token to retire.
type grant struct {
	userID   string
	scope    scopeSet
	nonce    string
	authTime time.Time
	offline  bool   // the original grant included offline_access
	spent    string // hash of the refresh token this request used up
}

// handleToken is the token endpoint of every flavour: the password,
// refresh_token, authorization_code and device_code grants.
func (s *Provider) handleToken(w http.ResponseWriter, r *http.Request, ep endpoint) {
	f, ok := s.postForm(w, r)
	if !ok {
		return
	}
	clientID := f.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok && clientID == "" {
		clientID = id // client authentication in the header (RFC 6749 §2.3.1)
	}
	gt := f.Get("grant_type")
	switch {
	case gt == "":
		s.writeOAuthError(w, r, errMissing("grant_type"))
		return
	case gt != grantPassword && gt != grantRefresh && gt != grantCode && gt != grantDevice && gt != grantDeviceShort:
		s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '%s'.", gt))
		return
	case clientID == "":
		s.writeOAuthError(w, r, errMissing("client_id"))
		return
	case !registered(clientID):
		s.writeOAuthError(w, r, errUnknownClient(clientID))
		return
	case f.Get("client_secret") != "" || f.Get("client_assertion") != "":
		s.writeOAuthError(w, r, oauthErr(http.StatusUnauthorized, "invalid_client", 700025,
			"Client is public so neither 'client_assertion' nor 'client_secret' should be presented."))
		return
	}
	ctx := r.Context()
	origin := s.origin(r)
	var (
		g *grant
		e *oauthError
	)
	switch gt {
	case grantPassword:
		g, e = s.passwordGrant(ctx, w, ep, origin, f)
	case grantRefresh:
		g, e = s.refreshGrant(ctx, ep, origin, f, clientID)
	case grantCode:
		g, e = s.codeGrant(f, clientID)
	default:
		g, e = s.pollDevice(f, clientID)
	}
	if e != nil {
		s.writeOAuthError(w, r, e)
		return
	}
	s.answerTokens(w, r, ep, origin, clientID, g)
}

// passwordGrant is ROPC. Users who must use MFA are refused, as Entra ID
// refuses them: a password alone cannot satisfy the second factor.
func (s *Provider) passwordGrant(ctx context.Context, w http.ResponseWriter, ep endpoint, origin string, f url.Values) (*grant, *oauthError) {
	username, password := f.Get("username"), f.Get("password")
	switch {
	case username == "":
		return nil, errMissing("username")
	case password == "":
		return nil, errMissing("password")
	}
	sc, e := parseScope(ep, origin, f.Get("scope"), f.Get("resource"))
	if e != nil {
		return nil, e
	}
	if wait, ok := s.limiter.Allow("signin:"+strings.ToLower(username), s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		return nil, oauthErr(http.StatusTooManyRequests, "temporarily_unavailable", 50053,
			"You've tried to sign in too many times with an incorrect user ID or password. Wait and try again.")
	}
	u, err := store.UserByEmail(ctx, s.st.Q(ctx), username)
	if err != nil {
		s.log.Error("localcrm: token: read user", "err", err)
		return nil, errServer()
	}
	// The same answer for an unknown user and a wrong password, so the
	// endpoint does not reveal which addresses exist.
	if u == nil || !checkPassword(u, password) {
		s.log.Info("localcrm: sign-in refused")
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 50126,
			"Error validating credentials due to invalid username or password.")
	}
	mfa, err := s.requiresMFA(ctx, u.ID)
	if err != nil {
		s.log.Error("localcrm: token: read MFA setting", "err", err)
		return nil, errServer()
	}
	if mfa && !u.Disabled {
		e := oauthErr(http.StatusBadRequest, "invalid_grant", 50076,
			"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", origin+"/")
		e.suberror = "basic_action"
		return nil, e
	}
	return &grant{userID: u.ID, scope: sc, authTime: s.now()}, nil
}

// refreshGrant redeems a refresh token. Outside the root endpoint the
// token is rotated: the answer carries a new one and the used one stops
// working.
func (s *Provider) refreshGrant(ctx context.Context, ep endpoint, origin string, f url.Values, clientID string) (*grant, *oauthError) {
	rt := f.Get("refresh_token")
	if rt == "" {
		return nil, errMissing("refresh_token")
	}
	var userID, tokClient, tokScope string
	var expires int64
	h := tokenHash(rt)
	err := s.st.Q(ctx).QueryRowContext(ctx, `SELECT user_id, client_id, scope, expires FROM tokens WHERE hash = ? AND kind = 'refresh'`,
		h).Scan(&userID, &tokClient, &tokScope, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the refresh token is not valid, was already used, or was revoked.")
	case err != nil:
		s.log.Error("localcrm: token: read refresh token", "err", err)
		return nil, errServer()
	case s.now().UnixNano() >= expires:
		e := oauthErr(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token has expired due to inactivity. Sign in again.")
		e.suberror = "bad_token"
		return nil, e
	case tokClient != clientID:
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the refresh token was issued to a different client.")
	}
	orig, _ := parseScope(endpoint{kind: epRoot}, origin, tokScope, "")
	orig.raw = ""
	requested := f.Get("scope")
	var sc scopeSet
	if ep.kind == epRoot {
		if requested == "" {
			requested = tokScope
		}
		sc, _ = parseScope(ep, origin, requested, "")
	} else if requested == "" && f.Get("resource") == "" {
		sc = orig
	} else {
		var e *oauthError
		if sc, e = parseScope(ep, origin, requested, f.Get("resource")); e != nil {
			return nil, e
		}
	}
	g := &grant{userID: userID, scope: sc, authTime: s.now(), offline: orig.has("offline_access")}
	if ep.kind != epRoot {
		g.spent = h
	}
	return g, nil
}

// codeGrant redeems an authorization code: same client, same redirect URI,
// and the PKCE verifier of the challenge. A code works once; a second
// redemption is refused and changes nothing else, as with Entra ID.
func (s *Provider) codeGrant(f url.Values, clientID string) (*grant, *oauthError) {
	code, redirect, verifier := f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier")
	switch {
	case code == "":
		return nil, errMissing("code")
	case redirect == "":
		return nil, errMissing("redirect_uri")
	}
	c, ok := s.flows.redeemCode(code)
	now := s.now()
	switch {
	case !ok:
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70000,
			"The provided value for the 'code' parameter is not valid.")
	case c.used:
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 54005,
			"OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case !now.Before(c.expires):
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70008,
			"The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case c.clientID != clientID:
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the code was issued to a different client.")
	case redirect != c.redirectURI:
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 500112,
			"The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", redirect, c.redirectURI)
	case verifier == "":
		return nil, errMissing("code_verifier")
	case !pkceMatches(c.method, c.challenge, verifier):
		return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 501481,
			"The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	return &grant{userID: c.userID, scope: c.scope, nonce: c.nonce, authTime: c.authTime}, nil
}

// pkceMatches checks a verifier against its challenge (RFC 7636 §4.6).
func pkceMatches(method, challenge, verifier string) bool {
	if !pkceValue.MatchString(verifier) {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// answerTokens issues the tokens of a checked grant and writes the answer
// in the shape of the endpoint's flavour.
func (s *Provider) answerTokens(w http.ResponseWriter, r *http.Request, ep endpoint, origin, clientID string, g *grant) {
	ctx := r.Context()
	u, err := store.UserByID(ctx, s.st.Q(ctx), g.userID)
	switch {
	case err != nil:
		s.log.Error("localcrm: token: read user", "err", err)
		s.writeOAuthError(w, r, errServer())
		return
	case u == nil:
		s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account does not exist in the '%s' directory.", TenantDomain))
		return
	case u.Disabled:
		s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_grant", 50057,
			"The user account is disabled."))
		return
	}
	sc := g.scope
	if g.offline {
		sc = sc.withOffline()
	}
	// Entra ID issues a refresh token only for offline_access; the root
	// endpoint, Entra's v1.0 protocol and AD FS always issue one.
	withRefresh := ep.kind != epEntra || ep.v1 || sc.has("offline_access")
	access, refresh, err := s.issueTokens(ctx, u.ID, clientID, sc.stored(), withRefresh, g.spent)
	if errors.Is(err, errRefreshSpent) {
		s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the refresh token was already used."))
		return
	}
	if err != nil {
		s.log.Error("localcrm: token: issue", "err", err)
		s.writeOAuthError(w, r, errServer())
		return
	}
	ttl := int(s.opts.TokenTTL.Seconds())
	tokenType := "Bearer"
	if ep.kind == epADFS {
		tokenType = "bearer" // AD FS writes it in lower case
	}
	ans := wire.Object{{"token_type", tokenType}, {"scope", sc.granted()}, {"expires_in", ttl}, {"ext_expires_in", ttl}}
	if ep.v1 {
		now := s.now()
		ans = append(ans, wire.KV{"expires_on", strconv.FormatInt(now.Add(s.opts.TokenTTL).Unix(), 10)},
			wire.KV{"not_before", strconv.FormatInt(now.Unix(), 10)}, wire.KV{"resource", origin + "/"})
	}
	if ep.kind == epADFS && r.PostForm.Get("resource") != "" {
		ans = append(ans, wire.KV{"resource", r.PostForm.Get("resource")})
	}
	ans = append(ans, wire.KV{"access_token", access})
	if refresh != "" {
		ans = append(ans, wire.KV{"refresh_token", refresh})
		if ep.kind == epADFS {
			ans = append(ans, wire.KV{"refresh_token_expires_in", int(s.opts.RefreshTTL.Seconds())})
		}
	}
	if sc.has("openid") {
		name := s.userFullName(ctx, u.ID)
		idt, err := s.idToken(ctx, ep, origin, identity{user: u, name: name, clientID: clientID, nonce: g.nonce, authTime: g.authTime})
		if err != nil {
			s.log.Error("localcrm: token: id_token", "err", err)
			s.writeOAuthError(w, r, errServer())
			return
		}
		ans = append(ans, wire.KV{"id_token", idt})
	}
	if r.PostForm.Get("client_info") == "1" && ep.kind != epADFS {
		ans = append(ans, wire.KV{"client_info", clientInfo(u.ID)})
	}
	writeTokenJSON(w, ans)
}

// issueTokens stores a new access token, and a refresh token when asked.
// spent, when set, is the hash of the refresh token this request used: it
// is deleted in the same transaction, and if it is already gone (a
// concurrent use) nothing is issued. Without spent an earlier refresh
// token stays valid until it expires, as the root endpoint always did.
func (s *Provider) issueTokens(ctx context.Context, userID, clientID, scope string, withRefresh bool, spent string) (access, refresh string, err error) {
	now := s.now()
	access, ah := newToken()
	var rh string
	if withRefresh {
		refresh, rh = newToken()
	}
	err = s.st.Tx(ctx, func(tx *sql.Tx) error {
		if spent != "" {
			res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ? AND kind = 'refresh'`, spent)
			if err != nil {
				return fmt.Errorf("localcrm: retire refresh token: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errRefreshSpent
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND expires <= ?`, userID, now.UnixNano()); err != nil {
			return fmt.Errorf("localcrm: prune tokens: %w", err)
		}
		ins := `INSERT INTO tokens (hash, kind, user_id, client_id, scope, expires) VALUES (?, ?, ?, ?, ?, ?)`
		if _, err := tx.ExecContext(ctx, ins, ah, "access", userID, clientID, scope, now.Add(s.opts.TokenTTL).UnixNano()); err != nil {
			return fmt.Errorf("localcrm: store token: %w", err)
		}
		if withRefresh {
			if _, err := tx.ExecContext(ctx, ins, rh, "refresh", userID, clientID, scope, now.Add(s.opts.RefreshTTL).UnixNano()); err != nil {
				return fmt.Errorf("localcrm: store token: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

// postForm reads the form of a POST to an OAuth endpoint, answering
// anything else as Entra does; ok is false when the answer was written.
func (s *Provider) postForm(w http.ResponseWriter, r *http.Request) (f url.Values, ok bool) {
	if r.Method != http.MethodPost {
		s.writeOAuthError(w, r, oauthErr(http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a %s request.", r.Method))
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_request", 90004,
			"The request isn't properly formatted: the body must be application/x-www-form-urlencoded."))
		return nil, false
	}
	return r.PostForm, true
}
