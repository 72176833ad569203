package signin

import (
	"errors"
	"net/url"
	"testing"

	"crmsync/agent/crm"
)

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    []challenge
	}{
		{"entra online", []string{"Bearer authorization_uri=https://login.microsoftonline.com/{tenantId}/oauth2/authorize"},
			[]challenge{{"Bearer", map[string]string{"authorization_uri": "https://login.microsoftonline.com/{tenantId}/oauth2/authorize"}}}},
		{"sdk test shape", []string{"Bearer authorization_uri=https://login.somewhere.tst/abc/authorize, resource_id=https://hello.com"},
			[]challenge{{"Bearer", map[string]string{"authorization_uri": "https://login.somewhere.tst/abc/authorize", "resource_id": "https://hello.com"}}}},
		{"quoted with comma and escape", []string{`Bearer realm="a, \"b\"", authorization_uri="https://x.test/t/oauth2/authorize"`},
			[]challenge{{"Bearer", map[string]string{"realm": `a, "b"`, "authorization_uri": "https://x.test/t/oauth2/authorize"}}}},
		{"mixed case keys", []string{"bearer Authorization_URI=https://x.test/t/authorize,Resource_ID=https://crm.test/"},
			[]challenge{{"bearer", map[string]string{"authorization_uri": "https://x.test/t/authorize", "resource_id": "https://crm.test/"}}}},
		{"several headers", []string{"Negotiate", "NTLM", "Bearer authorization_uri=https://adfs.test/adfs/oauth2/authorize, resource_id=https://crm.test/"},
			[]challenge{{"Negotiate", map[string]string{}}, {"NTLM", map[string]string{}},
				{"Bearer", map[string]string{"authorization_uri": "https://adfs.test/adfs/oauth2/authorize", "resource_id": "https://crm.test/"}}}},
		{"several challenges in one header", []string{`Negotiate, Basic realm="x", Bearer error="invalid_token", authorization_uri=https://x.test/t/authorize`},
			[]challenge{{"Negotiate", map[string]string{}}, {"Basic", map[string]string{"realm": "x"}},
				{"Bearer", map[string]string{"error": "invalid_token", "authorization_uri": "https://x.test/t/authorize"}}}},
		{"token68", []string{"Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXa==, NTLM"},
			[]challenge{{"Negotiate", map[string]string{}}, {"NTLM", map[string]string{}}}},
		{"garbage", []string{`=,,="x", , =a b`, ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChallenges(tt.headers)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d challenges %v, want %v", len(got), got, tt.want)
			}
			for i := range got {
				if got[i].scheme != tt.want[i].scheme || !equalMaps(got[i].params, tt.want[i].params) {
					t.Errorf("challenge %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestParseAuthority(t *testing.T) {
	tests := []struct {
		uri, resource string
		want          Authority
	}{
		{"https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/authorize", "https://org.crm.dynamics.com/",
			Authority{Entra, "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad", "9188040d-6c67-4c5b-b112-36a304b66dad", "https://org.crm.dynamics.com"}},
		{"https://login.somewhere.tst/abc/authorize", "https://hello.com",
			Authority{Entra, "https://login.somewhere.tst/abc", "abc", "https://hello.com"}},
		{"https://login.microsoftonline.com/common/oauth2/authorize", "https://org.crm4.dynamics.com",
			Authority{Entra, "https://login.microsoftonline.com/organizations", "organizations", "https://org.crm4.dynamics.com"}},
		{"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize?x=1", "https://org.crm.dynamics.com",
			Authority{Entra, "https://login.microsoftonline.com/contoso.com", "contoso.com", "https://org.crm.dynamics.com"}},
		{"https://adfs.example.com/adfs/oauth2/authorize", "https://org.crm.example.com/",
			Authority{ADFS, "https://adfs.example.com/adfs", "", "https://org.crm.example.com"}},
		{"https://adfs.example.com/adfs/OAuth2/Authorize/", "https://org.crm.example.com/",
			Authority{ADFS, "https://adfs.example.com/adfs", "", "https://org.crm.example.com"}},
		{"http://127.0.0.1:8555/3f9d1c52-6b8e-4a17-9c2d-5e0f7a4b8c61/oauth2/authorize", "http://127.0.0.1:8555/",
			Authority{Entra, "http://127.0.0.1:8555/3f9d1c52-6b8e-4a17-9c2d-5e0f7a4b8c61", "3f9d1c52-6b8e-4a17-9c2d-5e0f7a4b8c61", "http://127.0.0.1:8555"}},
	}
	for _, tt := range tests {
		got, err := ParseAuthority(tt.uri, tt.resource)
		if err != nil || got != tt.want {
			t.Errorf("ParseAuthority(%q) = %+v, %v; want %+v", tt.uri, got, err, tt.want)
		}
	}
	a := Authority{Entra, "https://login.microsoftonline.com/t", "t", "https://org.crm.dynamics.com"}
	if a.AuthorizeURL() != "https://login.microsoftonline.com/t/oauth2/v2.0/authorize" ||
		a.TokenURL() != "https://login.microsoftonline.com/t/oauth2/v2.0/token" ||
		a.DeviceCodeURL() != "https://login.microsoftonline.com/t/oauth2/v2.0/devicecode" {
		t.Errorf("Entra endpoints: %s %s %s", a.AuthorizeURL(), a.TokenURL(), a.DeviceCodeURL())
	}
	f := Authority{Kind: ADFS, URL: "https://adfs.example.com/adfs"}
	if f.AuthorizeURL() != "https://adfs.example.com/adfs/oauth2/authorize" ||
		f.TokenURL() != "https://adfs.example.com/adfs/oauth2/token" ||
		f.DeviceCodeURL() != "https://adfs.example.com/adfs/oauth2/devicecode" {
		t.Errorf("AD FS endpoints: %s %s %s", f.AuthorizeURL(), f.TokenURL(), f.DeviceCodeURL())
	}
}

func TestParseAuthorityRefuses(t *testing.T) {
	tests := []struct{ name, uri, resource string }{
		{"http elsewhere", "http://login.example.com/t/oauth2/authorize", "https://crm.example.com"},
		{"no tenant", "https://login.example.com/oauth2/authorize", "https://crm.example.com"},
		{"not a url", "::", "https://crm.example.com"},
		{"no resource", "https://login.example.com/t/oauth2/authorize", ""},
		{"resource not a url", "https://login.example.com/t/oauth2/authorize", "crm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAuthority(tt.uri, tt.resource)
			var e *crm.Error
			if !errors.As(err, &e) || e.Message == "" {
				t.Fatalf("err = %v, want a *crm.Error with a message", err)
			}
		})
	}
}

func TestAuthorityFromChallenges(t *testing.T) {
	online, _ := url.Parse("https://org.crm.dynamics.com")
	local, _ := url.Parse("http://127.0.0.1:8555")
	tests := []struct {
		name     string
		crm      *url.URL
		headers  []string
		want     Authority
		sentinel error // nil: success
		kind     crm.Kind
	}{
		{"entra", online, []string{"Bearer authorization_uri=https://login.microsoftonline.com/t/oauth2/authorize, resource_id=https://org.crm.dynamics.com/"},
			Authority{Entra, "https://login.microsoftonline.com/t", "t", "https://org.crm.dynamics.com"}, nil, 0},
		{"adfs beside windows auth", online, []string{"Negotiate", "NTLM", `Bearer authorization_uri="https://adfs.example.com/adfs/oauth2/authorize", resource_id="https://org.crm.dynamics.com/"`},
			Authority{ADFS, "https://adfs.example.com/adfs", "", "https://org.crm.dynamics.com"}, nil, 0},
		{"no resource_id: the CRM's origin", online, []string{"Bearer authorization_uri=https://login.microsoftonline.com/t/oauth2/authorize"},
			Authority{Entra, "https://login.microsoftonline.com/t", "t", "https://org.crm.dynamics.com"}, nil, 0},
		{"local CRM over http", local, []string{"Bearer authorization_uri=http://127.0.0.1:8555/t/oauth2/authorize, resource_id=http://127.0.0.1:8555/"},
			Authority{Entra, "http://127.0.0.1:8555/t", "t", "http://127.0.0.1:8555"}, nil, 0},
		{"negotiate only", online, []string{"Negotiate"}, Authority{}, ErrWindowsAuth, crm.KindBadRequest},
		{"negotiate and ntlm", online, []string{"Negotiate, NTLM"}, Authority{}, ErrWindowsAuth, crm.KindBadRequest},
		{"no challenge", online, nil, Authority{}, crm.ErrBadResponse, crm.KindBadResponse},
		{"basic only", online, []string{`Basic realm="crm"`}, Authority{}, crm.ErrBadResponse, crm.KindBadResponse},
		{"no authorization_uri", online, []string{"Bearer resource_id=https://org.crm.dynamics.com/"}, Authority{}, crm.ErrBadResponse, crm.KindBadResponse},
		{"http authority for an online CRM", online, []string{"Bearer authorization_uri=http://login.example.com/t/oauth2/authorize"},
			Authority{}, crm.ErrInsecureURL, crm.KindBadRequest},
		{"loopback http authority for an online CRM", online, []string{"Bearer authorization_uri=http://127.0.0.1:9/t/oauth2/authorize"},
			Authority{}, crm.ErrInsecureURL, crm.KindBadResponse},
		{"garbage", online, []string{"\x00\x01 ,,= ="}, Authority{}, crm.ErrBadResponse, crm.KindBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := authorityFromChallenges("discover", tt.crm, tt.headers)
			if tt.sentinel == nil {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.sentinel) || crm.KindOf(err) != tt.kind {
				t.Fatalf("err = %v (kind %v), want %v of kind %v", err, crm.KindOf(err), tt.sentinel, tt.kind)
			}
			if errors.Is(tt.sentinel, ErrWindowsAuth) && crm.UserMessage(err) == "" {
				t.Error("no user message")
			}
		})
	}
}
