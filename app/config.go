package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	// IMAP is the mail account when it is not a Maildir; its password is
	// in the keychain.
	IMAP *imapConfig `json:"imap,omitempty"`
	// Records is what is kept in step with the address book and calendar;
	// the DAV password is in the keychain.
	Records *recordsConfig `json:"records,omitempty"`
	// SMTP is the outgoing mail server the CRM's email is sent through;
	// its password is in the keychain.
	SMTP *imapConfig `json:"smtp,omitempty"`
}

// recordsConfig is the address book and calendar sync in the settings
// file.
type recordsConfig struct {
	URL          string `json:"dav_url"`
	Username     string `json:"dav_username"`
	CAFile       string `json:"ca_file,omitempty"`
	AddressBook  string `json:"address_book,omitempty"`
	Calendar     string `json:"calendar,omitempty"`
	Contacts     bool   `json:"contacts"`
	Appointments bool   `json:"appointments"`
	Tasks        bool   `json:"tasks"`
}

func recordsToFile(r agent.RecordSync) *recordsConfig {
	if r == (agent.RecordSync{}) {
		return nil
	}
	return &recordsConfig{URL: r.DAV.URL, Username: r.DAV.Username, CAFile: r.DAV.CAFile, AddressBook: r.AddressBook,
		Calendar: r.Calendar, Contacts: r.Contacts, Appointments: r.Appointments, Tasks: r.Tasks}
}

func recordsFromFile(c *recordsConfig) agent.RecordSync {
	if c == nil {
		return agent.RecordSync{}
	}
	return agent.RecordSync{DAV: agent.DAVAccount{URL: c.URL, Username: c.Username, CAFile: c.CAFile},
		AddressBook: c.AddressBook, Calendar: c.Calendar, Contacts: c.Contacts, Appointments: c.Appointments, Tasks: c.Tasks}
}

// imapConfig is an IMAP account in the settings file.
type imapConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	Security string `json:"security"` // "tls", "starttls" or "none"
	Username string `json:"username"`
	CAFile   string `json:"ca_file,omitempty"`
}

// securityNames are the settings file's names of agent.Security values.
var securityNames = map[agent.Security]string{agent.SecurityTLS: "tls", agent.SecuritySTARTTLS: "starttls", agent.SecurityNone: "none"}

func imapToFile(a agent.IMAPAccount) *imapConfig {
	if a.IsZero() {
		return nil
	}
	return &imapConfig{Host: a.Host, Port: a.Port, Security: securityNames[a.Security], Username: a.Username, CAFile: a.CAFile}
}

// imapFromFile reads the account back; an unknown security name is read
// as TLS, the safe choice.
func imapFromFile(c *imapConfig) agent.IMAPAccount {
	if c == nil {
		return agent.IMAPAccount{}
	}
	a := agent.IMAPAccount{Host: c.Host, Port: c.Port, Username: c.Username, CAFile: c.CAFile}
	for s, name := range securityNames {
		if name == c.Security {
			a.Security = s
		}
	}
	return a
}

// smtpToFile and smtpFromFile keep the outgoing mail server in the
// settings file with the IMAP account's fields.
func smtpToFile(a agent.SMTPAccount) *imapConfig {
	return imapToFile(agent.IMAPAccount(a))
}

func smtpFromFile(c *imapConfig) agent.SMTPAccount {
	return agent.SMTPAccount(imapFromFile(c))
}

// migrations upgrade a settings file one version at a time; index i moves
// version i to i+1.
var migrations = []func(*configFile){
	0: func(c *configFile) { c.ConnectionEnabled = true }, // files before versioning had no switch
}

// Config stores Settings as JSON, written atomically with mode 0600. It is
// the settings file's only writer in this process: the engine saves its
// settings through it and the keychain records the signed-in account
// through it, and both change one copy of the whole file held in memory,
// from which the file is rewritten. No write reads the file first, so
// neither can bring back what the other just replaced.
type Config struct {
	path string

	mu     sync.Mutex
	loaded bool       // f holds the file's content; set once, by the first successful read; guarded by mu
	f      configFile // the whole file as last read or written, and what the next write starts from; guarded by mu
}

var _ agent.SettingsStore = (*Config)(nil)

// NewConfig returns the store for the settings file at path; the file is
// read on first use.
func NewConfig(path string) *Config { return &Config{path: path} }

// Load returns the settings; a missing file gives the defaults. The file
// is read once; later calls return what this Config holds, which includes
// every change saved through it since.
func (c *Config) Load() (agent.Settings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadLocked(); err != nil {
		return agent.Settings{}, err
	}
	f := c.f
	return agent.Settings{
		ConnectionEnabled: f.ConnectionEnabled, CRMURL: f.CRMURL, ClientID: f.ClientID, MaildirPath: f.MaildirPath,
		Folders: slices.Clone(f.Folders), AutoTrack: agent.AutoTrackScope(f.AutoTrack),
		ExcludedAddresses: slices.Clone(f.ExcludedAddresses), InternalDomains: slices.Clone(f.InternalDomains),
		IMAP: imapFromFile(f.IMAP), Records: recordsFromFile(f.Records), SMTP: smtpFromFile(f.SMTP),
	}, nil
}

// loadLocked reads the file into c.f unless that was done already. A
// damaged file or one from a newer version is not loaded, so no write
// replaces it: the user is told to fix or delete it instead.
func (c *Config) loadLocked() error {
	if c.loaded {
		return nil
	}
	f, err := c.read()
	if err != nil {
		return err
	}
	c.f, c.loaded = f, true
	return nil
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

// update applies change to a copy of the file's state and writes that
// copy; only once it is on disk does it become the state, so memory
// never holds what the file does not.
func (c *Config) update(change func(f *configFile)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadLocked(); err != nil {
		return err
	}
	next := c.f
	change(&next)
	next.Version = configVersion
	if err := writeJSON(c.path, next); err != nil {
		return err
	}
	c.f = next
	return nil
}

// Save records s, keeping the signed-in account, and writes the file
// atomically: a crash leaves the old file or the new one.
func (c *Config) Save(s agent.Settings) error {
	return c.update(func(f *configFile) {
		f.ConnectionEnabled, f.CRMURL, f.ClientID = s.ConnectionEnabled, s.CRMURL, s.ClientID
		f.MaildirPath, f.Folders, f.AutoTrack = s.MaildirPath, slices.Clone(s.Folders), int(s.AutoTrack)
		f.ExcludedAddresses, f.InternalDomains = slices.Clone(s.ExcludedAddresses), slices.Clone(s.InternalDomains)
		f.IMAP = imapToFile(s.IMAP)
		f.Records = recordsToFile(s.Records)
		f.SMTP = smtpToFile(s.SMTP)
	})
}

// SetAccount records which account is signed in, so the keychain entry
// can be found on the next start; the settings are kept as they are.
func (c *Config) SetAccount(crmURL, username string) error {
	return c.update(func(f *configFile) { f.CRMURL, f.Username = crmURL, username })
}

// Account returns the CRM address and user name last signed in, or empty
// strings when the file cannot be read.
func (c *Config) Account() (crmURL, username string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loadLocked() != nil {
		return "", ""
	}
	return c.f.CRMURL, c.f.Username
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
