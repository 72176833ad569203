package idp

import (
	"net/http"
	"strings"
)

// oidcScopes are the OpenID Connect scopes Entra ID accepts next to a
// resource's scopes; they ask for an id_token, profile claims and a
// refresh token rather than for access to the resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeSet is a parsed scope request: the resource's scopes and the OIDC
// ones, each in the order sent and without repeats.
type scopeSet struct {
	resource []string
	oidc     []string
	raw      string // the scope as sent, kept by the root endpoint
}

// has reports whether an OIDC scope was requested.
func (sc scopeSet) has(name string) bool {
	for _, s := range sc.oidc {
		if s == name {
			return true
		}
	}
	return false
}

// stored is the form kept with tokens and codes: everything requested.
func (sc scopeSet) stored() string {
	if sc.raw != "" {
		return sc.raw
	}
	return strings.Join(append(append([]string{}, sc.resource...), sc.oidc...), " ")
}

// granted is the scope an answer reports: the resource's scopes and the
// OIDC scopes that describe claims; offline_access is not echoed, as
// Entra ID does not echo it.
func (sc scopeSet) granted() string {
	if sc.raw != "" {
		return sc.raw
	}
	out := append([]string{}, sc.resource...)
	for _, s := range sc.oidc {
		if s != "offline_access" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// withOffline adds offline_access, for a refresh that keeps the right to
// refresh again.
func (sc scopeSet) withOffline() scopeSet {
	if sc.has("offline_access") || sc.raw != "" {
		return sc
	}
	sc.oidc = append(append([]string{}, sc.oidc...), "offline_access")
	return sc
}

// parseScope reads the scope (and, for Entra v1.0 and AD FS, the resource)
// of a request. The root endpoint takes any scope, as it always has; the
// tenant and AD FS endpoints accept only this CRM's scopes, as Entra ID
// refuses scopes of resources it does not know.
func parseScope(ep endpoint, origin, scope, resource string) (scopeSet, *oauthError) {
	var sc scopeSet
	seen := map[string]bool{}
	for _, f := range strings.Fields(scope) {
		low := strings.ToLower(f)
		if seen[low] {
			continue
		}
		seen[low] = true
		if oidcScopes[low] {
			sc.oidc = append(sc.oidc, low)
			continue
		}
		if ep.kind != epRoot && !crmScope(origin, f) {
			return sc, oauthErr(http.StatusBadRequest, "invalid_scope", 70011,
				"The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid.", f)
		}
		sc.resource = append(sc.resource, f)
	}
	if ep.kind == epRoot {
		sc.raw = strings.TrimSpace(scope)
		if sc.raw == "" {
			sc.raw = origin + "/user_impersonation"
		}
		return sc, nil
	}
	if resource != "" {
		if ep.kind == epEntra && !ep.v1 {
			return sc, oauthErr(http.StatusBadRequest, "invalid_request", 901002,
				"The 'resource' request parameter isn't supported.")
		}
		if !strings.EqualFold(strings.TrimRight(resource, "/"), origin) {
			return sc, oauthErr(http.StatusBadRequest, "invalid_resource", 500011,
				"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
				resource, TenantDomain)
		}
	}
	if len(sc.resource) == 0 {
		// A request for OIDC scopes only (or for the resource by the
		// resource parameter) gets a token for the CRM, its only resource.
		sc.resource = []string{origin + "/user_impersonation"}
	}
	return sc, nil
}

// crmScope reports whether a scope names this CRM: <origin>/user_impersonation
// or <origin>/.default (also with the double slash a resource id ending in
// "/" produces).
func crmScope(origin, scope string) bool {
	for _, suffix := range []string{"/user_impersonation", "/.default", "//.default"} {
		if strings.EqualFold(scope, origin+suffix) {
			return true
		}
	}
	return false
}
