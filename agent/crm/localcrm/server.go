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

	"crmsync/agent/crm/localcrm/batch"
	"crmsync/agent/crm/localcrm/functions"
	"crmsync/agent/crm/localcrm/idp"
	"crmsync/agent/crm/localcrm/internal/limit"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/protect"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
	"crmsync/agent/crm/localcrm/webapi"
)

// Defaults applied by New for zero Options fields.
const (
	DefaultTokenTTL           = time.Hour
	DefaultRefreshTTL         = 24 * time.Hour
	DefaultRateLimit          = protect.DefaultRequests // Dataverse's per-user limits, kept in one place
	DefaultRateWindow         = protect.DefaultWindow
	DefaultMaxBodyBytes       = 8 << 20
	DefaultPasswordIterations = 210_000
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
	// RateWindow is the sliding window of RateLimit and ExecTimeLimit; 0
	// means DefaultRateWindow.
	RateWindow time.Duration
	// ExecTimeLimit is the combined execution time one user's requests
	// may take within RateWindow; 0 means Dataverse's 20 minutes.
	ExecTimeLimit time.Duration
	// ConcurrencyLimit is how many requests of one user may run at once;
	// 0 means Dataverse's 52.
	ConcurrencyLimit int
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
	// App picks the optional Dynamics 365 tables the environment has, as
	// installing the Sales or Customer Service app adds them: AppAll
	// ("all", the default for ""), AppSales ("sales": opportunities and
	// leads), AppService ("service": incidents) or AppNone ("none": plain
	// Dataverse). A missing table answers 404 like any unknown entity set.
	App string
}

// Server is the local CRM. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts    Options // defaults applied; read-only after New
	log     *slog.Logger
	st      *store.Store
	cat     *records.Catalog // the tables of this environment (Options.App)
	org     functions.Org
	limiter *limit.Limiter
	faults  *faultList
	idp     *idp.Provider
	api     *webapi.Service

	closeOnce sync.Once
	closeErr  error
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
		return nil, idp.ErrUnknownAuth
	}
	opts.AuthCodeTTL = idp.EffectiveCodeTTL(opts.AuthCodeTTL)
	if opts.DeviceCodeTTL <= 0 {
		opts.DeviceCodeTTL = DefaultDeviceCodeTTL
	}
	switch {
	case opts.DeviceCodeInterval <= 0:
		opts.DeviceCodeInterval = DefaultDeviceCodeInterval
	case opts.DeviceCodeInterval < time.Second:
		opts.DeviceCodeInterval = time.Second // the answer counts whole seconds
	}
	if opts.App == "" {
		opts.App = AppAll
	}
	cat, err := records.NewCatalog(opts.App)
	if err != nil {
		return nil, err
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		log:     log,
		st:      st,
		cat:     cat,
		limiter: limit.New(opts.RateLimit, opts.RateWindow),
		faults:  &faultList{},
	}
	if err := s.loadOrg(context.Background()); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := s.ensureMailboxes(context.Background()); err != nil {
		_ = st.Close()
		return nil, err
	}
	if err := s.ensureSyncProfile(context.Background()); err != nil {
		_ = st.Close()
		return nil, err
	}
	s.idp = idp.New(idp.Config{
		Store: st, Log: log, Now: opts.Now, Limiter: s.limiter, Auth: opts.Auth, BaseURL: opts.BaseURL,
		BusinessUnitID: s.org.BusinessUnitID, TokenTTL: opts.TokenTTL, RefreshTTL: opts.RefreshTTL,
		AuthCodeTTL: opts.AuthCodeTTL, DeviceCodeTTL: opts.DeviceCodeTTL,
		DeviceCodeInterval: opts.DeviceCodeInterval, PasswordIterations: opts.PasswordIterations,
	})
	s.api = &webapi.Service{
		Store: st, Cat: cat, Org: s.org, Now: opts.Now, Log: log,
		MaxBodyBytes: opts.MaxBodyBytes, BaseURL: opts.BaseURL,
		Authenticate: s.idp.Authenticate,
		Guard: protect.New(protect.Limits{Requests: opts.RateLimit, Window: opts.RateWindow,
			ExecTime: opts.ExecTimeLimit, Concurrent: opts.ConcurrencyLimit}, opts.Now),
	}
	s.api.Batch = batch.Options{Exec: s.APIHandler(), Begin: s.BeginTx, MaxBytes: opts.MaxBodyBytes}
	return s, nil
}

// loadOrg reads the organization ids, creating them on a new store.
func (s *Server) loadOrg(ctx context.Context) error {
	return s.st.Tx(ctx, func(tx *sql.Tx) error {
		org, err := store.GetMeta(ctx, tx, "organizationid")
		if err != nil {
			return err
		}
		bu, err := store.GetMeta(ctx, tx, "businessunitid")
		if err != nil {
			return err
		}
		if org == "" {
			org, bu = wire.NewGUID(), wire.NewGUID()
			if err := store.SetMeta(ctx, tx, "organizationid", org); err != nil {
				return err
			}
			if err := store.SetMeta(ctx, tx, "businessunitid", bu); err != nil {
				return err
			}
		}
		s.org = functions.Org{OrganizationID: org, BusinessUnitID: bu, BusinessUnitName: "Local CRM"}
		return nil
	})
}

// Close releases the store. Requests still running fail; call it after the
// HTTP server has shut down.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.st.Close() })
	return s.closeErr
}

// OrganizationID returns the organization's id, as WhoAmI reports it.
func (s *Server) OrganizationID() string { return s.org.OrganizationID }

// BusinessUnitID returns the id of the single business unit.
func (s *Server) BusinessUnitID() string { return s.org.BusinessUnitID }

func (s *Server) now() time.Time { return s.opts.Now() }

// ServeHTTP routes a request: faults first (they stand for the network and
// gateways in front of the service), then the Web API or the sign-in
// endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	route := "other"
	defer func() {
		s.recoverPanic(rw, route)
		s.log.Debug("localcrm: request", "method", r.Method, "route", route, "status", rw.status, "duration", time.Since(start))
	}()
	if done := s.faults.apply(rw, r); done {
		route = "fault"
		return
	}
	// A request the service has begun runs to its end even if the client
	// goes away, as a server's does. A cancelled context would also make
	// the SQLite driver interrupt its connection from another goroutine,
	// possibly once that single connection already serves the next
	// request, which then fails for no reason of its own.
	r = r.WithContext(context.WithoutCancel(r.Context()))
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/api/data/"):
		route = "api"
		s.api.Serve(rw, r, true)
	case path == "/":
		route = "root"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, "Local CRM: Dataverse Web API at /api/data/"+APIVersion+"/, sign-in at /"+TenantID+
			"/v2.0/.well-known/openid-configuration (Entra ID) and /adfs/.well-known/openid-configuration (AD FS)\n")
	case path == "/main.aspx":
		route = "webapp"
		s.serveRecordPage(rw, r)
	case s.idp.Serve(rw, r):
		route = "identity"
	default:
		wire.WriteError(rw, wire.NotFoundSegment(strings.TrimPrefix(path, "/")))
	}
}

// recoverPanic, deferred, turns a handler panic into a 500. Handlers do
// not panic by design, but a bug must not take the server down or leave
// the client hanging.
func (s *Server) recoverPanic(rw *statusWriter, route string) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v) // a deliberate connection drop (Fault.DropConnection)
	}
	s.log.Error("localcrm: panic in handler", "route", route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if !rw.wrote {
		wire.WriteError(rw, wire.Errf(http.StatusInternalServerError, wire.CodeUnexpected, "An unexpected error occurred."))
	}
}

// APIHandler returns a handler that serves one Web API request exactly as
// the server does (sign-in check, routing, errors), for a $batch to run
// its parts through. The request's URL path must start with /api/data/;
// its URL may be absolute, or relative to the host with Host set (copied
// from the outer request), since links in answers are built from them.
// Its Authorization header decides the caller. Unlike requests on the
// server's own handler, these are not counted against the
// service-protection request limit: Dataverse counts a $batch once, as a
// whole. They skip injected faults too, which stand for the network in
// front of the server, and may have URLs up to 64 KB, the limit inside a
// $batch body. A request whose context comes from BeginTx runs inside that
// transaction.
func (s *Server) APIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w}
		defer s.recoverPanic(rw, "api (inner)")
		if !strings.HasPrefix(r.URL.Path, "/api/data/") {
			wire.WriteError(rw, wire.NotFoundSegment(strings.TrimPrefix(r.URL.Path, "/")))
			return
		}
		s.api.Serve(rw, r, false)
	})
}

// BeginTx starts a store transaction that several Web API requests share,
// so that a $batch change set is atomic. Every store read and write of a
// request whose context is txCtx (or derived from it) goes through this
// one transaction; a request that fails undoes only its own writes (a
// savepoint), and the transaction stays usable. The caller ends it by
// calling commit or rollback once; rollback after commit does nothing, so
// it may be deferred. The store has a single connection: until the
// transaction ends, requests outside it wait, so end it promptly.
func (s *Server) BeginTx(ctx context.Context) (txCtx context.Context, commit func() error, rollback func(), err error) {
	return s.st.Begin(ctx)
}

// statusWriter remembers the status for logs and whether headers went out.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader records the status.
func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implied 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (faults that
// drop it need that).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
