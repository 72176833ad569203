package engine

import (
	"context"
	"sync"

	"crmsync/agent"
	"crmsync/agent/crm"
)

// session is the engine's current CRM client. Signing in to another CRM
// address swaps the client underneath; the connection supervisor, the
// outbox and the decision lookups keep calling the same value.
type session struct {
	mu sync.RWMutex
	c  *crm.HTTPClient // nil until a CRM address is known; guarded by mu
	// redeem turns saved credentials into tokens for a client that has
	// none (Engine.redeem); set once by New.
	redeem func(ctx context.Context, c *crm.HTTPClient, creds agent.Credentials) error
	// signing serialises SignIn: a refresh token may be redeemed once
	// only, and two probes must not both redeem it.
	signing sync.Mutex
}

func (s *session) get() *crm.HTTPClient {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.c
}

func (s *session) set(c *crm.HTTPClient) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// errNoCRM is returned when no CRM address has been given yet.
var errNoCRM = &crm.Error{Op: "connect", Kind: crm.KindUnauthorized, Message: "no CRM address yet; sign in"}

// SignIn keeps a live sign-in (an interactive one cannot be repeated
// here) and otherwise redeems creds' refresh token or password.
func (s *session) SignIn(ctx context.Context, creds agent.Credentials) error {
	s.signing.Lock()
	defer s.signing.Unlock()
	c := s.get()
	if c == nil {
		return errNoCRM
	}
	if ts := c.Tokens(); ts != nil {
		_, err := ts.AccessToken(ctx, false)
		return err
	}
	return s.redeem(ctx, c, creds)
}

func (s *session) WhoAmI(ctx context.Context) (crm.Identity, error) {
	if c := s.get(); c != nil {
		return c.WhoAmI(ctx)
	}
	return crm.Identity{}, errNoCRM
}

func (s *session) CanSync(ctx context.Context, id string) (bool, error) {
	if c := s.get(); c != nil {
		return c.CanSync(ctx, id)
	}
	return false, errNoCRM
}

func (s *session) SignOut() {
	if c := s.get(); c != nil {
		c.SignOut()
	}
}

func (s *session) CloseIdle() {
	if c := s.get(); c != nil {
		c.CloseIdle()
	}
}

func (s *session) TrackEmails(ctx context.Context, es []crm.Email) ([]crm.Tracked, error) {
	if c := s.get(); c != nil {
		return c.TrackEmails(ctx, es)
	}
	return nil, errNoCRM
}

func (s *session) ClearRegarding(ctx context.Context, id crm.ActivityID, current string) error {
	if c := s.get(); c != nil {
		return c.ClearRegarding(ctx, id, current)
	}
	return errNoCRM
}

func (s *session) Activity(ctx context.Context, id crm.ActivityID) (crm.ActivityInfo, error) {
	if c := s.get(); c != nil {
		return c.Activity(ctx, id)
	}
	return crm.ActivityInfo{}, errNoCRM
}

func (s *session) SetRegarding(ctx context.Context, id crm.ActivityID, r *agent.RecordRef) error {
	if c := s.get(); c != nil {
		return c.SetRegarding(ctx, id, r)
	}
	return errNoCRM
}

func (s *session) DeleteActivityIf(ctx context.Context, id crm.ActivityID, etag string) error {
	if c := s.get(); c != nil {
		return c.DeleteActivityIf(ctx, id, etag)
	}
	return errNoCRM
}

func (s *session) UserName(ctx context.Context, id string) (string, error) {
	if c := s.get(); c != nil {
		return c.UserName(ctx, id)
	}
	return "", errNoCRM
}

func (s *session) TrackAppointment(ctx context.Context, a crm.Appointment) (string, error) {
	if c := s.get(); c != nil {
		return c.TrackAppointment(ctx, a)
	}
	return "", errNoCRM
}
