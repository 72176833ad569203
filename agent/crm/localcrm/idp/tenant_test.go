package idp_test

import (
	"net/http"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
)

func TestChallengeFlavours(t *testing.T) {
	for _, tc := range []struct {
		auth  string
		authz string // path of authorization_uri
	}{
		{"", "/" + localcrm.TenantID + "/oauth2/authorize"},
		{localcrm.AuthEntra, "/" + localcrm.TenantID + "/oauth2/authorize"},
		{localcrm.AuthADFS, "/adfs/oauth2/authorize"},
	} {
		t.Run("auth="+tc.auth, func(t *testing.T) {
			e := newEnv(t, localcrm.Options{Auth: tc.auth})
			want := "Bearer authorization_uri=" + e.TS.URL + tc.authz + ", resource_id=" + e.TS.URL + "/"
			r := e.Req("GET", "WhoAmI()", "", nil)
			if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want {
				t.Fatalf("no token: %d %q, want %q", r.Status, r.Header.Get("WWW-Authenticate"), want)
			}
			r = e.Req("GET", "WhoAmI()", "bogus", nil)
			if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != want+`, error="invalid_token"` {
				t.Fatalf("bad token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if _, err := localcrm.New(localcrm.Options{Auth: "kerberos"}); err == nil {
		t.Fatal("unknown auth flavour accepted")
	}
}

func TestEntraDiscovery(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	for _, tenant := range []string{localcrm.TenantID, strings.ToUpper(localcrm.TenantID), localcrm.TenantDomain, "organizations", "common"} {
		t.Run(tenant, func(t *testing.T) {
			r := e.Req("GET", e.TS.URL+"/"+tenant+"/v2.0/.well-known/openid-configuration", "", nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			issuer := e.TS.URL + "/" + localcrm.TenantID + "/v2.0"
			if tenant == "organizations" || tenant == "common" {
				issuer = e.TS.URL + "/{tenantid}/v2.0"
			}
			base := e.TS.URL + "/" + tenant
			want := map[string]string{
				"issuer":                        issuer,
				"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
				"token_endpoint":                base + "/oauth2/v2.0/token",
				"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
				"end_session_endpoint":          base + "/oauth2/v2.0/logout",
				"jwks_uri":                      base + "/discovery/v2.0/keys",
				"tenant_region_scope":           "EU",
			}
			for k, v := range want {
				if r.Str(k) != v {
					t.Errorf("%s = %q, want %q", k, r.Str(k), v)
				}
			}
			for _, k := range []string{"response_types_supported", "response_modes_supported", "scopes_supported",
				"subject_types_supported", "token_endpoint_auth_methods_supported", "claims_supported"} {
				if list, _ := r.Body[k].([]any); len(list) == 0 {
					t.Errorf("%s missing", k)
				}
			}
			if algs, _ := r.Body["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "RS256" {
				t.Errorf("algs %v", algs)
			}
			if r.Str("cloud_instance_name") == "" || r.Str("msgraph_host") == "" {
				t.Errorf("cloud fields missing: %s", r.Raw)
			}
		})
	}
	a := e.getPage("/contoso.example/v2.0/.well-known/openid-configuration")
	if a.Status != 400 || !strings.Contains(a.Body, `"invalid_tenant"`) || !strings.Contains(a.Body, "AADSTS90002") {
		t.Fatalf("unknown tenant: %d %s", a.Status, a.Body)
	}
	if p := e.getPage("/" + localcrm.TenantID + "/nothing-here"); p.Status != 404 {
		t.Fatalf("unknown path under a tenant: %d", p.Status)
	}
	keys := e.Req("GET", e.TS.URL+"/"+localcrm.TenantID+"/discovery/v2.0/keys", "", nil)
	list, _ := keys.Body["keys"].([]any)
	if keys.Status != 200 || len(list) != 1 {
		t.Fatalf("keys: %d %s", keys.Status, keys.Raw)
	}
	k, _ := list[0].(map[string]any)
	for _, f := range []string{"kty", "use", "kid", "n", "e"} {
		if s, _ := k[f].(string); s == "" {
			t.Fatalf("JWK without %s: %v", f, k)
		}
	}
	realm := e.Req("GET", e.TS.URL+"/common/UserRealm/alice@demo.local?api-version=1.0", "", nil)
	if realm.Str("account_type") != "Managed" || realm.Str("domain_name") != localcrm.TenantDomain {
		t.Fatalf("user realm: %s", realm.Raw)
	}
}

func TestADFSDiscovery(t *testing.T) {
	e := newEnv(t, localcrm.Options{Auth: localcrm.AuthADFS})
	r := e.Req("GET", e.TS.URL+"/adfs/.well-known/openid-configuration", "", nil)
	a := e.TS.URL + "/adfs"
	want := map[string]string{
		"issuer": a, "authorization_endpoint": a + "/oauth2/authorize", "token_endpoint": a + "/oauth2/token",
		"device_authorization_endpoint": a + "/oauth2/devicecode", "jwks_uri": a + "/discovery/keys",
	}
	for k, v := range want {
		if r.Str(k) != v {
			t.Errorf("%s = %q, want %q", k, r.Str(k), v)
		}
	}
	if m, _ := r.Body["code_challenge_methods_supported"].([]any); len(m) != 2 {
		t.Errorf("PKCE methods %v", m)
	}
	if k := e.Req("GET", a+"/discovery/keys", "", nil); k.Status != 200 || len(k.Body["keys"].([]any)) != 1 {
		t.Fatalf("keys: %d %s", k.Status, k.Raw)
	}
	// The Entra paths answer in AD FS mode too.
	if r := e.Req("GET", e.TS.URL+"/"+localcrm.TenantID+"/v2.0/.well-known/openid-configuration", "", nil); r.Status != 200 {
		t.Fatalf("Entra discovery in AD FS mode: %d", r.Status)
	}
}
