package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/zalando/go-keyring"

	"crmsync/agent"
	"crmsync/agent/engine"
)

// ErrKeychainUnavailable is agent.ErrKeychainUnavailable, named here for
// the keychain code that returns it.
var ErrKeychainUnavailable = agent.ErrKeychainUnavailable

// keychainTimeout bounds every keychain call: a locked Secret Service can
// wait for ever on a prompt nobody sees.
const keychainTimeout = 5 * time.Second

// Keychain keeps what keeps the user signed in (the refresh token and the
// account's identifiers, never the CRM password) in the OS keychain
// (Secret Service on Linux). The entry's service is the app ID; its user
// is the CRM address and the user name, so two accounts never overwrite
// each other. Which account is current is not secret and comes from the
// settings.
type Keychain struct {
	// Service is the keychain service name, normally AppID.
	Service string
	// Account returns the CRM address and user name last signed in, or
	// empty strings when none.
	Account func() (crmURL, username string)
	// Timeout bounds each call; 0 means keychainTimeout.
	Timeout time.Duration
}

var _ agent.Secrets = (*Keychain)(nil)

func entryUser(crmURL, username string) string {
	return strings.TrimRight(crmURL, "/") + " " + strings.ToLower(username)
}

// savedSignIn is the keychain entry's value: JSON, so the identifiers
// travel with the token they belong to.
type savedSignIn struct {
	Version      int    `json:"v"`
	RefreshToken string `json:"refresh_token"`
	Authority    string `json:"authority,omitempty"`
	TenantID     string `json:"tenant_id,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	UserObjectID string `json:"oid,omitempty"`
	Username     string `json:"username,omitempty"`
}

// Load returns the saved sign-in of the current account, or
// agent.ErrNoCredentials. An entry written by an older version holds a
// password: it is returned as Secret so the agent can exchange it once
// for a refresh token, which then replaces it.
func (k *Keychain) Load(ctx context.Context) (agent.Credentials, error) {
	crmURL, user := "", ""
	if k.Account != nil {
		crmURL, user = k.Account()
	}
	if crmURL == "" || user == "" {
		return agent.Credentials{}, agent.ErrNoCredentials
	}
	var secret string
	err := k.call(ctx, func() (err error) {
		secret, err = keyring.Get(k.Service, entryUser(crmURL, user))
		return err
	})
	if errors.Is(err, keyring.ErrNotFound) {
		return agent.Credentials{}, agent.ErrNoCredentials
	}
	if err != nil {
		return agent.Credentials{}, fmt.Errorf("keychain: load: %w", err)
	}
	c := agent.Credentials{CRMURL: crmURL, Username: user}
	var s savedSignIn
	if strings.HasPrefix(secret, "{") && json.Unmarshal([]byte(secret), &s) == nil && s.RefreshToken != "" {
		c.RefreshToken, c.Authority, c.TenantID = s.RefreshToken, s.Authority, s.TenantID
		c.ClientID, c.UserObjectID = s.ClientID, s.UserObjectID
		return c, nil
	}
	c.Secret = secret // an older version's saved password
	return c, nil
}

// Save stores c's refresh token with the account's identifiers. It never
// stores a password and never falls back to a file.
func (k *Keychain) Save(ctx context.Context, c agent.Credentials) error {
	if c.CRMURL == "" || c.Username == "" || c.RefreshToken == "" {
		return errors.New("keychain: save: the CRM address, user name and refresh token are all needed")
	}
	b, err := json.Marshal(savedSignIn{Version: 1, RefreshToken: c.RefreshToken, Authority: c.Authority,
		TenantID: c.TenantID, ClientID: c.ClientID, UserObjectID: c.UserObjectID, Username: c.Username})
	if err != nil {
		return fmt.Errorf("keychain: save: %w", err)
	}
	err = k.call(ctx, func() error { return keyring.Set(k.Service, entryUser(c.CRMURL, c.Username), string(b)) })
	if err != nil {
		return fmt.Errorf("keychain: save: %w", err)
	}
	return nil
}

// Delete removes the current account's secret; nothing saved is not an error.
func (k *Keychain) Delete(ctx context.Context) error {
	crmURL, user := "", ""
	if k.Account != nil {
		crmURL, user = k.Account()
	}
	if crmURL == "" || user == "" {
		return nil
	}
	err := k.call(ctx, func() error { return keyring.Delete(k.Service, entryUser(crmURL, user)) })
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("keychain: delete: %w", err)
	}
	return nil
}

// call runs fn under the timeout and maps the keychain library's many
// failure shapes to ErrKeychainUnavailable where the keychain itself is
// missing or locked. The goroutine of a timed-out call is abandoned: the
// library offers no way to cancel a D-Bus call in flight.
func (k *Keychain) call(ctx context.Context, fn func() error) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = keychainTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return classifyKeychain(err)
	case <-ctx.Done():
		return fmt.Errorf("%w: it did not answer within %v (is it locked?)", ErrKeychainUnavailable, timeout)
	}
}

// classifyKeychain turns go-keyring's errors into ones the sign-in form can
// explain; see toolchain.md for the shapes measured here.
func classifyKeychain(err error) error {
	if err == nil || errors.Is(err, keyring.ErrNotFound) {
		return err
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: no desktop session bus is running", ErrKeychainUnavailable)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("%w: the desktop session bus cannot be reached", ErrKeychainUnavailable)
	}
	var de dbus.Error
	if errors.As(err, &de) {
		if de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
			return fmt.Errorf("%w: no Secret Service (such as GNOME Keyring or KeePassXC) is running", ErrKeychainUnavailable)
		}
		return fmt.Errorf("%w: %s", ErrKeychainUnavailable, de.Name)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unlock"):
		return fmt.Errorf("%w: the keychain is locked; unlock it and try again", ErrKeychainUnavailable)
	case strings.Contains(msg, "dbus"), strings.Contains(msg, "DBUS"):
		return fmt.Errorf("%w: no desktop session bus is running", ErrKeychainUnavailable)
	}
	return err
}

// KeychainUserMessage is the sign-in form's sentence for a keychain failure.
func KeychainUserMessage(err error) string {
	if errors.Is(err, ErrKeychainUnavailable) {
		detail := strings.TrimPrefix(err.Error(), "keychain: save: ")
		detail = strings.TrimPrefix(detail, "keychain: load: ")
		return "Your sign-in cannot be saved: " + strings.TrimPrefix(detail, ErrKeychainUnavailable.Error()+": ") +
			". You can sign in without saving; you will be asked again next time."
	}
	return "Your sign-in could not be saved in the system keychain: " + err.Error()
}

// MailPasswords keeps the passwords of the user's other accounts in the OS
// keychain, one entry per account URL (the mail account's
// imaps://USER@HOST:PORT, the address book and calendar server's
// https://USER@HOST/PATH/), beside the CRM sign-in.
// A password given for this session only (--password-stdin) is held in
// memory and wins over the keychain's.
type MailPasswords struct {
	// Service is the keychain service name, normally AppID.
	Service string
	// Timeout bounds each call; 0 means keychainTimeout.
	Timeout time.Duration

	mu      sync.Mutex
	session map[string]string // account URL → password for this run only; guarded by mu
}

var _ engine.Passwords = (*MailPasswords)(nil)

// mailEntry is the keychain user of an account's password.
func mailEntry(account string) string { return "mail " + account }

// UseForSession makes password the account's for this run, without
// saving it.
func (m *MailPasswords) UseForSession(account, password string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		m.session = map[string]string{}
	}
	m.session[account] = password
}

// MailPassword returns the account's password, or agent.ErrNoCredentials.
func (m *MailPasswords) MailPassword(ctx context.Context, account string) (string, error) {
	m.mu.Lock()
	pw, ok := m.session[account]
	m.mu.Unlock()
	if ok {
		return pw, nil
	}
	k := &Keychain{Service: m.Service, Timeout: m.Timeout}
	err := k.call(ctx, func() (err error) {
		pw, err = keyring.Get(m.Service, mailEntry(account))
		return err
	})
	if errors.Is(err, keyring.ErrNotFound) {
		return "", agent.ErrNoCredentials
	}
	if err != nil {
		return "", fmt.Errorf("keychain: load the password of %s: %w", account, err)
	}
	return pw, nil
}

// SaveMailPassword stores the account's password in the keychain, and
// for this run.
func (m *MailPasswords) SaveMailPassword(ctx context.Context, account, password string) error {
	k := &Keychain{Service: m.Service, Timeout: m.Timeout}
	if err := k.call(ctx, func() error { return keyring.Set(m.Service, mailEntry(account), password) }); err != nil {
		return fmt.Errorf("keychain: save the password of %s: %w", account, err)
	}
	m.UseForSession(account, password)
	return nil
}
