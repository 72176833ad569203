// Package webapi serves the local CRM's Dataverse Web API under
// /api/data/v9.x/: it checks the caller, routes the path, and answers
// record requests (list, retrieve, create, update and upsert, delete,
// email parties, $ref) itself and function calls through package
// functions, with answers and errors in Dataverse's shapes.
package webapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/batch"
	"crmsync/agent/crm/localcrm/functions"
	"crmsync/agent/crm/localcrm/internal/wire"
	"crmsync/agent/crm/localcrm/odata"
	"crmsync/agent/crm/localcrm/protect"
	"crmsync/agent/crm/localcrm/records"
	"crmsync/agent/crm/localcrm/store"
)

// URL length limits: Dataverse accepts GET URLs up to 32 KB, and up to
// 64 KB inside a $batch body.
const (
	MaxURLBytes      = 32 << 10
	MaxBatchURLBytes = 64 << 10
)

// Service is the Web API of one server. Its fields are set once, before
// the first request.
type Service struct {
	Store        *store.Store
	Cat          *records.Catalog // the tables of the environment
	Org          functions.Org
	Now          func() time.Time
	Log          *slog.Logger
	MaxBodyBytes int64  // larger request bodies get 413
	BaseURL      string // the configured origin; "" derives it from each request
	// Authenticate checks the bearer token of a request and returns the
	// caller; a refusal is a *wire.Error (401 with the challenge).
	Authenticate func(ctx context.Context, r *http.Request, origin string) (*store.User, error)
	// Guard applies Dataverse's service protection limits (requests,
	// execution time, concurrency) per caller; nil allows everything.
	Guard *protect.Guard
	// Batch runs the operations of a $batch request through the server;
	// its Exec and Begin must be set for $batch to be served.
	Batch batch.Options
}

// Serve handles a request under /api/data/. limited says whether the
// request counts against the request limit (false for the parts of a
// $batch, which counts once as a whole); it also picks the URL length
// limit.
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, limited bool) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/data/")
	version, rest, _ := strings.Cut(rest, "/")
	switch version {
	case "v9.0", "v9.1", "v9.2":
	default:
		wire.WriteError(w, wire.NotFoundSegment(version))
		return
	}
	uri, maxURL := r.RequestURI, MaxURLBytes
	if !limited {
		maxURL = MaxBatchURLBytes
	}
	if uri == "" {
		uri = r.URL.RequestURI() // built in process, not read from a connection
	}
	if len(uri) > maxURL {
		wire.WriteError(w, wire.Errf(http.StatusRequestURITooLong, wire.CodeSegment,
			"The request URL is longer than %d bytes.", maxURL))
		return
	}
	if !utf8.ValidString(r.URL.Path) {
		wire.WriteError(w, wire.BadRequest("The request URL is not valid UTF-8."))
		return
	}
	c := &call{
		s:       s,
		w:       w,
		r:       r,
		ctx:     r.Context(),
		origin:  wire.Origin(r, s.BaseURL),
		limited: limited,
	}
	c.base = c.origin + "/api/data/" + version + "/"
	if err := c.run(rest); err != nil {
		c.fail(err)
	}
}

// call is one Web API request on its way through the server.
type call struct {
	records.Session // the caller's record rules, set once signed in

	s       *Service
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	origin  string // scheme://host
	base    string // absolute Web API root, ending in "/"
	user    *store.User
	limited bool // counts against the request limit

	prefer  odata.Prefs
	query   odata.Query
	applied []string // preferences to echo in Preference-Applied
}

// fail writes err as an OData error; anything that is not a *wire.Error
// is a store failure and is logged.
func (c *call) fail(err error) {
	if e, ok := err.(*wire.Error); ok {
		wire.WriteError(c.w, e)
		return
	}
	c.s.Log.Error("localcrm: request failed", "method", c.r.Method, "err", err)
	wire.WriteError(c.w, wire.Errf(http.StatusInternalServerError, wire.CodeUnexpected, "An unexpected error occurred."))
}

// q returns what the request's reads go through: its $batch change set's
// transaction when it runs in one, else the database.
func (c *call) q() store.Queryer { return c.s.Store.Q(c.ctx) }

// run authenticates, applies the service limits and dispatches.
func (c *call) run(rest string) error {
	segs, err := odata.SplitPath(rest)
	if err != nil {
		return err
	}
	switch c.r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut:
	default:
		return wire.MethodNotAllowed(c.r.Method, "the Web API", "GET", "POST", "PATCH", "DELETE", "PUT")
	}
	u, err := c.s.Authenticate(c.ctx, c.r, c.origin)
	if err != nil {
		return err
	}
	c.user = u
	c.Session = records.Session{Ctx: c.ctx, Cat: c.s.Cat, UserID: u.ID, Now: c.s.Now, Role: u.Role}
	if c.limited && c.s.Guard != nil {
		// The limits count a $batch once, as a whole: its operations come
		// back through here unlimited, and its time is charged when it ends.
		t, refused := c.s.Guard.Admit(u.ID)
		c.s.Guard.Headers(u.ID, c.w.Header())
		if refused != nil {
			e := wire.Errf(http.StatusTooManyRequests, refused.Code, "%s", refused.Message)
			e.Header = http.Header{"Retry-After": {strconv.Itoa(refused.RetryAfter)}}
			return e
		}
		defer t.Done()
	}
	if c.query, err = odata.ParseQuery(c.r.URL.RawQuery); err != nil {
		return err
	}
	c.prefer = odata.ParsePrefer(c.r.Header.Values("Prefer"))
	return c.dispatch(segs)
}

// dispatch picks the handler for the path.
func (c *call) dispatch(segs []odata.Segment) error {
	m := c.r.Method
	if len(segs) == 0 {
		if m != http.MethodGet {
			return wire.MethodNotAllowed(m, "the service document", "GET")
		}
		return c.serviceDocument()
	}
	first := segs[0]
	switch {
	case first.Name == "$metadata":
		if m != http.MethodGet {
			return wire.MethodNotAllowed(m, "$metadata", "GET")
		}
		return c.metadata()
	case first.Name == "$batch":
		if len(segs) > 1 {
			return wire.NotFoundSegment(segs[1].String())
		}
		if m != http.MethodPost {
			return wire.MethodNotAllowed(m, "$batch", "POST")
		}
		if !c.limited {
			return wire.BadRequest("A $batch cannot contain another $batch.")
		}
		if c.s.Batch.Exec == nil {
			return wire.Errf(http.StatusNotImplemented, wire.CodeNotSupported, "$batch is not supported by this server; send the requests one by one.")
		}
		batch.Serve(c.w, c.r, c.s.Batch)
		return nil
	case first.Name == "EntityDefinitions":
		if m != http.MethodGet {
			return wire.MethodNotAllowed(m, "EntityDefinitions", "GET")
		}
		return c.entityDefinitions(segs)
	case functions.IsUnbound(first.Name):
		if len(segs) > 1 {
			return wire.NotFoundSegment(segs[1].String())
		}
		if m != http.MethodGet {
			return wire.MethodNotAllowed(m, first.Name, "GET")
		}
		args, err := odata.ParseFuncArgs(first.Args, c.query.Aliases)
		if err != nil {
			return err
		}
		return c.answerFunction(c.function().Unbound(first.Name, args))
	case functions.IsUnboundAction(first.Name):
		if len(segs) > 1 {
			return wire.NotFoundSegment(segs[1].String())
		}
		if m != http.MethodPost || first.Parens {
			return wire.MethodNotAllowed(m, "'"+first.String()+"'", http.MethodPost)
		}
		return c.answerFunction(c.function().UnboundAction(first.Name))
	}
	if c.query.HasFetch && (m != http.MethodGet || len(segs) != 1 || first.Parens) {
		return wire.BadRequest("The fetchXml parameter is allowed only on a GET of an entity set, such as contacts?fetchXml=<fetch>...</fetch>.")
	}
	ent, ok := c.s.Cat.Set(first.Name)
	if !ok {
		// Also the answer for a table of an app this environment does not
		// have (Options.App): Dataverse knows no such entity set.
		return wire.NotFoundSegment(first.Name)
	}
	if !first.Parens {
		if len(segs) == 1 {
			switch m {
			case http.MethodGet:
				return c.list(ent)
			case http.MethodPost:
				return c.create(ent)
			}
			return wire.MethodNotAllowed(m, "'"+ent.Set+"'", "GET", "POST")
		}
		if len(segs) == 2 {
			return c.answerFunction(c.function().Bound(ent, "", segs[1]))
		}
		return wire.NotFoundSegment(segs[2].String())
	}
	id, err := parseKey(ent, first)
	if err != nil {
		return err
	}
	switch len(segs) {
	case 1:
		switch m {
		case http.MethodGet:
			return c.retrieve(ent, id)
		case http.MethodPatch:
			return c.update(ent, id)
		case http.MethodDelete:
			return c.remove(ent, id)
		}
		return wire.MethodNotAllowed(m, "'"+first.String()+"'", "GET", "PATCH", "DELETE")
	case 2:
		sub := segs[1]
		if ent.PartyNav != "" && sub.Name == ent.PartyNav && !sub.Parens {
			return c.partiesNav(ent, id)
		}
		return c.answerFunction(c.function().Bound(ent, id, sub))
	case 3:
		if segs[2].Name == "$ref" && !segs[2].Parens && !segs[1].Parens {
			return c.reference(ent, id, segs[1].Name)
		}
		return wire.NotFoundSegment(segs[2].String())
	}
	return wire.NotFoundSegment(segs[3].String())
}

// function prepares a function or action call.
func (c *call) function() *functions.Call {
	return &functions.Call{
		Session: c.Session, Store: c.s.Store, Base: c.base, Org: c.s.Org,
		Method: c.r.Method, ReadBody: c.readBody, Aliases: c.query.Aliases,
		Represent: func(q store.Queryer, ent *records.Entity, rec *store.Record, sel []string) (wire.Object, error) {
			return c.represent(q, names{}, ent, rec, &odata.Spec{Select: sel})
		},
	}
}

// answerFunction writes a function's answer.
func (c *call) answerFunction(body wire.Object, err error) error {
	if err != nil {
		return err
	}
	c.respond(http.StatusOK, body)
	return nil
}

// parseKey reads the record id from set(<guid>).
func parseKey(ent *records.Entity, g odata.Segment) (string, error) {
	if id, ok := wire.ParseGUID(g.Args); ok {
		return id, nil
	}
	if strings.Contains(g.Args, "=") {
		return "", wire.BadRequest("Alternate keys such as '%s' are not supported by this server; address the record as %s(<guid>).", g.Args, ent.Set)
	}
	return "", wire.BadRequest("The key '%s' in '%s' is not a GUID; address a record as %s(00000000-0000-0000-0000-000000000000).", g.Args, g, ent.Set)
}
