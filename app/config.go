package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"crmsync/agent"
)

// configVersion is the version of the settings file this build writes.
const configVersion = 1

// configFile is the settings file: non-secret choices only. What keeps
// the user signed in is in the keychain, never here.
type configFile struct {
	Version           int      `json:"version"`
	ConnectionEnabled bool     `json:"connection_enabled"`
	CRMURL            string   `json:"crm_url,omitempty"`
	ClientID          string   `json:"client_id,omitempty"`
	Username          string   `json:"username,omitempty"`
	MaildirPath       string   `json:"maildir,omitempty"`
	Folders           []string `json:"folders,omitempty"`
	AutoTrack         int      `json:"auto_track"`
	ExcludedAddresses []string `json:"excluded_addresses,omitempty"`
	InternalDomains   []string `json:"internal_domains,omitempty"`
}

// migrations upgrade a settings file one version at a time; index i moves
// version i to i+1.
var migrations = []func(*configFile){
	0: func(c *configFile) { c.ConnectionEnabled = true }, // files before versioning had no switch
}

// Config stores Settings as JSON, written atomically with mode 0600. It is
// the settings' only owner; the engine saves through it.
type Config struct {
	path string

	mu       sync.Mutex
	username string // the account last signed in; guarded by mu
}

var _ agent.SettingsStore = (*Config)(nil)

// NewConfig returns the store for the settings file at path.
func NewConfig(path string) *Config { return &Config{path: path} }

// Load reads the settings; a missing file gives the defaults.
func (c *Config) Load() (agent.Settings, error) {
	f, err := c.read()
	if err != nil {
		return agent.Settings{}, err
	}
	c.mu.Lock()
	c.username = f.Username
	c.mu.Unlock()
	return agent.Settings{
		ConnectionEnabled: f.ConnectionEnabled, CRMURL: f.CRMURL, ClientID: f.ClientID, MaildirPath: f.MaildirPath, Folders: f.Folders,
		AutoTrack: agent.AutoTrackScope(f.AutoTrack), ExcludedAddresses: f.ExcludedAddresses, InternalDomains: f.InternalDomains,
	}, nil
}

func (c *Config) read() (configFile, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return configFile{Version: configVersion, ConnectionEnabled: true}, nil
	}
	if err != nil {
		return configFile{}, fmt.Errorf("settings: %w", err)
	}
	var f configFile
	if err := json.Unmarshal(b, &f); err != nil {
		return configFile{}, fmt.Errorf("settings file %s is damaged (%v); fix or delete it to start from the defaults", c.path, err)
	}
	if f.Version > configVersion {
		return configFile{}, fmt.Errorf("settings file %s was written by a newer crmsync (version %d); update crmsync", c.path, f.Version)
	}
	for v := f.Version; v < configVersion; v++ {
		migrations[v](&f)
	}
	f.Version = configVersion
	if f.AutoTrack < int(agent.TrackFromCRMRecords) || f.AutoTrack > int(agent.TrackNone) {
		f.AutoTrack = int(agent.TrackFromCRMRecords)
	}
	return f, nil
}

// Save writes s atomically: a crash leaves the old file or the new one.
func (c *Config) Save(s agent.Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := configFile{Version: configVersion, ConnectionEnabled: s.ConnectionEnabled, CRMURL: s.CRMURL, ClientID: s.ClientID,
		Username: c.username, MaildirPath: s.MaildirPath, Folders: s.Folders, AutoTrack: int(s.AutoTrack),
		ExcludedAddresses: s.ExcludedAddresses, InternalDomains: s.InternalDomains}
	return writeJSON(c.path, f)
}

// SetAccount records which account is signed in, so the keychain entry
// can be found on the next start.
func (c *Config) SetAccount(crmURL, username string) error {
	f, err := c.read()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.username = username
	f.CRMURL, f.Username = crmURL, username
	return writeJSON(c.path, f)
}

// Account returns the CRM address and user name last signed in.
func (c *Config) Account() (crmURL, username string) {
	f, err := c.read()
	if err != nil {
		return "", ""
	}
	return f.CRMURL, f.Username
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".settings-*")
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("settings: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("settings: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}
