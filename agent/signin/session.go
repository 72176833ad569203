package signin

import (
	"context"
	"sync"
	"time"

	"crmsync/agent/crm"
)

// Session timing.
const (
	maxRenewMargin = 2 * time.Minute  // renew this long before expiry, so a request never leaves with a dying token
	refreshTimeout = 60 * time.Second // a shared refresh outlives its first caller's context, but not for ever
)

// Session keeps a signed-in user's tokens in memory and renews the access
// token with the refresh token. It implements the CRM client's token
// source: AccessToken(ctx, force bool) (string, error). It is safe for
// concurrent use; concurrent callers share one refresh.
type Session struct {
	cfg      Config
	onRotate func(refreshToken string) // may be nil; called outside mu, before the refresh's callers return

	mu       sync.Mutex
	grant    Grant        // guarded by mu; RefreshToken is "" once the service refused it
	renewAt  time.Time    // guarded by mu; zero when the expiry is unknown
	inflight *refreshCall // guarded by mu; the refresh that callers are waiting for, if any
	gone     error        // guarded by mu; why the session ended, once the refresh token was refused
}

// refreshCall is one refresh shared by all callers that wait for it.
type refreshCall struct {
	done  chan struct{} // closed when token and err are set
	token string
	err   error
}

// NewSession returns a Session holding g (which may be nil, or hold only a
// refresh token from the keychain). onRotate, if not nil, is called with
// every new refresh token the service issues, so the caller can save it.
func NewSession(c Config, g *Grant, onRotate func(refreshToken string)) *Session {
	s := &Session{cfg: c, onRotate: onRotate}
	if g != nil {
		s.setLocked(g)
	}
	return s
}

// Account says who is signed in.
func (s *Session) Account() Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grant.Account
}

// AccessToken returns an access token for the CRM, renewing it shortly
// before it expires. force says the CRM refused the last token: it is
// renewed even if it looks valid; callers that force while a refresh is
// under way share it. A
// refused refresh token is KindUnauthorized (sign in again); a failure to
// reach the service is temporary and keeps the refresh token.
func (s *Session) AccessToken(ctx context.Context, force bool) (_ string, err error) {
	defer func() { err = userFacing(err) }()
	const op = "refresh token"
	s.mu.Lock()
	if s.gone != nil {
		err := s.gone
		s.mu.Unlock()
		return "", err
	}
	g := s.grant
	fresh := g.AccessToken != "" && (s.renewAt.IsZero() || s.cfg.now().Before(s.renewAt))
	if fresh && !force {
		s.mu.Unlock()
		return g.AccessToken, nil
	}
	if g.RefreshToken == "" {
		s.mu.Unlock()
		if g.AccessToken == "" {
			return "", &crm.Error{Op: op, Kind: crm.KindUnauthorized, Message: "You are not signed in; sign in."}
		}
		return "", &crm.Error{Op: op, Kind: crm.KindUnauthorized, Message: "The session expired; sign in again."}
	}
	call := s.inflight
	if call == nil {
		call = &refreshCall{done: make(chan struct{})}
		s.inflight = call
		go s.refresh(context.WithoutCancel(ctx), call, g.RefreshToken)
	}
	s.mu.Unlock()

	select {
	case <-call.done:
		return call.token, call.err
	case <-ctx.Done():
		return "", &crm.Error{Op: op, Kind: crm.KindNetwork, Message: "The token renewal was interrupted.",
			Err: &causeError{text: "canceled", err: ctx.Err()}}
	}
}

// refresh runs one shared refresh and hands its outcome to every waiter.
func (s *Session) refresh(ctx context.Context, call *refreshCall, rt string) {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	g, err := s.cfg.Refresh(ctx, rt)
	cancel()

	s.mu.Lock()
	rotated := ""
	switch {
	case err == nil:
		if g.Account == (Account{}) {
			g.Account = s.grant.Account
		}
		if g.RefreshToken != rt {
			rotated = g.RefreshToken
		}
		s.setLocked(g)
		call.token = g.AccessToken
	case crm.KindOf(err) == crm.KindUnauthorized:
		// The service will not take this refresh token again; stop asking,
		// and keep only who it was, for the sign-in form.
		s.gone = err
		s.grant = Grant{Account: s.grant.Account}
		s.renewAt = time.Time{}
		call.err = err
	default:
		call.err = err
	}
	s.mu.Unlock()

	// The new refresh token is saved before anyone uses the new access
	// token: if the agent stops right after, the keychain is current.
	if rotated != "" && s.onRotate != nil {
		s.onRotate(rotated)
	}
	s.mu.Lock()
	s.inflight = nil
	s.mu.Unlock()
	close(call.done)
}

// setLocked stores a grant and when to renew it: a little before expiry,
// a quarter of its life at most, so short-lived tokens are still used.
func (s *Session) setLocked(g *Grant) {
	s.grant = *g
	s.renewAt = time.Time{}
	if !g.Expiry.IsZero() {
		life := g.Expiry.Sub(s.cfg.now())
		s.renewAt = g.Expiry.Add(-min(maxRenewMargin, max(life/4, 0)))
	}
}
