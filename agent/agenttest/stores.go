package agenttest

import (
	"context"
	"sync"

	"crmsync/agent"
)

// Secrets is an in-memory agent.Secrets, for tests about something other
// than the keychain (which the app tests use for real).
type Secrets struct {
	mu sync.Mutex
	c  *agent.Credentials
	// SaveErr, when set, is what Save returns: a keychain that is locked
	// or missing, for tests of what the engine does then.
	SaveErr error
}

// Load returns the saved credentials or agent.ErrNoCredentials.
func (s *Secrets) Load(context.Context) (agent.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return agent.Credentials{}, agent.ErrNoCredentials
	}
	return *s.c, nil
}

// Save keeps c.
func (s *Secrets) Save(_ context.Context, c agent.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.SaveErr != nil {
		return s.SaveErr
	}
	s.c = &c
	return nil
}

// Delete forgets the credentials.
func (s *Secrets) Delete(context.Context) error {
	s.mu.Lock()
	s.c = nil
	s.mu.Unlock()
	return nil
}

// Settings is an in-memory agent.SettingsStore holding Value.
type Settings struct {
	mu    sync.Mutex
	value agent.Settings
}

// NewSettings returns a store holding s.
func NewSettings(s agent.Settings) *Settings { return &Settings{value: s} }

// Load returns the stored settings.
func (s *Settings) Load() (agent.Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value, nil
}

// Save stores v.
func (s *Settings) Save(v agent.Settings) error {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
	return nil
}

// Update changes the stored settings in place, as a test between runs.
func (s *Settings) Update(fn func(*agent.Settings)) {
	s.mu.Lock()
	fn(&s.value)
	s.mu.Unlock()
}
