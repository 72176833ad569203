package odata

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// Segment is one path segment: a name with an optional parenthesised part.
type Segment struct {
	Name   string
	Args   string // inside the parentheses
	Parens bool
}

// String writes the segment as it was sent.
func (g Segment) String() string {
	if g.Parens {
		return g.Name + "(" + g.Args + ")"
	}
	return g.Name
}

// SplitPath splits the decoded path on '/' outside quotes and parentheses,
// so a quoted function argument may contain a slash.
func SplitPath(p string) ([]Segment, error) {
	parts := SplitTop(p, '/')
	var out []Segment
	for i, part := range parts {
		if part == "" {
			if i == len(parts)-1 {
				continue // a trailing slash
			}
			return nil, wire.BadRequest("The request URL has an empty path segment.")
		}
		open := strings.IndexByte(part, '(')
		if open < 0 {
			out = append(out, Segment{Name: part})
			continue
		}
		if !strings.HasSuffix(part, ")") {
			return nil, wire.BadRequest("Bad Request - Error in query syntax: unbalanced parentheses in '%s'.", part)
		}
		out = append(out, Segment{Name: part[:open], Args: part[open+1 : len(part)-1], Parens: true})
	}
	return out, nil
}

// SplitTop splits s on sep outside parentheses and quotes.
func SplitTop(s string, sep byte) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\'':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case ch == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// supportedOptions are the system query options this server implements.
var supportedOptions = map[string]bool{
	"$select": true, "$filter": true, "$orderby": true, "$top": true, "$count": true,
	"$expand": true, "$skiptoken": true,
}

// Query is a request's query string: its system query options and its
// parameter aliases, decoded. Other names are custom options, which OData
// lets a service ignore.
type Query struct {
	Options map[string]string // $-options
	Aliases map[string]string // @alias -> its text
	// FetchXML is the fetchXml parameter, a FetchXML query in place of
	// the $-options ([PAD] fetchxml/overview.md); HasFetch tells it was sent.
	FetchXML string
	HasFetch bool
	raw      string
}

// ParseQuery splits a raw query string. Options Dataverse refuses ($skip,
// $search, $format, ...) are refused, as are unknown or repeated ones.
func ParseQuery(raw string) (Query, error) {
	q := Query{Options: map[string]string{}, Aliases: map[string]string{}, raw: raw}
	if raw == "" {
		return q, nil
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return q, wire.BadRequest("The query string has an invalid percent-encoding in '%s'.", wire.Truncate(part, 80))
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return q, wire.BadRequest("The query string is not valid UTF-8.")
		}
		switch {
		case strings.HasPrefix(key, "$"):
			switch key {
			case "$skip", "$search", "$format", "$apply", "$levels", "$compute", "$index", "$schemaversion":
				return q, wire.BadRequest("The query parameter %s is not supported", key)
			}
			if !supportedOptions[key] {
				return q, wire.BadRequest("The query parameter '%s' is not supported. Query option names are case-sensitive; the supported ones are $select, $filter, $orderby, $top, $count and $expand.", key)
			}
			if _, dup := q.Options[key]; dup {
				return q, wire.BadRequest("Query option '%s' was specified more than once, but it must be specified at most once.", key)
			}
			q.Options[key] = val
		case key == "fetchXml":
			if q.HasFetch {
				return q, wire.BadRequest("The query parameter 'fetchXml' was specified more than once.")
			}
			q.FetchXML, q.HasFetch = val, true
		case strings.HasPrefix(key, "@"):
			if _, dup := q.Aliases[key]; dup {
				return q, wire.BadRequest("The parameter alias '%s' was specified more than once.", key)
			}
			q.Aliases[key] = val
		}
	}
	return q, nil
}

// fingerprint identifies the rows a query selects and their order, so a
// $skiptoken is refused by any other query.
func (q Query) fingerprint() string {
	keys := make([]string, 0, len(q.Aliases))
	for k := range q.Aliases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(q.Options["$filter"] + "\x00" + q.Options["$orderby"] + "\x00")
	for _, k := range keys {
		b.WriteString(k + "=" + q.Aliases[k] + "\x00")
	}
	h := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// NextLink repeats the query under collectionURL with a new $skiptoken.
func (q Query) NextLink(collectionURL, token string) string {
	var parts []string
	for _, p := range strings.Split(q.raw, "&") {
		k, _, _ := strings.Cut(p, "=")
		if p == "" || k == "$skiptoken" || k == "%24skiptoken" {
			continue
		}
		parts = append(parts, p)
	}
	parts = append(parts, "$skiptoken="+url.QueryEscape(token))
	return collectionURL + "?" + strings.Join(parts, "&")
}

// Prefs are the Prefer values this server acts on.
type Prefs struct {
	Representation bool   // return=representation
	MaxPageSize    int    // odata.maxpagesize; 0 = not asked
	Annotations    string // the raw odata.include-annotations value; "" = none
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

// ParsePrefer reads the Prefer header's values.
func ParsePrefer(values []string) Prefs {
	var p Prefs
	for _, v := range values {
		for _, item := range splitPrefer(v) {
			k, val, _ := strings.Cut(strings.TrimSpace(item), "=")
			k = strings.ToLower(strings.TrimSpace(k))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch k {
			case "return":
				p.Representation = strings.EqualFold(val, "representation")
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(val); err == nil && n > 0 {
					p.MaxPageSize = n
				}
			case "odata.include-annotations":
				p.Annotations = val
			}
		}
	}
	return p
}

// Want reports whether the client asked for the annotation
// (e.g. "Microsoft.Dynamics.CRM.lookuplogicalname").
func (p Prefs) Want(name string) bool {
	for _, pat := range strings.Split(p.Annotations, ",") {
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
