package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxOps is Dataverse's limit of operations per batch.
	DefaultMaxOps = 1000
	// DefaultMaxBytes caps the outer body. Dataverse documents no figure;
	// 32 MiB holds 1000 typical operations with room to spare.
	DefaultMaxBytes = 32 << 20
)

// inherited are the outer headers an inner request gets unless its part
// sets its own: the credentials (Authorization, Cookie) and Dataverse's
// impersonation headers, which decide who the operation runs as.
var inherited = []string{"Authorization", "Cookie", "MSCRMCallerID", "CallerObjectId"}

// Options wires the batch endpoint to a server.
type Options struct {
	// Exec serves one inner request exactly as a top-level Web API request,
	// authentication included, but without the service protection limits
	// (the batch was admitted once as a whole).
	Exec http.Handler
	// Begin opens one atomic unit per change set. The change set's inner
	// requests get txCtx as their context. Serve calls exactly one of
	// commit and rollback: commit when every operation answered 2xx,
	// rollback otherwise (also when Exec panics). A nil Begin makes Serve
	// refuse change sets with 501.
	Begin func(ctx context.Context) (txCtx context.Context, commit func() error, rollback func(), err error)
	// APIRoot returns the absolute API root of the outer request, for
	// example "http://127.0.0.1:8555/api/data/v9.2/". Relative inner URLs
	// are resolved against it and absolute ones must name its scheme and
	// host. Nil derives it from the outer request (its scheme, Host, and
	// path without the final $batch).
	APIRoot func(r *http.Request) string
	// MaxOps is the most operations a batch may hold, change sets
	// included; 0 means DefaultMaxOps.
	MaxOps int
	// MaxBytes caps the outer body; 0 means DefaultMaxBytes. A larger body
	// is refused with 413, as Dataverse refuses a request that is too long.
	MaxBytes int64
	// Inherit names further outer headers copied to inner requests that do
	// not set them, beyond Authorization, Cookie, MSCRMCallerID and
	// CallerObjectId.
	Inherit []string
}

// innerKey marks the context of a request that Serve replays.
type innerKey struct{}

// IsInner reports whether ctx belongs to an inner request of a batch, so
// that a handler shared with top-level requests can skip what a batch does
// once for all its operations (the service protection limits).
func IsInner(ctx context.Context) bool {
	v, _ := ctx.Value(innerKey{}).(bool)
	return v
}

// Serve answers one POST $batch request.
func Serve(w http.ResponseWriter, r *http.Request, o Options) {
	if r.Method != http.MethodPost {
		(&apiError{status: http.StatusMethodNotAllowed, code: codeNotAllowed, message: "The $batch endpoint only accepts POST."}).write(w)
		return
	}
	var rootText string
	if o.APIRoot != nil {
		rootText = o.APIRoot(r)
	} else {
		rootText = derivedRoot(r)
	}
	root, err := apiRoot(rootText)
	if err != nil {
		err.write(w)
		return
	}
	limit := o.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	limit = min(limit, math.MaxInt64-1) // limit+1 below must not overflow
	var body []byte
	if r.Body != nil {
		b, rerr := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if rerr != nil {
			bad("The $batch request body could not be read (%v).", rerr).write(w)
			return
		}
		body = b
	}
	if int64(len(body)) > limit {
		(&apiError{status: http.StatusRequestEntityTooLarge, code: codePayload,
			message: fmt.Sprintf("The $batch request body is larger than the limit of %d bytes; split it into several batches.", limit)}).write(w)
		return
	}
	maxOps := o.MaxOps
	if maxOps <= 0 {
		maxOps = DefaultMaxOps
	}
	parts, err := parse(body, r.Header.Get("Content-Type"), maxOps)
	if err != nil {
		err.write(w)
		return
	}
	units, err := plan(parts, root)
	if err != nil {
		err.write(w)
		return
	}
	s := &server{o: o, outer: r, root: root}
	if o.Begin == nil && s.hasChangeSet(units) {
		(&apiError{status: http.StatusNotImplemented, code: codeNotSupported, message: "Change sets are not supported by this server."}).write(w)
		return
	}
	keepGoing := continueOnError(r.Header)
	status, answers := s.run(units, keepGoing)
	boundary, out := encode(answers)
	h := w.Header()
	h.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	h.Set("OData-Version", "4.0")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	if keepGoing {
		h.Set("Preference-Applied", "odata.continue-on-error")
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// derivedRoot is the API root implied by the outer request's own URL.
func derivedRoot(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p := r.URL.Path
	return scheme + "://" + r.Host + p[:strings.LastIndex(p, "/")+1]
}

// continueOnError reports whether the client sent Prefer:
// odata.continue-on-error (or OData 4.01's continue-on-error), not set
// to false.
func continueOnError(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			p, _, _ = strings.Cut(p, ";")
			name, val, _ := strings.Cut(p, "=")
			name = strings.TrimSpace(name)
			if strings.EqualFold(name, "odata.continue-on-error") || strings.EqualFold(name, "continue-on-error") {
				val = strings.Trim(strings.TrimSpace(val), `"`)
				return val == "" || strings.EqualFold(val, "true")
			}
		}
	}
	return false
}

// server runs the operations of one batch.
type server struct {
	o     Options
	outer *http.Request
	root  *url.URL
}

func (s *server) hasChangeSet(units []unit) bool {
	for _, u := range units {
		if u.set != nil {
			return true
		}
	}
	return false
}

// run executes the units in order. Without keepGoing it stops at the first
// failure, whose status becomes the batch's (Dataverse: "the error for that
// request will be returned for the batch request"); the answers given so
// far, the failing one last, still form the body, so the client learns the
// outcome of the operations that did run.
func (s *server) run(units []unit, keepGoing bool) (int, []answerPart) {
	var out []answerPart
	ctx := s.outer.Context()
	for _, u := range units {
		if ctx.Err() != nil {
			break // the client is gone; nothing more is worth doing
		}
		if u.op != nil {
			a := s.exec(inner(ctx), u.op, nil)
			out = append(out, answerPart{single: a})
			if a.status >= 400 && !keepGoing {
				return a.status, out
			}
			continue
		}
		answers, failed := s.runSet(ctx, u.set)
		out = append(out, answerPart{set: answers})
		if failed && !keepGoing {
			return answers[0].status, out
		}
	}
	return http.StatusOK, out
}

// runSet runs a change set in one transaction. It returns the answers of
// all its operations, or, when the change set failed, the failing answer
// alone: Dataverse then sends a change-set response holding just the
// failing operation's answer (as seen in real answers; OData leaves it open).
func (s *server) runSet(ctx context.Context, set []*planned) (answers []*answer, failed bool) {
	txCtx, commit, rollback, err := s.o.Begin(ctx)
	if err != nil {
		return []*answer{(&apiError{status: http.StatusInternalServerError, code: codeUnexpected,
			message: fmt.Sprintf("The change set could not be started: %v.", err)}).answer("")}, true
	}
	if txCtx == nil {
		txCtx = ctx
	}
	settled := false
	defer func() {
		if !settled && rollback != nil {
			rollback()
		}
	}()
	ids := map[string]string{} // Content-ID → the entity URL it stands for
	for _, p := range set {
		a := s.exec(inner(txCtx), p, ids)
		if a.status < 200 || a.status > 299 {
			return []*answer{a}, true // the deferred rollback undoes the earlier operations
		}
		if p.contentID != "" {
			ids[p.contentID] = entityURL(a.header)
		}
		answers = append(answers, a)
	}
	settled = true
	if commit != nil {
		if err := commit(); err != nil {
			return []*answer{(&apiError{status: http.StatusInternalServerError, code: codeUnexpected,
				message: fmt.Sprintf("The change set could not be committed: %v.", err)}).answer("")}, true
		}
	}
	return answers, false
}

// entityURL is what $n stands for: the URL the operation answered with.
func entityURL(h http.Header) string {
	if u := h.Get("OData-EntityId"); u != "" {
		return u
	}
	return h.Get("Location")
}

func inner(ctx context.Context) context.Context { return context.WithValue(ctx, innerKey{}, true) }

// exec serves one operation through Exec. ids holds the entity URLs of the
// change set so far (nil outside change sets).
func (s *server) exec(ctx context.Context, p *planned, ids map[string]string) *answer {
	u := p.url
	if p.ref != "" {
		ent := ids[p.ref]
		if ent == "" {
			return noEntity(p.ref).answer(p.contentID)
		}
		var err *apiError
		if u, err = resolve(ent+p.suffix, s.root, p.where); err != nil {
			return err.answer(p.contentID)
		}
	}
	body := p.body
	if p.bodyRefs {
		var err *apiError
		if body, err = substitute(p.op, ids); err != nil {
			return err.answer(p.contentID)
		}
	}
	req, rerr := http.NewRequestWithContext(ctx, p.method, u.String(), bytes.NewReader(body))
	if rerr != nil {
		return bad("%s cannot be sent: %v.", upperFirst(p.where), rerr).answer(p.contentID)
	}
	// Make it look as a request the server received: a URL with path and
	// query only, and the connection facts of the outer request.
	req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	req.RequestURI = u.RequestURI()
	req.Host = u.Host
	req.RemoteAddr = s.outer.RemoteAddr
	req.TLS = s.outer.TLS
	req.Header = p.header.Clone()
	for _, k := range []string{"Content-Length", "Host", "Transfer-Encoding", "Connection"} {
		req.Header.Del(k)
	}
	for _, k := range slices.Concat(inherited, s.o.Inherit) {
		if _, own := req.Header[http.CanonicalHeaderKey(k)]; !own {
			if v := s.outer.Header.Values(k); len(v) > 0 {
				req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
			}
		}
	}
	if s.o.Exec == nil {
		return (&apiError{status: http.StatusNotImplemented, code: codeNotSupported, message: "This server cannot run batch operations."}).answer(p.contentID)
	}
	rec := newRecorder()
	s.o.Exec.ServeHTTP(rec, req)
	return rec.answer(p.contentID)
}
