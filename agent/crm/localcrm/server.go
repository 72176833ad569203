package localcrm

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults applied by New for zero Options fields.
const (
	DefaultTokenTTL           = time.Hour
	DefaultRefreshTTL         = 24 * time.Hour
	DefaultRateLimit          = 6000
	DefaultRateWindow         = 300 * time.Second
	DefaultMaxBodyBytes       = 8 << 20
	DefaultPasswordIterations = 210_000
	maxURLBytes               = 32 << 10 // Dataverse accepts GET URLs up to 32 KB
)

// APIVersion is the Web API version the server advertises; v9.0 and v9.1
// are served as well, as Dataverse keeps older minor versions working.
const APIVersion = "v9.2"

// Options configures a Server. The zero value is usable: an in-memory store
// with Dataverse's default limits.
type Options struct {
	// DataDir is the directory of the store file (StoreFile), created with
	// mode 0700 and the file with 0600, in WAL mode. Empty keeps the store
	// in memory for the life of the Server.
	DataDir string
	// TokenTTL is the lifetime of access tokens; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// RefreshTTL is the lifetime of refresh tokens; 0 means DefaultRefreshTTL.
	RefreshTTL time.Duration
	// RateLimit is the number of Web API requests one user may make within
	// RateWindow before getting 429; 0 means DefaultRateLimit.
	RateLimit int
	// RateWindow is the sliding window of RateLimit; 0 means DefaultRateWindow.
	RateWindow time.Duration
	// MaxBodyBytes caps request bodies; larger ones get 413. 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// PasswordIterations is the PBKDF2 round count for passwords set from
	// now on (stored hashes keep their own); 0 means
	// DefaultPasswordIterations. Tests may lower it for speed.
	PasswordIterations int
	// Now is the clock for token expiry, timestamps and rate limits; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives request and error logs; nil discards them. Passwords,
	// tokens, addresses and subjects are never logged.
	Logger *slog.Logger
	// BaseURL, when set, is the absolute origin (scheme://host[:port]) used
	// in links such as OData-EntityId and @odata.nextLink; empty derives it
	// from each request, which is right unless a proxy sits in front.
	BaseURL string
	// Auth is the identity provider the server stands for: AuthEntra
	// ("entra", the default for "") or AuthADFS ("adfs"). It picks where
	// the 401 challenge sends clients; both sets of sign-in endpoints are
	// served either way.
	Auth string
	// AuthCodeTTL is the lifetime of authorization codes; 0 means
	// DefaultAuthCodeTTL, which is also the longest allowed.
	AuthCodeTTL time.Duration
	// DeviceCodeTTL is the lifetime of device codes; 0 means
	// DefaultDeviceCodeTTL.
	DeviceCodeTTL time.Duration
	// DeviceCodeInterval is the polling interval device codes announce, in
	// whole seconds (at least one); 0 means DefaultDeviceCodeInterval.
	// Tests may shorten it.
	DeviceCodeInterval time.Duration
}

// Server is the local CRM. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts    Options // defaults applied; read-only after New
	log     *slog.Logger
	st      *store
	org     orgInfo
	limiter *limiter
	faults  *faultList
	flows   *flowStore // pending authorization and device codes

	keyMu sync.Mutex
	key   *signer // id_token signing key, loaded on first use; guarded by keyMu

	closeOnce sync.Once
	closeErr  error
}

// orgInfo holds the organization-wide ids, fixed when the store is created.
type orgInfo struct {
	orgID  string // OrganizationId in WhoAmI
	buID   string // the single business unit every user belongs to
	buName string
}

// New opens the store and returns a ready Server.
func New(opts Options) (*Server, error) {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = DefaultRefreshTTL
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.PasswordIterations <= 0 {
		opts.PasswordIterations = DefaultPasswordIterations
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch opts.Auth {
	case "":
		opts.Auth = AuthEntra
	case AuthEntra, AuthADFS:
	default:
		return nil, errUnknownAuth
	}
	opts.AuthCodeTTL = effectiveCodeTTL(opts.AuthCodeTTL)
	if opts.DeviceCodeTTL <= 0 {
		opts.DeviceCodeTTL = DefaultDeviceCodeTTL
	}
	switch {
	case opts.DeviceCodeInterval <= 0:
		opts.DeviceCodeInterval = DefaultDeviceCodeInterval
	case opts.DeviceCodeInterval < time.Second:
		opts.DeviceCodeInterval = time.Second // the answer counts whole seconds
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := openStore(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     log,
		st:      st,
		limiter: newLimiter(opts.RateLimit, opts.RateWindow),
		faults:  &faultList{},
		flows:   newFlowStore(),
	}
	if err := migrateMFA(context.Background(), st.db); err != nil {
		_ = st.close()
		return nil, err
	}
	if err := s.loadOrg(context.Background()); err != nil {
		_ = st.close()
		return nil, err
	}
	return s, nil
}

// loadOrg reads the organization ids, creating them on a new store.
func (s *Server) loadOrg(ctx context.Context) error {
	return s.st.tx(ctx, func(tx *sql.Tx) error {
		org, err := getMeta(ctx, tx, "organizationid")
		if err != nil {
			return err
		}
		bu, err := getMeta(ctx, tx, "businessunitid")
		if err != nil {
			return err
		}
		if org == "" {
			org, bu = newGUID(), newGUID()
			if err := setMeta(ctx, tx, "organizationid", org); err != nil {
				return err
			}
			if err := setMeta(ctx, tx, "businessunitid", bu); err != nil {
				return err
			}
		}
		s.org = orgInfo{orgID: org, buID: bu, buName: "Local CRM"}
		return nil
	})
}

// Close releases the store. Requests still running fail; call it after the
// HTTP server has shut down.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.st.close() })
	return s.closeErr
}

// OrganizationID returns the organization's id, as WhoAmI reports it.
func (s *Server) OrganizationID() string { return s.org.orgID }

// BusinessUnitID returns the id of the single business unit.
func (s *Server) BusinessUnitID() string { return s.org.buID }

func (s *Server) now() time.Time { return s.opts.Now() }

// ServeHTTP routes a request: faults first (they stand for the network and
// gateways in front of the service), then the token endpoint or the Web API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	route := "other"
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // a deliberate connection drop (Fault.DropConnection)
			}
			// Defense in depth: handlers do not panic by design, but a bug
			// must not take the server down or leave the client hanging.
			s.log.Error("localcrm: panic in handler", "route", route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wrote {
				writeAPIError(rw, errf(http.StatusInternalServerError, codeUnexpected, "An unexpected error occurred."))
			}
		}
		s.log.Debug("localcrm: request", "method", r.Method, "route", route, "status", rw.status, "duration", time.Since(start))
	}()
	if done := s.faults.apply(rw, r); done {
		route = "fault"
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/api/data/"):
		route = "api"
		s.serveAPI(rw, r)
	case path == "/":
		route = "root"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, "Local CRM: Dataverse Web API at /api/data/"+APIVersion+"/, sign-in at /"+TenantID+
			"/v2.0/.well-known/openid-configuration (Entra ID) and /adfs/.well-known/openid-configuration (AD FS)\n")
	case s.serveIdentity(rw, r):
		route = "identity"
	default:
		writeAPIError(rw, notFoundSegment(strings.TrimPrefix(path, "/")))
	}
}

// statusWriter remembers the status for logs and whether headers went out.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (faults that
// drop it need that).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// origin is the scheme://host under which this server is reached.
func (s *Server) origin(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// serveAPI handles everything under /api/data/.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/data/")
	version, rest, _ := strings.Cut(rest, "/")
	switch version {
	case "v9.0", "v9.1", "v9.2":
	default:
		writeAPIError(w, notFoundSegment(version))
		return
	}
	if len(r.RequestURI) > maxURLBytes {
		writeAPIError(w, errf(http.StatusRequestURITooLong, codeSegment,
			"The request URL is longer than %d bytes.", maxURLBytes))
		return
	}
	if !utf8.ValidString(r.URL.Path) {
		writeAPIError(w, badRequest("The request URL is not valid UTF-8."))
		return
	}
	c := &call{
		s:      s,
		w:      w,
		r:      r,
		ctx:    r.Context(),
		origin: s.origin(r),
	}
	c.base = c.origin + "/api/data/" + version + "/"
	if err := c.run(rest); err != nil {
		c.fail(err)
	}
}

// fail writes err as an OData error; anything that is not an apiError is a
// store failure and is logged.
func (c *call) fail(err error) {
	if e, ok := err.(*apiError); ok {
		writeAPIError(c.w, e)
		return
	}
	c.s.log.Error("localcrm: request failed", "method", c.r.Method, "err", err)
	writeAPIError(c.w, errf(http.StatusInternalServerError, codeUnexpected, "An unexpected error occurred."))
}
