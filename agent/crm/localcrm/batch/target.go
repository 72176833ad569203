package batch

import (
	"net/url"
	"path"
	"strings"
)

// resolve turns the URL of an inner request into an absolute URL on this
// service. Three forms are accepted, as Dataverse accepts them: a full URL
// of the same service, a path absolute on the server (/api/data/v9.2/...),
// and a path relative to the API root (tasks, accounts(<id>)/Account_Tasks).
func resolve(target string, root *url.URL, where string) (*url.URL, *apiError) {
	lower := strings.ToLower(target)
	var u *url.URL
	switch {
	case strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
		v, err := url.Parse(target)
		if err != nil {
			return nil, bad("The URL of %s is not valid: %v.", where, err)
		}
		// A batch may only address the service it was sent to; anything
		// else would make this server a proxy.
		if v.User != nil || !strings.EqualFold(v.Scheme, root.Scheme) || !strings.EqualFold(v.Host, root.Host) {
			return nil, bad("The URL '%s' of %s does not point at this service (%s).", truncate(target, 200), where, root.Scheme+"://"+root.Host)
		}
		u = v
	case strings.HasPrefix(target, "//"):
		return nil, bad("The URL '%s' of %s does not point at this service (%s).", truncate(target, 200), where, root.Scheme+"://"+root.Host)
	case strings.HasPrefix(target, "/"):
		v, err := url.Parse(target)
		if err != nil {
			return nil, bad("The URL of %s is not valid: %v.", where, err)
		}
		v.Scheme, v.Host = root.Scheme, root.Host
		u = v
	default:
		v, err := url.Parse(target)
		if err != nil {
			return nil, bad("The URL of %s is not valid: %v.", where, err)
		}
		if v.Scheme != "" || v.Host != "" || v.Opaque != "" {
			return nil, bad("The URL '%s' of %s is neither a path nor a URL of this service.", truncate(target, 200), where)
		}
		u = root.ResolveReference(v)
	}
	u.Fragment, u.RawFragment = "", ""
	if path.Base(u.Path) == "$batch" {
		return nil, bad("%s is a $batch request; a batch cannot contain another batch.", upperFirst(where))
	}
	return u, nil
}

// apiRoot parses the configured API root, or derives it from the outer
// request: same scheme and host, the path up to and including the last
// slash before $batch.
func apiRoot(raw string) (*url.URL, *apiError) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, &apiError{status: 500, code: codeUnexpected, message: "The server's API root is not an absolute URL; the $batch endpoint is wired wrongly."}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
