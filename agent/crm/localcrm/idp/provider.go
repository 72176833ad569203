// Package idp is the local CRM's identity provider: it signs users in as
// Microsoft Entra ID does (or AD FS, Config.Auth), with the
// authorization code flow and PKCE, the device code flow, the password
// grant (refused for users who must use MFA) and refresh tokens, and it
// checks the bearer tokens of Web API requests. Discovery documents,
// signing keys, sign-in pages and OAuth errors are written in Entra's and
// AD FS's shapes. Users and tokens live in the store; authorization and
// device codes in memory.
package idp

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"crmsync/agent/crm/localcrm/internal/limit"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/store"
)

// Sentinel errors of the user management functions.
var (
	// ErrUserExists is returned by AddUser when the email address is taken.
	ErrUserExists = errors.New("localcrm: a user with this email address already exists")
	// ErrNoUser is returned when a user named by email address does not exist.
	ErrNoUser = errors.New("localcrm: no such user")
)

// Config configures a Provider; every field must be set (New applies no
// defaults: the server does).
type Config struct {
	Store              *store.Store
	Log                *slog.Logger
	Now                func() time.Time
	Limiter            *limit.Limiter // throttles sign-in attempts per user name
	Auth               string         // AuthEntra or AuthADFS: where the 401 challenge points
	BaseURL            string         // the configured origin; "" derives it from each request
	BusinessUnitID     string         // of the systemuser records AddUser creates
	TokenTTL           time.Duration
	RefreshTTL         time.Duration
	AuthCodeTTL        time.Duration
	DeviceCodeTTL      time.Duration
	DeviceCodeInterval time.Duration
	PasswordIterations int // PBKDF2 rounds for passwords set from now on
}

// Provider is the identity provider of one server. It is safe for
// concurrent use.
type Provider struct {
	opts    Config
	log     *slog.Logger
	st      *store.Store
	limiter *limit.Limiter
	flows   *flowStore // pending authorization and device codes

	keyMu sync.Mutex
	key   *signer // id_token signing key, loaded on first use; guarded by keyMu
}

// New returns a Provider.
func New(cfg Config) *Provider {
	return &Provider{opts: cfg, log: cfg.Log, st: cfg.Store, limiter: cfg.Limiter, flows: newFlowStore()}
}

func (s *Provider) now() time.Time { return s.opts.Now() }

// origin is the scheme://host under which this server is reached.
func (s *Provider) origin(r *http.Request) string { return wire.Origin(r, s.opts.BaseURL) }

// Serve answers the sign-in endpoints and reports whether the path was
// one of them.
func (s *Provider) Serve(w http.ResponseWriter, r *http.Request) bool { return s.serveIdentity(w, r) }
