package localcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// call is one Web API request on its way through the server.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	origin string // scheme://host
	base   string // absolute Web API root, ending in "/"
	user   *user  // the authenticated caller

	prefer  prefs
	options map[string]string // $-options, decoded
	aliases map[string]string // @alias -> decoded text
	applied []string          // preferences to echo in Preference-Applied
}

// segment is one path segment: a name with an optional parenthesised part.
type segment struct {
	name   string
	args   string // inside the parentheses
	parens bool
}

func (g segment) String() string {
	if g.parens {
		return g.name + "(" + g.args + ")"
	}
	return g.name
}

// splitPath splits the decoded path on '/' outside quotes and parentheses,
// so a quoted function argument may contain a slash.
func splitPath(p string) ([]segment, *apiError) {
	parts := splitTop(p, '/')
	var out []segment
	for i, part := range parts {
		if part == "" {
			if i == len(parts)-1 {
				continue // a trailing slash
			}
			return nil, badRequest("The request URL has an empty path segment.")
		}
		open := strings.IndexByte(part, '(')
		if open < 0 {
			out = append(out, segment{name: part})
			continue
		}
		if !strings.HasSuffix(part, ")") {
			return nil, badRequest("Bad Request - Error in query syntax: unbalanced parentheses in '%s'.", part)
		}
		out = append(out, segment{name: part[:open], args: part[open+1 : len(part)-1], parens: true})
	}
	return out, nil
}

// run authenticates, applies the service limits and dispatches.
func (c *call) run(rest string) error {
	segs, aerr := splitPath(rest)
	if aerr != nil {
		return aerr
	}
	switch c.r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut:
	default:
		return methodNotAllowed(c.r.Method, "the Web API", "GET", "POST", "PATCH", "DELETE", "PUT")
	}
	u, err := c.s.authenticate(c.ctx, c.r, c.origin)
	if err != nil {
		return err
	}
	c.user = u
	if wait, ok := c.s.limiter.allow(u.id, c.s.now()); !ok {
		e := errf(http.StatusTooManyRequests, codeRateLimit,
			"Number of requests exceeded the limit of %d over time window of %d seconds.",
			c.s.opts.RateLimit, int(c.s.opts.RateWindow.Seconds()))
		e.header = http.Header{"Retry-After": {strconv.Itoa(wait)}}
		return e
	}
	if err := c.parseQuery(); err != nil {
		return err
	}
	c.prefer = parsePrefer(c.r.Header.Values("Prefer"))
	return c.dispatch(segs)
}

// dispatch picks the handler for the path.
func (c *call) dispatch(segs []segment) error {
	m := c.r.Method
	if len(segs) == 0 {
		if m != http.MethodGet {
			return methodNotAllowed(m, "the service document", "GET")
		}
		return c.serviceDocument()
	}
	first := segs[0]
	switch first.name {
	case "$metadata":
		if m != http.MethodGet {
			return methodNotAllowed(m, "$metadata", "GET")
		}
		return c.metadata()
	case "$batch":
		return errf(http.StatusNotImplemented, codeNotSupported, "$batch is not supported by this server; send the requests one by one.")
	case "WhoAmI", "CheckIncomingEmail", "CheckPromoteEmail":
		if len(segs) > 1 {
			return notFoundSegment(segs[1].String())
		}
		if m != http.MethodGet {
			return methodNotAllowed(m, first.name, "GET")
		}
		args, err := parseFuncArgs(first.args, c.aliases)
		if err != nil {
			return err
		}
		return c.unboundFunction(first.name, args)
	}
	ent, ok := tables.set(first.name)
	if !ok {
		return notFoundSegment(first.String())
	}
	if !first.parens {
		if len(segs) == 1 {
			switch m {
			case http.MethodGet:
				return c.list(ent)
			case http.MethodPost:
				return c.create(ent)
			}
			return methodNotAllowed(m, "'"+ent.set+"'", "GET", "POST")
		}
		if len(segs) == 2 {
			return c.boundOperation(ent, "", segs[1])
		}
		return notFoundSegment(segs[2].String())
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
		return methodNotAllowed(m, "'"+first.String()+"'", "GET", "PATCH", "DELETE")
	case 2:
		sub := segs[1]
		if ent.set == "emails" && sub.name == "email_activity_parties" && !sub.parens {
			return c.partiesNav(ent, id)
		}
		if ent.property(sub.name) && !sub.parens {
			if m != http.MethodGet {
				return methodNotAllowed(m, "'"+sub.name+"'", "GET")
			}
			return c.propertyValue(ent, id, sub.name)
		}
		return c.boundOperation(ent, id, sub)
	case 3:
		if segs[2].name == "$ref" && !segs[2].parens && !segs[1].parens {
			return c.reference(ent, id, segs[1].name)
		}
		return notFoundSegment(segs[2].String())
	}
	return notFoundSegment(segs[3].String())
}

// parseKey reads the record id from set(<guid>).
func parseKey(ent *entity, g segment) (string, error) {
	if id, ok := parseGUID(g.args); ok {
		return id, nil
	}
	if strings.Contains(g.args, "=") {
		return "", badRequest("Alternate keys such as '%s' are not supported by this server; address the record as %s(<guid>).", g.args, ent.set)
	}
	return "", badRequest("The key '%s' in '%s' is not a GUID; address a record as %s(00000000-0000-0000-0000-000000000000).", g.args, g, ent.set)
}

// Query string.

// supportedOptions are the system query options this server implements.
var supportedOptions = map[string]bool{
	"$select": true, "$filter": true, "$orderby": true, "$top": true, "$count": true,
	"$expand": true, "$skiptoken": true,
}

// parseQuery splits the raw query into $-options and @aliases. Other
// names are custom options, which OData lets a service ignore.
func (c *call) parseQuery() error {
	c.options, c.aliases = map[string]string{}, map[string]string{}
	raw := c.r.URL.RawQuery
	if raw == "" {
		return nil
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return badRequest("The query string has an invalid percent-encoding in '%s'.", truncate(part, 80))
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return badRequest("The query string is not valid UTF-8.")
		}
		switch {
		case strings.HasPrefix(key, "$"):
			switch key {
			case "$skip", "$search", "$format", "$apply", "$levels", "$compute", "$index", "$schemaversion":
				return badRequest("The query parameter %s is not supported", key)
			}
			if !supportedOptions[key] {
				return badRequest("The query parameter '%s' is not supported. Query option names are case-sensitive; the supported ones are $select, $filter, $orderby, $top, $count and $expand.", key)
			}
			if _, dup := c.options[key]; dup {
				return badRequest("Query option '%s' was specified more than once, but it must be specified at most once.", key)
			}
			c.options[key] = val
		case strings.HasPrefix(key, "@"):
			if _, dup := c.aliases[key]; dup {
				return badRequest("The parameter alias '%s' was specified more than once.", key)
			}
			c.aliases[key] = val
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Prefer header.

// prefs are the Prefer values this server acts on.
type prefs struct {
	representation bool
	maxPageSize    int    // 0 = not asked
	annotations    string // raw include-annotations value, "" = none
}

// splitPrefer splits on commas outside double quotes.
func splitPrefer(v string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func parsePrefer(values []string) prefs {
	var p prefs
	for _, v := range values {
		for _, item := range splitPrefer(v) {
			k, val, _ := strings.Cut(strings.TrimSpace(item), "=")
			k = strings.ToLower(strings.TrimSpace(k))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch k {
			case "return":
				p.representation = strings.EqualFold(val, "representation")
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(val); err == nil && n > 0 {
					p.maxPageSize = n
				}
			case "odata.include-annotations":
				p.annotations = val
			}
		}
	}
	return p
}

// wantAnnotation reports whether the client asked for the annotation
// (e.g. "Microsoft.Dynamics.CRM.lookuplogicalname").
func (p prefs) wantAnnotation(name string) bool {
	for _, pat := range strings.Split(p.annotations, ",") {
		pat = strings.TrimSpace(pat)
		switch {
		case pat == "":
		case pat == "*" || pat == name:
			return true
		case strings.HasSuffix(pat, ".*") && strings.HasPrefix(name, strings.TrimSuffix(pat, "*")):
			return true
		}
	}
	return false
}

// applyAnnotationsPref echoes an include-annotations preference.
func (c *call) applyAnnotationsPref() {
	if c.prefer.annotations != "" {
		c.applied = append(c.applied, `odata.include-annotations="`+c.prefer.annotations+`"`)
	}
}

// respond writes a success answer with the Preference-Applied header.
func (c *call) respond(status int, body any) {
	if len(c.applied) > 0 {
		c.w.Header().Set("Preference-Applied", strings.Join(c.applied, ","))
	}
	if body == nil {
		c.w.Header().Set("OData-Version", "4.0")
		c.w.WriteHeader(status)
		return
	}
	writeJSON(c.w, status, body)
}

// Body.

// readBody reads and checks a JSON request body: media type, size, UTF-8
// and syntax. The result is an object with numbers kept exact.
func (c *call) readBody() (map[string]any, error) {
	ct := c.r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, errf(http.StatusUnsupportedMediaType, codePayload,
			"The content type '%s' is not supported; send the body as application/json.", truncate(ct, 100))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errf(http.StatusUnsupportedMediaType, codePayload, "Only the UTF-8 charset is supported for JSON bodies.")
	}
	limit := c.s.opts.MaxBodyBytes
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(http.StatusRequestEntityTooLarge, codePayload,
				"The request body is larger than the %d bytes this server accepts.", limit)
		}
		return nil, badPayload("The request body could not be read: %v", err)
	}
	if !utf8.Valid(data) {
		return nil, badPayload("The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badPayload("The request body is not valid JSON: %v.", err)
	}
	if dec.More() {
		return nil, badPayload("The request body holds more than one JSON value.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badPayload("The request body holds data after the JSON value.")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badPayload("The request body must be a JSON object, not %s.", jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}
