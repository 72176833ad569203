package idp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// The directory the local CRM signs users in to. Like an Entra ID tenant it
// is reached by its id, by its domain name, or by the multi-tenant aliases
// "organizations" and "common"; all of them lead to the same users.
const (
	// TenantID is the tenant's id, as Entra ID reports it in tid claims
	// and in the 401 challenge.
	TenantID = "3f9d1c52-6b8e-4a17-9c2d-5e0f7a4b8c61"
	// TenantDomain is the tenant's verified domain name.
	TenantDomain = "demo.local"
)

// Public client applications the tenant knows. Any other client_id is
// refused with AADSTS700016, as Entra ID refuses an unregistered app.
const (
	// DevClientID is Microsoft's development and prototyping client id
	// for Dataverse, registered with the redirect URI http://localhost.
	DevClientID = "51f81489-12ee-4a9e-aaae-a2591f45987d"
	// AgentClientID is the client id the agent presents by default.
	AgentClientID = "crmsync"
)

// clientName is the name the sign-in pages show for a registered client.
func clientName(clientID string) (string, bool) {
	switch clientID {
	case DevClientID:
		return "Dataverse development client", true
	case AgentClientID:
		return "crmsync", true
	}
	return "", false
}

// Identity provider flavours (Options.Auth).
const (
	// AuthEntra makes the server answer as Microsoft Entra ID (the default).
	AuthEntra = "entra"
	// AuthADFS makes the 401 challenge point to AD FS paths, as an
	// on-premises deployment with AD FS does.
	AuthADFS = "adfs"
)

// Defaults of the interactive sign-in flows.
const (
	// DefaultAuthCodeTTL is the lifetime of authorization codes; Entra
	// documents about ten minutes, and longer is refused.
	DefaultAuthCodeTTL = 10 * time.Minute
	// DefaultDeviceCodeTTL is the lifetime of a device code (expires_in).
	DefaultDeviceCodeTTL = 15 * time.Minute
	// DefaultDeviceCodeInterval is the polling interval a device code
	// announces; faster polls get slow_down.
	DefaultDeviceCodeInterval = 5 * time.Second
	// idTokenTTL is how long an id_token is valid, as with Entra ID.
	idTokenTTL = time.Hour
)

// ErrUnknownAuth refuses an Auth flavour other than AuthEntra and AuthADFS.
var ErrUnknownAuth = errors.New(`localcrm: unknown auth flavour; the allowed values are "entra" and "adfs"`)

// endpointKind says whose rules an OAuth endpoint follows.
type endpointKind int

const (
	// epRoot is /oauth2/v2.0/..., kept as before: a refresh token with
	// every answer and refresh tokens that stay valid after use.
	epRoot endpointKind = iota
	// epEntra is /<tenant>/oauth2/...: Entra ID's rules.
	epEntra
	// epADFS is /adfs/oauth2/...: AD FS's rules.
	epADFS
)

// endpoint is the OAuth endpoint a request came to.
type endpoint struct {
	kind   endpointKind
	tenant string // the tenant path segment as sent (epEntra only)
	v1     bool   // Entra's v1.0 protocol (resource parameter, no v2.0 in the path)
}

// knownTenant reports whether a tenant path segment names this tenant.
func knownTenant(seg string) bool {
	switch strings.ToLower(seg) {
	case TenantID, TenantDomain, "organizations", "common":
		return true
	}
	return false
}

// challenge is the WWW-Authenticate value of a 401 from the Web API: where
// to sign in and for which resource, as Dataverse answers (Entra ID) or an
// on-premises deployment with AD FS answers.
func (s *Provider) challenge(origin string) string {
	authz := origin + "/" + TenantID + "/oauth2/authorize"
	if s.opts.Auth == AuthADFS {
		authz = origin + "/adfs/oauth2/authorize"
	}
	return "Bearer authorization_uri=" + authz + ", resource_id=" + origin + "/"
}

// tokenEndpointURL is where the 401 message tells people to sign in.
func (s *Provider) tokenEndpointURL(origin string) string {
	if s.opts.Auth == AuthADFS {
		return origin + "/adfs/oauth2/token"
	}
	return origin + "/" + TenantID + "/oauth2/v2.0/token"
}

// serveIdentity answers the sign-in endpoints and reports whether the path
// was one of them.
func (s *Provider) serveIdentity(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	switch {
	case path == "/oauth2/v2.0/token":
		s.handleToken(w, r, endpoint{kind: epRoot})
	case path == "/oauth2/v2.0/authorize":
		s.handleAuthorize(w, r, endpoint{kind: epRoot})
	case path == "/oauth2/v2.0/devicecode":
		s.handleDeviceCode(w, r, endpoint{kind: epRoot})
	case path == "/devicelogin" || path == "/adfs/oauth2/deviceauth" || path == "/adfs/oauth2/deviceauth/":
		s.handleDeviceLogin(w, r)
	case strings.HasPrefix(path, "/adfs/"):
		return s.serveADFS(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/adfs/"), "/"))
	case strings.EqualFold(path, "/common/discovery/instance"):
		s.handleInstanceDiscovery(w, r)
	case strings.HasPrefix(strings.ToLower(path), "/common/userrealm/"):
		s.handleUserRealm(w, r, path[len("/common/userrealm/"):])
	default:
		tenant, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if !ok || !identityPath(rest) {
			return false
		}
		if !knownTenant(tenant) {
			s.writeOAuthError(w, r, oauthErr(http.StatusBadRequest, "invalid_tenant", 90002,
				"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
			return true
		}
		s.serveTenant(w, r, tenant, rest)
	}
	return true
}

// identityPath reports whether a path below a tenant segment is one of
// Entra's, so that other unknown paths stay OData 404s.
func identityPath(rest string) bool {
	for _, p := range []string{"oauth2/", "v2.0/", "discovery/", ".well-known/"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// serveTenant answers /<tenant>/...; the v1.0 paths serve the same flows
// with the resource parameter, for clients that follow the challenge's
// authorization_uri literally.
func (s *Provider) serveTenant(w http.ResponseWriter, r *http.Request, tenant, rest string) {
	v2 := endpoint{kind: epEntra, tenant: tenant}
	v1 := endpoint{kind: epEntra, tenant: tenant, v1: true}
	switch rest {
	case "v2.0/.well-known/openid-configuration":
		s.handleEntraDiscovery(w, r, tenant, false)
	case ".well-known/openid-configuration":
		s.handleEntraDiscovery(w, r, tenant, true)
	case "oauth2/v2.0/authorize":
		s.handleAuthorize(w, r, v2)
	case "oauth2/authorize":
		s.handleAuthorize(w, r, v1)
	case "oauth2/v2.0/token":
		s.handleToken(w, r, v2)
	case "oauth2/token":
		s.handleToken(w, r, v1)
	case "oauth2/v2.0/devicecode":
		s.handleDeviceCode(w, r, v2)
	case "oauth2/devicecode":
		s.handleDeviceCode(w, r, v1)
	case "oauth2/v2.0/logout", "oauth2/logout":
		s.handleLogout(w, r)
	case "discovery/v2.0/keys", "discovery/keys":
		s.handleKeys(w, r)
	default:
		wire.WriteError(w, wire.NotFoundSegment(strings.TrimPrefix(r.URL.Path, "/")))
	}
}

// serveADFS answers /adfs/...; AD FS publishes its endpoints with a
// trailing slash, so both spellings are accepted.
func (s *Provider) serveADFS(w http.ResponseWriter, r *http.Request, rest string) bool {
	ep := endpoint{kind: epADFS}
	switch rest {
	case ".well-known/openid-configuration":
		s.handleADFSDiscovery(w, r)
	case "oauth2/authorize":
		s.handleAuthorize(w, r, ep)
	case "oauth2/token":
		s.handleToken(w, r, ep)
	case "oauth2/devicecode":
		s.handleDeviceCode(w, r, ep)
	case "oauth2/logout":
		s.handleLogout(w, r)
	case "discovery/keys":
		s.handleKeys(w, r)
	default:
		return false
	}
	return true
}

// writeDiscovery writes a public JSON document that clients may cache.
func writeDiscovery(w http.ResponseWriter, r *http.Request, v any) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Only GET is allowed here.", http.StatusMethodNotAllowed)
		return
	}
	body, err := wire.Marshal(v)
	if err != nil {
		http.Error(w, "The document could not be written.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=86400, private")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(body)
}

// handleEntraDiscovery serves the OpenID Connect discovery document in the
// shape Entra ID publishes. For the multi-tenant aliases the issuer holds
// the {tenantid} placeholder, as Entra's does.
func (s *Provider) handleEntraDiscovery(w http.ResponseWriter, r *http.Request, tenant string, v1 bool) {
	base := s.origin(r)
	t := base + "/" + tenant
	issuerTenant := TenantID
	switch strings.ToLower(tenant) {
	case "common", "organizations":
		issuerTenant = "{tenantid}"
	}
	host := hostOnly(base)
	oauth := t + "/oauth2/v2.0/"
	issuer := base + "/" + issuerTenant + "/v2.0"
	keys := t + "/discovery/v2.0/keys"
	if v1 {
		oauth = t + "/oauth2/"
		issuer = base + "/" + issuerTenant + "/"
		keys = t + "/discovery/keys"
	}
	doc := wire.Object{
		{"token_endpoint", oauth + "token"},
		{"token_endpoint_auth_methods_supported", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}},
		{"jwks_uri", keys},
		{"response_modes_supported", []string{"query", "fragment", "form_post"}},
		{"subject_types_supported", []string{"pairwise"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
		{"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token"}},
		{"scopes_supported", []string{"openid", "profile", "email", "offline_access"}},
		{"issuer", issuer},
		{"request_uri_parameter_supported", false},
		{"authorization_endpoint", oauth + "authorize"},
		{"device_authorization_endpoint", oauth + "devicecode"},
		{"http_logout_supported", true},
		{"frontchannel_logout_supported", true},
		{"end_session_endpoint", oauth + "logout"},
		{"claims_supported", []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"}},
		{"tenant_region_scope", "EU"},
		{"cloud_instance_name", host},
		{"cloud_graph_host_name", host},
		{"msgraph_host", host},
	}
	writeDiscovery(w, r, doc)
}

// handleADFSDiscovery serves the discovery document in AD FS's shape.
func (s *Provider) handleADFSDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.origin(r)
	a := base + "/adfs"
	doc := wire.Object{
		{"issuer", a},
		{"authorization_endpoint", a + "/oauth2/authorize"},
		{"token_endpoint", a + "/oauth2/token"},
		{"jwks_uri", a + "/discovery/keys"},
		{"token_endpoint_auth_methods_supported", []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"}},
		{"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"}},
		{"response_modes_supported", []string{"query", "fragment", "form_post"}},
		{"grant_types_supported", []string{"authorization_code", "refresh_token", "password",
			"urn:ietf:params:oauth:grant-type:device_code", "device_code"}},
		{"subject_types_supported", []string{"pairwise"}},
		{"scopes_supported", []string{"allatclaims", "email", "profile", "openid", "user_impersonation", "offline_access"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
		{"token_endpoint_auth_signing_alg_values_supported", []string{"RS256"}},
		{"access_token_issuer", "http://" + hostOnly(base) + "/adfs/services/trust"},
		{"claims_supported", []string{"aud", "iss", "iat", "exp", "auth_time", "nonce", "at_hash", "c_hash",
			"sub", "upn", "unique_name", "pwd_url", "pwd_exp", "mfa_auth_time", "sid", "nbf"}},
		{"microsoft_multi_refresh_token", true},
		{"capabilities", []string{}},
		{"end_session_endpoint", a + "/oauth2/logout"},
		{"frontchannel_logout_supported", true},
		{"frontchannel_logout_session_supported", true},
		{"device_authorization_endpoint", a + "/oauth2/devicecode"},
		{"code_challenge_methods_supported", []string{"plain", "S256"}},
	}
	writeDiscovery(w, r, doc)
}

// handleInstanceDiscovery answers Entra's instance discovery, with this
// server as the only cloud and alias.
func (s *Provider) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.origin(r)
	tenant := TenantID
	if u, err := url.Parse(r.URL.Query().Get("authorization_endpoint")); err == nil {
		if seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); knownTenant(seg) {
			tenant = seg
		}
	}
	host := hostPort(base)
	writeDiscovery(w, r, wire.Object{
		{"tenant_discovery_endpoint", base + "/" + tenant + "/v2.0/.well-known/openid-configuration"},
		{"api-version", "1.1"},
		{"metadata", []wire.Object{{
			{"preferred_network", host},
			{"preferred_cache", host},
			{"aliases", []string{host}},
		}}},
	})
}

// handleUserRealm answers Entra's home realm discovery, which MSAL asks
// before a password sign-in. Every address is a managed (cloud) account
// of this tenant, so the answer does not reveal which users exist.
func (s *Provider) handleUserRealm(w http.ResponseWriter, r *http.Request, upn string) {
	name, err := url.PathUnescape(upn)
	if err != nil {
		name = upn
	}
	_, domain, ok := strings.Cut(name, "@")
	if !ok || domain == "" {
		writeDiscovery(w, r, wire.Object{
			{"ver", "1.0"}, {"account_type", "Unknown"},
			{"cloud_instance_name", hostOnly(s.origin(r))}, {"cloud_audience_urn", "urn:federation:MicrosoftOnline"},
		})
		return
	}
	writeDiscovery(w, r, wire.Object{
		{"ver", "1.0"},
		{"account_type", "Managed"},
		{"domain_name", strings.ToLower(domain)},
		{"cloud_instance_name", hostOnly(s.origin(r))},
		{"cloud_audience_urn", "urn:federation:MicrosoftOnline"},
	})
}

// hostPort is the host[:port] of an origin.
func hostPort(origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		return u.Host
	}
	return origin
}

// hostOnly is the host name of an origin, without the port.
func hostOnly(origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return origin
}
