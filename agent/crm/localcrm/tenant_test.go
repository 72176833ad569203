package localcrm

import (
	"net/http"
	"strings"
	"testing"
)

func TestChallengeFlavours(t *testing.T) {
	for _, tc := range []struct {
		auth  string
		authz string // path of authorization_uri
	}{
		{"", "/" + TenantID + "/oauth2/authorize"},
		{AuthEntra, "/" + TenantID + "/oauth2/authorize"},
		{AuthADFS, "/adfs/oauth2/authorize"},
	} {
		t.Run("auth="+tc.auth, func(t *testing.T) {
			e := newEnv(t, Options{Auth: tc.auth})
			want := "Bearer authorization_uri=" + e.ts.URL + tc.authz + ", resource_id=" + e.ts.URL + "/"
			r := e.req("GET", "WhoAmI()", "", nil)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != want {
				t.Fatalf("no token: %d %q, want %q", r.status, r.header.Get("WWW-Authenticate"), want)
			}
			r = e.req("GET", "WhoAmI()", "bogus", nil)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != want+`, error="invalid_token"` {
				t.Fatalf("bad token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if _, err := New(Options{Auth: "kerberos"}); err == nil {
		t.Fatal("unknown auth flavour accepted")
	}
}

func TestEntraDiscovery(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tenant := range []string{TenantID, strings.ToUpper(TenantID), TenantDomain, "organizations", "common"} {
		t.Run(tenant, func(t *testing.T) {
			r := e.req("GET", e.ts.URL+"/"+tenant+"/v2.0/.well-known/openid-configuration", "", nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			issuer := e.ts.URL + "/" + TenantID + "/v2.0"
			if tenant == "organizations" || tenant == "common" {
				issuer = e.ts.URL + "/{tenantid}/v2.0"
			}
			base := e.ts.URL + "/" + tenant
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
				if r.str(k) != v {
					t.Errorf("%s = %q, want %q", k, r.str(k), v)
				}
			}
			for _, k := range []string{"response_types_supported", "response_modes_supported", "scopes_supported",
				"subject_types_supported", "token_endpoint_auth_methods_supported", "claims_supported"} {
				if list, _ := r.body[k].([]any); len(list) == 0 {
					t.Errorf("%s missing", k)
				}
			}
			if algs, _ := r.body["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "RS256" {
				t.Errorf("algs %v", algs)
			}
			if r.str("cloud_instance_name") == "" || r.str("msgraph_host") == "" {
				t.Errorf("cloud fields missing: %s", r.raw)
			}
		})
	}
	a := e.getPage("/contoso.example/v2.0/.well-known/openid-configuration")
	if a.status != 400 || !strings.Contains(a.body, `"invalid_tenant"`) || !strings.Contains(a.body, "AADSTS90002") {
		t.Fatalf("unknown tenant: %d %s", a.status, a.body)
	}
	if p := e.getPage("/" + TenantID + "/nothing-here"); p.status != 404 {
		t.Fatalf("unknown path under a tenant: %d", p.status)
	}
	keys := e.req("GET", e.ts.URL+"/"+TenantID+"/discovery/v2.0/keys", "", nil)
	list, _ := keys.body["keys"].([]any)
	if keys.status != 200 || len(list) != 1 {
		t.Fatalf("keys: %d %s", keys.status, keys.raw)
	}
	k, _ := list[0].(map[string]any)
	for _, f := range []string{"kty", "use", "kid", "n", "e"} {
		if s, _ := k[f].(string); s == "" {
			t.Fatalf("JWK without %s: %v", f, k)
		}
	}
	realm := e.req("GET", e.ts.URL+"/common/UserRealm/alice@demo.local?api-version=1.0", "", nil)
	if realm.str("account_type") != "Managed" || realm.str("domain_name") != TenantDomain {
		t.Fatalf("user realm: %s", realm.raw)
	}
}

func TestADFSDiscovery(t *testing.T) {
	e := newEnv(t, Options{Auth: AuthADFS})
	r := e.req("GET", e.ts.URL+"/adfs/.well-known/openid-configuration", "", nil)
	a := e.ts.URL + "/adfs"
	want := map[string]string{
		"issuer": a, "authorization_endpoint": a + "/oauth2/authorize", "token_endpoint": a + "/oauth2/token",
		"device_authorization_endpoint": a + "/oauth2/devicecode", "jwks_uri": a + "/discovery/keys",
	}
	for k, v := range want {
		if r.str(k) != v {
			t.Errorf("%s = %q, want %q", k, r.str(k), v)
		}
	}
	if m, _ := r.body["code_challenge_methods_supported"].([]any); len(m) != 2 {
		t.Errorf("PKCE methods %v", m)
	}
	if k := e.req("GET", a+"/discovery/keys", "", nil); k.status != 200 || len(k.body["keys"].([]any)) != 1 {
		t.Fatalf("keys: %d %s", k.status, k.raw)
	}
	// The Entra paths answer in AD FS mode too.
	if r := e.req("GET", e.ts.URL+"/"+TenantID+"/v2.0/.well-known/openid-configuration", "", nil); r.status != 200 {
		t.Fatalf("Entra discovery in AD FS mode: %d", r.status)
	}
}
