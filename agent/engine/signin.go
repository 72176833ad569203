package engine

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/signin"
)

// SignInOptions say how the engine reaches the sign-in service. The zero
// value discovers it from the CRM and uses the default client ID.
type SignInOptions struct {
	// ClientID is the app registration used when the user gave none.
	ClientID string
	// Authority overrides discovery, e.g.
	// https://login.microsoftonline.com/<tenant> or https://adfs.example.com/adfs.
	Authority string
	// TokenURL overrides the token endpoint of the authority.
	TokenURL string
	// Scopes override the default scopes.
	Scopes []string
	// Open opens the browser sign-in page; nil means xdg-open.
	Open func(url string) error
}

// saveTimeout bounds a keychain write of a renewed refresh token.
const saveTimeout = 10 * time.Second

// method resolves SignInAuto: the password grant when a password is
// given, the browser otherwise.
func method(c agent.Credentials) agent.SignInMethod {
	if c.Method != agent.SignInAuto {
		return c.Method
	}
	if c.Secret != "" {
		return agent.SignInPassword
	}
	return agent.SignInBrowser
}

// crmRoot is scheme://host of a CRM address: the resource tokens are for.
func crmRoot(crmURL string) string {
	u, err := url.Parse(crmURL)
	if err != nil {
		return strings.TrimRight(crmURL, "/")
	}
	return u.Scheme + "://" + u.Host
}

// signInConfig finds c's sign-in service: the configured authority, the
// one saved with the sign-in, or else the one the CRM's 401 names.
func (e *Engine) signInConfig(ctx context.Context, client *crm.HTTPClient, c agent.Credentials) (signin.Config, error) {
	o := e.o.SignIn
	cfg := signin.Config{
		ClientID: c.ClientID, TokenURL: o.TokenURL, Scopes: o.Scopes,
		HTTPClient: client.HTTP(), Now: e.clock.Now,
	}
	if cfg.ClientID == "" {
		cfg.ClientID = o.ClientID
	}
	var (
		a   signin.Authority
		err error
	)
	switch {
	case o.Authority != "":
		a, err = signin.ParseAuthority(o.Authority, crmRoot(c.CRMURL))
	case c.Authority != "":
		a, err = signin.ParseAuthority(c.Authority, crmRoot(c.CRMURL))
		if err == nil && c.TenantID != "" && a.Kind == signin.Entra {
			a.TenantID = c.TenantID
		}
	default:
		a, err = signin.Discover(ctx, client.HTTP(), c.CRMURL)
	}
	if err != nil {
		return signin.Config{}, err
	}
	cfg.Authority = a
	return cfg, nil
}

// signInFlow runs the interactive part of a sign-in: the browser, the
// device code or the password grant.
func (e *Engine) signInFlow(ctx context.Context, cfg signin.Config, c agent.Credentials) (*signin.Grant, error) {
	prompt := func(p signin.Prompt) {
		if c.Prompt != nil {
			c.Prompt(agent.SignInPrompt{URL: p.URL, UserCode: p.UserCode, Expires: p.Expires})
		}
	}
	switch method(c) {
	case agent.SignInBrowser:
		open := e.o.SignIn.Open
		if open == nil {
			open = signin.OpenBrowser
		}
		return cfg.Browser(ctx, open, c.Username, prompt)
	case agent.SignInDeviceCode:
		return cfg.DeviceCode(ctx, prompt)
	default:
		if strings.TrimSpace(c.Username) == "" || c.Secret == "" {
			return nil, &crm.Error{Op: "sign in", Kind: crm.KindUnauthorized, Message: "enter both your email address and your password"}
		}
		return cfg.Password(ctx, c.Username, c.Secret)
	}
}

// keep returns what a sign-in leaves to be saved: the refresh token and
// the account's identifiers, never the password.
func keep(c agent.Credentials, cfg signin.Config, g *signin.Grant) agent.Credentials {
	k := agent.Credentials{
		CRMURL: c.CRMURL, Username: c.Username, NoSave: c.NoSave,
		ClientID: c.ClientID, RefreshToken: g.RefreshToken,
		Authority: cfg.Authority.URL, TenantID: cfg.Authority.TenantID,
	}
	if u := g.Account.Username; u != "" {
		k.Username = u
	}
	if g.Account.TenantID != "" {
		k.TenantID = g.Account.TenantID
	}
	k.UserObjectID = g.Account.ObjectID
	return k
}

// tokenKeeper saves a renewed refresh token in the keychain, so a restart
// after a rotation still signs in. Saves are serialised and always write
// the newest token, whatever order the renewals finish in.
type tokenKeeper struct {
	secrets agent.Secrets
	log     interface{ Warn(string, ...any) }

	mu    sync.Mutex
	creds agent.Credentials // the account being kept; RefreshToken is the newest; guarded by mu
}

// rotated records a new refresh token and saves it unless the user chose
// not to save their sign-in. It is the Session's rotation hook, and is
// also called once with a fresh grant's token, which replaces what the
// keychain held.
func (k *tokenKeeper) rotated(refresh string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if refresh == "" || refresh == k.creds.RefreshToken {
		return
	}
	k.creds.RefreshToken = refresh
	if k.creds.NoSave {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	if err := k.secrets.Save(ctx, k.creds); err != nil {
		k.log.Warn("engine: the renewed sign-in could not be saved; the next start may ask you to sign in", "err", err)
	}
}

// account replaces the account the keeper saves: a sign-in learns the
// final name, and whether the keychain can be used, only after its tokens
// are in use. c is as the keychain now holds it; a token rotated since
// is saved over it.
func (k *tokenKeeper) account(c agent.Credentials) {
	k.mu.Lock()
	newest := k.creds.RefreshToken
	k.creds = c
	k.mu.Unlock()
	k.rotated(newest)
}

// newSession wraps a grant in a token source whose rotations the
// returned keeper saves. kept is the account as the keychain holds it.
func (e *Engine) newSession(cfg signin.Config, g *signin.Grant, kept agent.Credentials) (*signin.Session, *tokenKeeper) {
	k := &tokenKeeper{secrets: e.o.Secrets, log: e.log, creds: kept}
	return signin.NewSession(cfg, g, k.rotated), k
}

// redeem gives a client without tokens a session from what c holds: its
// refresh token, or a password (a headless agent given one, or a password
// saved by an older version, which is replaced by a refresh token here).
func (e *Engine) redeem(ctx context.Context, client *crm.HTTPClient, c agent.Credentials) error {
	if c.RefreshToken == "" && c.Secret == "" {
		return &crm.Error{Op: "sign in", Kind: crm.KindUnauthorized, Message: "you are not signed in"}
	}
	cfg, err := e.signInConfig(ctx, client, c)
	if err != nil {
		return err
	}
	var g *signin.Grant
	if c.RefreshToken != "" {
		g, err = cfg.Refresh(ctx, c.RefreshToken)
	} else {
		g, err = cfg.Password(ctx, c.Username, c.Secret)
	}
	if err != nil {
		return err
	}
	held := keep(c, cfg, g)
	held.RefreshToken = c.RefreshToken // what the keychain holds now
	ts, k := e.newSession(cfg, g, held)
	client.SetTokens(ts)
	k.rotated(g.RefreshToken) // a rotated token, or one replacing an old saved password
	return nil
}

// WaitConnected waits until the session started by UseCredentials is
// online (nil), refused (the reason, as NeedsSignIn or NotPermitted
// report it) or failing for a passing reason (that error, temporary).
func (e *Engine) WaitConnected(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := e.Subscribe(ctx)
	tried := false // a try has begun since UseCredentials; an older NeedsSignIn is not the answer
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				events = e.Subscribe(ctx)
				continue
			}
			if ev.Status == nil {
				continue
			}
			err := e.view.Load().connErr
			switch ev.Status.State {
			case agent.StateOnline:
				return nil
			case agent.StateConnecting:
				tried = true
			case agent.StateNotPermitted:
				return agent.ErrNotPermitted
			case agent.StateBackoff:
				if err != nil {
					return err
				}
			case agent.StateNeedsSignIn:
				// The state at start has no error; a refused try has one.
				if tried || err != nil {
					if err == nil {
						err = &crm.Error{Op: "sign in", Kind: crm.KindUnauthorized, Message: "the saved sign-in was not accepted"}
					}
					return err
				}
			}
		}
	}
}
