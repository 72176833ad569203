// Package agent is the contract between the user interface and the tracking
// engine: value types and role interfaces only. It imports the standard
// library alone, so the UI can depend on it without pulling in the engine,
// the cache, the CRM client, SQLite, fsnotify or the keychain.
package agent

import (
	"context"
	"errors"
	"time"
)

// ErrNoCredentials is returned by Secrets.Load when nothing is saved.
var ErrNoCredentials = errors.New("no saved credentials")

// ErrNotAvailable is returned by operations that this build cannot perform yet.
var ErrNotAvailable = errors.New("not available yet")

// ErrNotPermitted means the user's CRM role lacks prvSyncToOutlook; the
// agent then sends nothing.
var ErrNotPermitted = errors.New("your CRM security role does not include the Sync to Outlook privilege (prvSyncToOutlook); ask your CRM administrator to grant it")

// ErrKeychainUnavailable means there is no usable system keychain (no
// session bus, no Secret Service, or a locked one that cannot prompt). The
// user may sign in without saving instead; there is never a file fallback.
var ErrKeychainUnavailable = errors.New("the system keychain is not available")

// State is the connection state the engine derives from facts.
type State int

// The connection states, in the order the engine's rules test them.
const (
	StateStarting     State = iota // config or cache not loaded yet
	StateNeedsSignIn               // no credentials, or the CRM answered 401
	StateOff                       // the user switched the connection off
	StateConnecting                // credentials present, no answer yet
	StateOnline                    // the last request succeeded
	StateBackoff                   // transient failures; waiting before the next try
	StateNotPermitted              // the user's role lacks prvSyncToOutlook
)

// String returns the state's user-facing name.
func (s State) String() string {
	switch s {
	case StateStarting:
		return "Starting"
	case StateNeedsSignIn:
		return "NeedsSignIn"
	case StateOff:
		return "Off"
	case StateConnecting:
		return "Connecting"
	case StateOnline:
		return "Online"
	case StateBackoff:
		return "Backoff"
	case StateNotPermitted:
		return "NotPermitted"
	}
	return "Unknown"
}

// Severity ranks a Warning for display.
type Severity int

// Warning severities, least to most urgent.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityError
)

// Status is a snapshot of the engine for the tray and the status line.
type Status struct {
	State       State
	Since       time.Time // when State was entered
	LastSuccess time.Time // last request the CRM answered successfully
	NextRetry   time.Time // zero unless StateBackoff
	User        string    // CRM display name; empty until signed in
	Pending     int       // outbox actions not yet confirmed
	Warnings    []Warning // already filtered by time-to-visible
	ScanDone    int       // messages read by the initial scan so far
	ScanTotal   int       // messages the initial scan will read; 0 when idle
}

// Warning is a condition the user should know about.
type Warning struct {
	Code, Title, Text string
	Severity          Severity
}

// MessageKey is the unique part of a Maildir file name: stable across the
// move from new/ to cur/ and across flag changes.
type MessageKey string

// RecordRef points at a CRM record. Name is for display only and is never cached.
type RecordRef struct{ Entity, ID, Name string }

// TrackState is where a message stands with respect to the CRM.
type TrackState int

// The track states of a message.
const (
	Untracked TrackState = iota
	_                    // 1 stays unused: the cache stores these numbers, and it once meant "suggested", which nothing produced
	Pending
	Tracked
	Failed
)

// String returns the track state's user-facing name.
func (t TrackState) String() string {
	switch t {
	case Untracked:
		return "not tracked"
	case Pending:
		return "pending"
	case Tracked:
		return "tracked"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Item is one recent message as the items window shows it.
type Item struct {
	Key        MessageKey
	From       string // display only; held in memory, never persisted
	Subject    string // display only; held in memory, never persisted
	Received   time.Time
	Track      TrackState
	ActivityID string
	Regarding  *RecordRef
	OwnedByMe  bool
	Reason     string // pipeline explanation or last failure; user-safe
}

// AutoTrackScope is the user's automatic tracking choice (the legacy
// client's usersettings.incomingemailfilteringmethod).
type AutoTrackScope int

// The auto-track scopes. The zero value is the legacy default.
const (
	TrackFromCRMRecords AutoTrackScope = iota // mail from CRM contacts, accounts and leads
	TrackAll                                  // all mail
	TrackReplies                              // replies to tracked mail
	TrackNone                                 // nothing automatically
)

// String returns the scope's user-facing name.
func (a AutoTrackScope) String() string {
	switch a {
	case TrackFromCRMRecords:
		return "mail from CRM contacts, accounts and leads"
	case TrackAll:
		return "all mail"
	case TrackReplies:
		return "replies to tracked mail"
	case TrackNone:
		return "none"
	}
	return "unknown"
}

// Settings are the user's non-secret preferences.
type Settings struct {
	ConnectionEnabled bool // the "connection off" switch
	CRMURL            string
	// ClientID is the app registration the user signs in with; empty
	// means the default (Microsoft's development client ID).
	ClientID          string
	MaildirPath       string
	Folders           []string // Maildir++ folders watched besides the inbox, e.g. ".Sent"
	AutoTrack         AutoTrackScope
	ExcludedAddresses []string
	InternalDomains   []string
}

// SettingsPatch changes some settings; a nil field is left unchanged.
type SettingsPatch struct {
	ConnectionEnabled *bool
	MaildirPath       *string
	Folders           *[]string
	AutoTrack         *AutoTrackScope
	ExcludedAddresses *[]string
	InternalDomains   *[]string
}

// Notice is a one-shot message for a desktop notification.
type Notice struct{ Title, Text string }

// Event is one update from the engine. Nil fields are unchanged. Status is
// always set in the first event a subscriber gets.
type Event struct {
	Seq    uint64
	Status *Status
	Item   *Item
	Notice *Notice
}

// SignInMethod is how a user proves who they are to their organisation.
type SignInMethod int

// The sign-in methods. The zero value picks the password grant when a
// password is given and the browser otherwise.
const (
	SignInAuto       SignInMethod = iota // password if Secret is set, else browser
	SignInBrowser                        // authorization code with PKCE in the system browser
	SignInDeviceCode                     // a code entered on another device
	SignInPassword                       // the password grant, where the server allows it
)

// String returns the method's name as the sign-in window words it.
func (m SignInMethod) String() string {
	switch m {
	case SignInBrowser:
		return "browser"
	case SignInDeviceCode:
		return "device code"
	case SignInPassword:
		return "password"
	}
	return "auto"
}

// SignInPrompt is what a sign-in in progress asks the user to do: open URL
// (the browser sign-in has opened it already) and, for the device code,
// enter UserCode there.
type SignInPrompt struct {
	URL      string
	UserCode string    // empty for the browser sign-in
	Expires  time.Time // when the code or the wait runs out
}

// Credentials sign a user in. Secret is the password of the password grant:
// it is used once, in memory, and never saved. What keeps the user signed
// in is RefreshToken with the account's identifiers; only those are saved,
// and only in the keychain.
type Credentials struct {
	CRMURL, Username, Secret string
	// Method is the sign-in flow to run; see SignInMethod.
	Method SignInMethod
	// ClientID is the app registration's client ID; empty uses the default.
	ClientID string
	// Prompt receives what the user must do during a browser or device
	// code sign-in; it is called from the sign-in's goroutine.
	Prompt func(SignInPrompt) `json:"-"`
	// RefreshToken and the identifiers below are filled in by a successful
	// sign-in and by Secrets.Load. They are secret (the token) or company
	// data (the rest) and go nowhere but the keychain.
	RefreshToken string
	Authority    string // the sign-in service, e.g. https://login.microsoftonline.com/<tenant>
	TenantID     string
	UserObjectID string
	// NoSave signs in for this session only, without saving to the
	// keychain (the choice offered when the keychain is unavailable).
	NoSave bool
}

// UntrackResult says what untracking did with the CRM copy.
type UntrackResult struct {
	DeletedInCRM bool
	Reason       string
}

// ConnReport tells which layer of a connection test failed.
type ConnReport struct {
	DNS, TLS, Auth, API error
	Latency             time.Duration
}

// StatusSource feeds the tray and the status window.
type StatusSource interface {
	Status() Status
	// Subscribe delivers events until ctx ends; the channel is closed then,
	// or when the reader lags too far behind.
	Subscribe(ctx context.Context) <-chan Event
}

// Account is what the sign-in form and the tray's "Retry now" use.
type Account interface {
	SignIn(ctx context.Context, c Credentials) error
	SignOut(ctx context.Context) error
	TestConnection(ctx context.Context, c Credentials) (ConnReport, error)
	RetryNow()
}

// Tracker is what the items window uses. Mutations return once the action
// is durably queued.
type Tracker interface {
	RecentItems(ctx context.Context, limit int) ([]Item, error)
	Track(ctx context.Context, k MessageKey, regarding *RecordRef) error
	Untrack(ctx context.Context, k MessageKey) (UntrackResult, error)
	SetRegarding(ctx context.Context, k MessageKey, r RecordRef) error
	SearchRecords(ctx context.Context, query string, limit int) ([]RecordRef, error)
}

// SettingsEditor is what the settings window and the tray switch use.
type SettingsEditor interface {
	Settings() Settings
	UpdateSettings(ctx context.Context, p SettingsPatch) (Settings, error)
}

// FieldSize is one field that left the device, and its size in bytes.
type FieldSize struct {
	Name  string
	Bytes int
}

// Disclosure records what one exchange with the CRM carried about a
// message: the answer to "what was sent?". Held in memory only.
type Disclosure struct {
	Key      MessageKey
	At       time.Time
	Purpose  string // "tracking decision" or "tracked message"
	Fields   []FieldSize
	BodySent bool // the message body was uploaded (only ever for a tracked message)
}

// Transparency is what the "What was sent" view uses.
type Transparency interface {
	// Disclosures returns the most recent exchanges, newest first.
	Disclosures(limit int) []Disclosure
}

// Backend is everything the UI may ask of the engine.
type Backend interface {
	StatusSource
	Account
	Tracker
	SettingsEditor
	Transparency
}

// Secrets keeps credentials in the OS keychain. Load returns
// ErrNoCredentials when nothing is saved.
type Secrets interface {
	Load(ctx context.Context) (Credentials, error)
	Save(ctx context.Context, c Credentials) error
	Delete(ctx context.Context) error
}

// SettingsStore persists Settings; the engine is its only writer.
type SettingsStore interface {
	Load() (Settings, error)
	Save(Settings) error
}
