package crm

import (
	"fmt"
	"net/url"
	"strings"

	"crmsync/agent/internal/transport"
)

// CheckURL parses a CRM or token endpoint address and enforces the
// transport rule: https for anything that is not loopback. what names the
// address in the error ("CRM address", "token endpoint").
func CheckURL(what, raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%w: the %s is empty; enter it as https://yourorg.crm.dynamics.com", ErrInvalidURL, what)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: the %s %q is not a web address; enter it as https://yourorg.crm.dynamics.com", ErrInvalidURL, what, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: the %s must not contain a user name or password; enter them in the sign-in form", ErrInvalidURL, what)
	}
	if u.Scheme == "http" && !transport.IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: the %s %s uses http; https is required for any CRM that is not on this computer", ErrInsecureURL, what, u.Redacted())
	}
	return u, nil
}

// APIBase returns the Web API root for a CRM address: the address itself
// when it already points at /api/data/vX.Y, else address + /api/data/v9.2/.
func APIBase(u *url.URL) *url.URL {
	b := *u
	b.RawQuery, b.Fragment = "", ""
	p := strings.TrimRight(b.Path, "/")
	if !strings.Contains(p, "/api/data/") {
		p += "/api/data/v9.2"
	}
	b.Path = p + "/"
	b.RawPath = ""
	return &b
}

// defaultTokenURL is where the local CRM serves its token endpoint.
func defaultTokenURL(u *url.URL) string {
	b := *u
	b.RawQuery, b.Fragment, b.RawPath = "", "", ""
	p := b.Path
	if i := strings.Index(p, "/api/data/"); i >= 0 {
		p = p[:i]
	}
	b.Path = strings.TrimRight(p, "/") + "/oauth2/v2.0/token"
	return b.String()
}
