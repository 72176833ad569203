package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// guidRE matches a bare GUID as Dataverse writes it in keys and lookups.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s is a bare GUID.
func IsGUID(s string) bool { return guidRE.MatchString(s) }

// checkGUID refuses anything but a GUID before it is put into a URL path.
func checkGUID(op, what, id string) error {
	if !IsGUID(id) {
		return &Error{Op: op, Kind: KindBadRequest, Message: fmt.Sprintf("%s %q is not a GUID", what, clip(id, 64))}
	}
	return nil
}

// quote writes s as an OData string literal: single quotes, ” inside.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// query encodes OData system query options. Values are percent-encoded so
// reserved characters inside literals (+ & @ / #) survive.
func query(opts ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(opts); i += 2 {
		if opts[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(opts[i])
		b.WriteByte('=')
		b.WriteString(escapeQuery(opts[i+1]))
	}
	return b.String()
}

// escapeQuery percent-encodes a query value but keeps the characters that
// OData expressions use literally and that servers expect unescaped.
func escapeQuery(v string) string {
	return odataUnescaper.Replace(url.QueryEscape(v))
}

// odataUnescaper is built once: a Replacer builds its lookup tables on
// first use, and a query is escaped for every message decided.
var odataUnescaper = strings.NewReplacer("+", "%20", "%28", "(", "%29", ")", "%2C", ",", "%27", "'")

// collection is the shape of a Web API query answer.
type collection struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// maxPages bounds how many nextLinks one query follows, so a server that
// links to itself cannot keep the agent busy for ever.
const maxPages = 1000

// queryAll runs a GET and follows @odata.nextLink exactly as given, sending
// the same page-size preference again, calling fn for every row.
func (c *HTTPClient) queryAll(ctx context.Context, op, path string, pageSize int, fn func(json.RawMessage) error) error {
	return c.pages(ctx, op, path, preferHeader(pageSize, true), fn)
}

// pages runs a GET with header h and follows @odata.nextLink exactly as
// given, sending h again, calling fn for every row.
func (c *HTTPClient) pages(ctx context.Context, op, path string, h http.Header, fn func(json.RawMessage) error) error {
	next := path
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return &Error{Op: op, Kind: KindBadResponse, Message: fmt.Sprintf("more than %d pages; the server's paging does not end", maxPages)}
		}
		resp, err := c.do(ctx, request{op: op, method: "GET", path: next, header: h, idempotent: true})
		if err != nil {
			return err
		}
		var col collection
		if err := decode(op, resp, &col); err != nil {
			return err
		}
		if col.Value == nil {
			return &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the answer has no value array"}
		}
		for _, row := range col.Value {
			if err := fn(row); err != nil {
				return err
			}
		}
		if col.NextLink == next {
			return &Error{Op: op, Kind: KindBadResponse, Message: "the server's next page link points at the same page"}
		}
		next = col.NextLink
	}
	return nil
}

// preferHeader asks for a page size and, when annotations is set, for the
// lookup annotations that say which table a lookup GUID points at.
func preferHeader(pageSize int, annotations bool) map[string][]string {
	var prefs []string
	if pageSize > 0 {
		prefs = append(prefs, "odata.maxpagesize="+strconv.Itoa(pageSize))
	}
	if annotations {
		prefs = append(prefs, `odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"`)
	}
	if len(prefs) == 0 {
		return nil
	}
	return map[string][]string{"Prefer": {strings.Join(prefs, ",")}}
}

// entityIDFromHeader extracts the GUID from an OData-EntityId header such
// as https://org/api/data/v9.2/emails(00000000-0000-0000-0000-000000000000).
func entityIDFromHeader(v string) (string, bool) {
	open := strings.LastIndexByte(v, '(')
	if open < 0 || !strings.HasSuffix(v, ")") {
		return "", false
	}
	id := v[open+1 : len(v)-1]
	return id, IsGUID(id)
}
