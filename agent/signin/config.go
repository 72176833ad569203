package signin

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultClientID is Microsoft's documented development client ID, which
// every Dataverse tenant accepts for public clients; organisations that
// register their own pass it with --client-id.
const DefaultClientID = "51f81489-12ee-4a9e-aaae-a2591f45987d"

// DefaultSignInTimeout is how long Browser waits for the user by default.
const DefaultSignInTimeout = 5 * time.Minute

// Config says how to sign in; it holds no secret.
type Config struct {
	Authority  Authority        // where to sign in, from Discover or ParseAuthority
	ClientID   string           // empty: DefaultClientID
	TokenURL   string           // overrides Authority.TokenURL() when set (the --token-url option)
	Scopes     []string         // overrides the default scopes when set
	HTTPClient *http.Client     // the agent's shared client (proxy, CA bundle); nil: a default with a 30 s timeout
	Now        func() time.Time // the clock for expiry times only (waits use real timers); nil: time.Now
	// SignInTimeout bounds the wait for the user in Browser; 0 means
	// DefaultSignInTimeout. The device code's own expiry bounds DeviceCode.
	SignInTimeout time.Duration
}

// Account says who signed in: identifiers only.
type Account struct {
	Username string // the sign-in name (UPN), for display; never logged
	ObjectID string // the user's object ID in the directory; empty when the service did not say
	TenantID string // the directory's ID; empty for AD FS
}

// Grant is the outcome of a sign-in or refresh. AccessToken stays in memory only.
type Grant struct {
	AccessToken  string
	RefreshToken string    // empty when the service issued none; the caller keeps it in the keychain
	Expiry       time.Time // when AccessToken stops working; zero when the service did not say
	Account      Account
}

// Prompt is what a browser or device-code sign-in asks of the user.
type Prompt struct {
	URL      string    // the page to open: the authorization request, or the device code page
	UserCode string    // the code to enter on the device code page; empty for Browser
	Expires  time.Time // when the sign-in stops waiting
	Message  string    // a sentence telling the user what to do
}

func (c Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return DefaultClientID
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) tokenURL() string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	return c.Authority.TokenURL()
}

func (c Config) signInTimeout() time.Duration {
	if c.SignInTimeout > 0 {
		return c.SignInTimeout
	}
	return DefaultSignInTimeout
}

// scopes returns what to ask for. Entra gets the CRM's user_impersonation
// scope ("use a <environment-url>/user_impersonation scope for a public
// client"), offline_access for a refresh token, and openid profile for an
// id_token naming the user. AD FS gets the same OpenID scopes, and the CRM
// as the resource parameter (see extra), because AD FS 2016 and older do
// not read resources from scopes.
func (c Config) scopes() string {
	if len(c.Scopes) > 0 {
		return strings.Join(c.Scopes, " ")
	}
	if c.Authority.Kind == ADFS {
		return "openid profile offline_access"
	}
	return c.Authority.Resource + "/user_impersonation offline_access openid profile"
}

// extra adds the flavour's own parameters to a request: AD FS's resource,
// and Entra's client_info, which names the user even without an id_token.
func (c Config) extra(v url.Values, tokenRequest bool) {
	switch c.Authority.Kind {
	case ADFS:
		v.Set("resource", c.Authority.Resource)
	case Entra:
		if tokenRequest {
			v.Set("client_info", "1")
		}
	}
}

func (c Config) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return defaultClient()
}
