package dav

import (
	"net/url"
	"path"
	"strings"
)

// decodeHref turns an href as a server writes it (a path or a full URL,
// percent-encoded, maybe relative to the request's path) into the
// decoded absolute path the package's callers see. ok is false for an
// href that is not a URL at all, which the caller skips.
func decodeHref(raw, base string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") {
		// Relative hrefs are rare but legal (RFC 4918 §8.3): resolve them
		// against the collection the request was for.
		dir := base
		if !strings.HasSuffix(dir, "/") {
			dir = path.Dir(dir) + "/"
		}
		p = dir + p
	}
	return cleanHref(p), true
}

// cleanHref removes "." and ".." and doubled slashes from an absolute
// path, keeping a trailing slash, so that one resource has one spelling.
func cleanHref(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// encodeHref percent-encodes a decoded absolute path for a request line
// or an XML href, segment by segment; "/" stays a separator.
func encodeHref(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// sameHref reports whether two decoded hrefs name the same collection,
// one spelled with a trailing slash and one without.
func sameHref(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// lastSegment is the last non-empty segment of a path: "contacts" for
// "/alice/contacts/".
func lastSegment(p string) string {
	return path.Base(strings.TrimSuffix(p, "/"))
}

// asCollection ends p with exactly one "/".
func asCollection(p string) string {
	return strings.TrimSuffix(p, "/") + "/"
}
