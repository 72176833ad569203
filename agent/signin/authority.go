package signin

import (
	"errors"
	"net/url"
	"strings"

	"crmsync/agent/crm"
)

// Kind is the sign-in service's flavour.
type Kind int

// The sign-in service flavours.
const (
	Entra Kind = iota // Microsoft Entra ID (v2.0 endpoints), or the local CRM acting as it
	ADFS              // Active Directory Federation Services, for on-premises CRMs
)

// String names the flavour for logs and the settings file.
func (k Kind) String() string {
	switch k {
	case Entra:
		return "entra"
	case ADFS:
		return "adfs"
	}
	return "unknown"
}

// Authority is where a CRM's users sign in.
type Authority struct {
	Kind     Kind   // which endpoint paths and parameters the service takes
	URL      string // Entra: <host>/<tenant>; AD FS: <host>/adfs; no trailing slash
	TenantID string // the tenant path segment (GUID, domain or "organizations"); empty for AD FS
	Resource string // the CRM root the tokens are for, e.g. https://org.crm.dynamics.com (no trailing slash)
}

// AuthorizeURL is the authorization endpoint of the browser sign-in.
func (a Authority) AuthorizeURL() string { return a.endpoint("authorize") }

// TokenURL is the token endpoint.
func (a Authority) TokenURL() string { return a.endpoint("token") }

// DeviceCodeURL is the device authorization endpoint of the device code sign-in.
func (a Authority) DeviceCodeURL() string { return a.endpoint("devicecode") }

func (a Authority) endpoint(name string) string {
	if a.Kind == ADFS {
		return a.URL + "/oauth2/" + name
	}
	return a.URL + "/oauth2/v2.0/" + name
}

// ParseAuthority builds an Authority from an authorization_uri as the 401
// challenge gives it and the resource. Like Microsoft's SDK it strips the
// endpoint from the URI, and turns the tenant "common" into
// "organizations", since a work account is needed for a CRM.
func ParseAuthority(authorizationURI, resource string) (_ Authority, err error) {
	defer func() { err = userFacing(err) }()
	const op = "parse sign-in address"
	u, err := checkURL(op, "sign-in address", authorizationURI)
	if err != nil {
		return Authority{}, err
	}
	res, err := parseResource(op, resource)
	if err != nil {
		return Authority{}, err
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/oauth2/v2.0/authorize", "/oauth2/authorize", "/authorize"} {
		if len(p) >= len(suffix) && strings.EqualFold(p[len(p)-len(suffix):], suffix) {
			p = p[:len(p)-len(suffix)]
			break
		}
	}
	p = strings.TrimRight(p, "/")
	origin := u.Scheme + "://" + u.Host
	last := p[strings.LastIndex(p, "/")+1:]
	if strings.EqualFold(last, "adfs") {
		return Authority{Kind: ADFS, URL: origin + p, Resource: res}, nil
	}
	if last == "" {
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse,
			Message: "The sign-in address names no tenant (expected https://login.microsoftonline.com/<tenant>/oauth2/authorize); check --authority."}
	}
	if strings.EqualFold(last, "common") {
		last = "organizations" // personal Microsoft accounts cannot use a CRM
		p = p[:len(p)-len("common")] + last
	}
	return Authority{Kind: Entra, URL: origin + p, TenantID: last, Resource: res}, nil
}

// parseResource checks the resource and drops its trailing slash, so that
// "<resource>/user_impersonation" has exactly one.
func parseResource(op, resource string) (string, error) {
	r := strings.TrimRight(strings.TrimSpace(resource), "/")
	u, err := url.Parse(r)
	if r == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", &crm.Error{Op: op, Kind: crm.KindBadResponse,
			Message: "The CRM named no valid resource to sign in to; check the CRM address."}
	}
	return r, nil
}

// checkURL enforces the transport rule of crm.CheckURL (https unless
// loopback) with a message that does not repeat the address.
func checkURL(op, what, raw string) (*url.URL, error) {
	u, err := crm.CheckURL(what, raw)
	if err == nil {
		return u, nil
	}
	e := &crm.Error{Op: op, Kind: crm.KindBadRequest, Err: crm.ErrInvalidURL,
		Message: "The " + what + " is not a valid web address; enter it as https://host/path."}
	if errors.Is(err, crm.ErrInsecureURL) {
		e.Err = crm.ErrInsecureURL
		e.Message = "The " + what + " uses http; https is required for anything that is not on this computer."
	}
	return nil, e
}

// challenge is one authentication challenge of a WWW-Authenticate header.
type challenge struct {
	scheme string            // as sent; compare case-insensitively
	params map[string]string // keys lower-cased, values unquoted
}

// parseChallenges reads every challenge of the given WWW-Authenticate
// header values (RFC 7235 §4.1). A header may carry several challenges
// ("Negotiate, NTLM"), and a challenge several comma-separated
// parameters; a comma-separated item without "=" before its first space
// starts a new challenge. It never fails: what it cannot read, it skips.
func parseChallenges(headers []string) []challenge {
	var out []challenge
	for _, h := range headers {
		for _, item := range splitQuoted(h) {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			word, rest, _ := strings.Cut(item, " ")
			if !strings.Contains(word, "=") {
				out = append(out, challenge{scheme: word, params: map[string]string{}})
				item = strings.TrimSpace(rest)
				if item == "" || isToken68(item) {
					continue
				}
			}
			if len(out) == 0 {
				continue // a parameter before any scheme: garbage
			}
			k, v, ok := strings.Cut(item, "=")
			k = strings.ToLower(strings.TrimSpace(k))
			if !ok || k == "" {
				continue
			}
			out[len(out)-1].params[k] = unquote(strings.TrimSpace(v))
		}
	}
	return out
}

// splitQuoted splits s at commas outside quoted strings.
func splitQuoted(s string) []string {
	var parts []string
	start, quoted, escaped := 0, false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote undoes an RFC 7230 quoted-string; other values stay as they are.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	inner := v[1 : len(v)-1]
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' && i+1 < len(inner) {
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String()
}

// isToken68 reports whether s is an RFC 7235 token68 (a bare credential
// such as a Negotiate blob), which is not a name=value parameter.
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range body {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/", c)
		if !ok {
			return false
		}
	}
	return true
}
