// Package agent is the contract between the user interface and the tracking
// engine: value types and role interfaces only. It imports the standard
// library alone, so the UI can depend on it without pulling in the engine,
// the cache, the CRM client, SQLite, fsnotify or the keychain.
package agent

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
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
	// Mail names the mail account being watched, for the status line:
	// "imaps://alice@mail.example.com:993" or the Maildir's path; "" when
	// none is set. Held in memory only.
	Mail string
	// LastSync is when the last reconciliation with the CRM finished.
	LastSync time.Time
	// Records says how the address book and calendar stand: "" when they
	// are not kept in step, else a sentence such as "in step at 15:42".
	Records string
	// Outgoing says how the CRM's email stands: "" when crmsync does not
	// send it, else a sentence such as "2 emails waiting to be sent".
	Outgoing string
	// OutgoingPending counts the CRM's emails waiting for crmsync to send
	// them, for the tray.
	OutgoingPending int
}

// Warning is a condition the user should know about.
type Warning struct {
	Code, Title, Text string
	Severity          Severity
}

// MessageKey identifies a message in the user's mail: for a Maildir, the
// unique part of its file name, stable across the move from new/ to cur/
// and across flag changes; for an IMAP account, a salted hash of the
// mailbox, its UIDVALIDITY and the UID, which reveals none of them.
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
	ClientID    string
	MaildirPath string
	Folders     []string // Maildir++ folders watched besides the inbox, e.g. ".Sent"
	// IMAP is the user's IMAP account. When set (Host not empty) it is the
	// mail account and MaildirPath is ignored; its password is in the
	// keychain, never here.
	IMAP IMAPAccount
	// Records says what is kept in step with the user's address book and
	// calendar.
	Records RecordSync
	// SMTP is the outgoing mail server the CRM's email is sent through;
	// zero means none.
	SMTP              SMTPAccount
	AutoTrack         AutoTrackScope
	ExcludedAddresses []string
	InternalDomains   []string
}

// SettingsPatch changes some settings; a nil field is left unchanged.
type SettingsPatch struct {
	ConnectionEnabled *bool
	MaildirPath       *string
	Folders           *[]string
	// IMAP replaces the IMAP account; a zero IMAPAccount switches back to
	// the Maildir.
	IMAP *IMAPAccount
	// Records replaces what is kept in step with the address book and
	// calendar.
	Records *RecordSync
	// SMTP replaces the outgoing mail server; a zero one stops sending.
	SMTP              *SMTPAccount
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
	MailSetup
	FolderTracking
	Senders
	RecordSyncer
	OutgoingSender
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

// Security is how a connection to a mail server is protected.
type Security int

// The connection securities. The zero value is implicit TLS.
const (
	SecurityTLS      Security = iota // TLS from the first byte (IMAP 993, SMTP 465)
	SecuritySTARTTLS                 // plaintext upgraded with STARTTLS (IMAP 143, SMTP 587)
	SecurityNone                     // no TLS; refused for anything but a loopback server
)

// String returns the security's user-facing name.
func (s Security) String() string {
	switch s {
	case SecurityTLS:
		return "TLS"
	case SecuritySTARTTLS:
		return "STARTTLS"
	case SecurityNone:
		return "none (this computer only)"
	}
	return "unknown"
}

// IMAPAccount is where the user's mail is kept when it is not a Maildir.
// The password is in the keychain, never in this value.
type IMAPAccount struct {
	Host     string
	Port     int // 0 means the security's default: 993 for TLS, 143 otherwise
	Security Security
	Username string
	// CAFile is an optional PEM bundle trusted besides the system roots,
	// for a server with a private certificate authority.
	CAFile string
}

// IsZero reports whether no IMAP account is set.
func (a IMAPAccount) IsZero() bool { return a.Host == "" }

// Addr returns host:port, with the security's default port when Port is 0.
func (a IMAPAccount) Addr() string {
	port := a.Port
	if port == 0 {
		port = 993
		if a.Security != SecurityTLS {
			port = 143
		}
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(port))
}

// URL returns the account as the command line writes it:
// imaps://USER@HOST:PORT for TLS, imap:// otherwise.
func (a IMAPAccount) URL() string {
	scheme := "imaps"
	if a.Security != SecurityTLS {
		scheme = "imap"
	}
	u := url.URL{Scheme: scheme, Host: a.Addr()}
	if a.Username != "" {
		u.User = url.User(a.Username)
	}
	return u.String()
}

// MailReport tells which step of a mail account test failed. A nil field
// passed (or was not reached when an earlier one failed); Idle is set when
// the server has no IDLE, which is not fatal: new mail is then polled for.
type MailReport struct {
	DNS, Connect, TLS, Login, Idle error
	Folders                        int // mailboxes the account lists, after a successful login
	Latency                        time.Duration
}

// MailSetup is what the settings window's "Mail account" section uses.
type MailSetup interface {
	// TestMail connects to a and signs in with password ("" uses the one
	// in the keychain), and says which step failed, in words.
	TestMail(ctx context.Context, a IMAPAccount, password string) (MailReport, error)
	// SaveMailPassword keeps a's password in the keychain.
	SaveMailPassword(ctx context.Context, a IMAPAccount, password string) error
	// MailFolders lists the current mail account's folders as the server
	// (or the Maildir++ layout) names them, separator included.
	MailFolders(ctx context.Context) ([]string, error)
}

// MaxFolderRules is how many folder tracking rules Dataverse allows per
// mailbox.
const MaxFolderRules = 25

// FolderRule maps a mail folder to a CRM record: every message that
// arrives in or is moved into the folder is tracked regarding the record.
// Rules live in the CRM; Folder and Regarding.Name are for display only
// and are never cached.
type FolderRule struct {
	ID        string // the CRM's mailboxtrackingfolder GUID
	Folder    string // as the server names it: "INBOX/Contoso", ".Contoso"
	Regarding RecordRef
}

// FolderTracking is what the settings window's "Folder tracking" section
// and `crmsync folders` use. Each call talks to the CRM.
type FolderTracking interface {
	FolderRules(ctx context.Context) ([]FolderRule, error)
	// AddFolderRule maps folder to r, replacing the folder's rule if it has one.
	AddFolderRule(ctx context.Context, folder string, r RecordRef) (FolderRule, error)
	// RemoveFolderRule deletes the folder's rule; mail tracked through it
	// stays tracked.
	RemoveFolderRule(ctx context.Context, folder string) error
}

// Person is a CRM contact or lead as the items window's detail pane shows
// it. Fetched live and held in memory only.
type Person struct {
	Ref      RecordRef // Entity "contact" or "lead"
	Email    string
	Company  string // the contact's parent account, or the lead's company name
	JobTitle string
	Phone    string
	Owner    string // the owner's display name
	WebURL   string // the record in the CRM's web app
}

// Senders is what the items window's detail pane uses.
type Senders interface {
	// Sender looks up the sender of k among the CRM's contacts and leads;
	// nil when the CRM has no record with that address.
	Sender(ctx context.Context, k MessageKey) (*Person, error)
	// AddContact creates a contact from the sender's name and address of
	// k, with account (if not nil) as its company. It is an explicit act
	// of the user, and the only time an address leaves the device outside
	// a decision.
	AddContact(ctx context.Context, k MessageKey, account *RecordRef) (Person, error)
}

// DAVAccount is the CardDAV/CalDAV server that holds the user's address
// book and calendar. The password is in the keychain, never here.
type DAVAccount struct {
	// URL is the server, or the user's principal on it:
	// https://HOST[:PORT]/PATH/, without the user. http:// is accepted for
	// a loopback server only.
	URL      string
	Username string
	// CAFile is an optional PEM bundle trusted besides the system roots.
	CAFile string
}

// IsZero reports whether no DAV account is set.
func (a DAVAccount) IsZero() bool { return a.URL == "" }

// Display returns the account as the command line writes it:
// https://USER@HOST/PATH/. It is also the account's key in the keychain.
func (a DAVAccount) Display() string {
	u, err := url.Parse(a.URL)
	if err != nil || u.Host == "" {
		return a.URL
	}
	if a.Username != "" {
		u.User = url.User(a.Username)
	}
	return u.String()
}

// RecordSync is what is kept in step between the CRM and the user's
// address book and calendar.
type RecordSync struct {
	DAV DAVAccount // zero: records are not kept in step
	// AddressBook and Calendar name the collections crmsync keeps (and
	// creates when the server has none of that name); "" means "CRM
	// contacts" and "CRM calendar".
	AddressBook, Calendar string
	// The record types kept in step.
	Contacts, Appointments, Tasks bool
}

// On reports whether anything is kept in step.
func (r RecordSync) On() bool {
	return !r.DAV.IsZero() && (r.Contacts || r.Appointments || r.Tasks)
}

// SyncCount is how many items or records one side got created, updated
// and deleted.
type SyncCount struct{ Created, Updated, Deleted int }

// SyncKind is what a sync pass did with one record type.
type SyncKind struct {
	Kind      string    // "contacts", "appointments" or "tasks"
	ToItems   SyncCount // written to the address book or calendar
	ToCRM     SyncCount // written to the CRM
	Conflicts int       // fields edited on both sides; the CRM's value kept
	Kept      int       // records in the sync filters after the pass
}

// SyncReport is what one sync pass did. Held in memory only.
type SyncReport struct {
	Started, Finished time.Time
	Kinds             []SyncKind
	// Notices are sentences for the user: conflicts, edits that could not
	// be sent, items put back.
	Notices []string
	Err     string // why the pass failed; "" when it did not
}

// SyncFilterInfo is one synchronisation filter as Settings lists it.
type SyncFilterInfo struct {
	Kind         string // "contacts", "appointments" or "tasks"
	Name         string
	Organisation bool // the administrator's, for everyone; else the user's own
}

// SyncFieldInfo is one synchronised field as Settings lists it.
type SyncFieldInfo struct {
	Kind          string
	Field, Column string // the address book or calendar field, and the CRM column
	ToItem, ToCRM bool   // the directions it flows for this user
}

// SyncOverview is the read-only view of what the CRM decides: filters,
// fields, the columns field security hides, and how many records the
// filters select now. Fetched live.
type SyncOverview struct {
	Filters []SyncFilterInfo
	Fields  []SyncFieldInfo
	Hidden  []string       // "contacts: telephone2", columns the user may not read
	Counts  map[string]int // records the filters select, by kind
}

// CheckStep is one step of a connection test, in words.
type CheckStep struct {
	Name    string
	OK      bool
	Warning bool // passed, with a caveat
	Detail  string
}

// RecordSyncer is what Settings' "Address book and calendar" section
// and `crmsync sync` use.
type RecordSyncer interface {
	// SyncNow runs a sync pass and returns what it did.
	SyncNow(ctx context.Context) (SyncReport, error)
	// LastSyncReport returns the last pass's report; zero before the first.
	LastSyncReport() SyncReport
	// SyncOverview reads the filters and field rules in force.
	SyncOverview(ctx context.Context) (SyncOverview, error)
	// TestDAV connects to a with password ("" uses the keychain's) and
	// says what it found, step by step.
	TestDAV(ctx context.Context, a DAVAccount, password string) ([]CheckStep, error)
	// SaveDAVPassword keeps a's password in the keychain.
	SaveDAVPassword(ctx context.Context, a DAVAccount, password string) error
}

// SMTPAccount is the user's outgoing mail server (SMTP submission), through
// which crmsync sends the email written in the CRM. The password is in the
// keychain, never here.
type SMTPAccount struct {
	Host     string
	Port     int      // 0 means the security's default: 465 for TLS, 587 for STARTTLS, 25 for none
	Security Security // TLS (smtps://), STARTTLS (smtp://), or none (a loopback server only)
	Username string   // "" means no sign-in, for a server on this computer only
	CAFile   string
}

// IsZero reports whether no outgoing mail server is set.
func (a SMTPAccount) IsZero() bool { return a.Host == "" }

// URL returns the account as the command line writes it:
// smtps://USER@HOST:PORT for TLS, smtp:// otherwise. It is also the
// account's key in the keychain.
func (a SMTPAccount) URL() string {
	scheme := "smtps"
	if a.Security != SecurityTLS {
		scheme = "smtp"
	}
	port := a.Port
	if port == 0 {
		port = map[Security]int{SecurityTLS: 465, SecuritySTARTTLS: 587, SecurityNone: 25}[a.Security]
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(a.Host, strconv.Itoa(port))}
	if a.Username != "" {
		u.User = url.User(a.Username)
	}
	return u.String()
}

// OutgoingItem is one email of the CRM that crmsync sends, as `crmsync
// outbox` and Settings list it. Subject is fetched live, held in memory.
type OutgoingItem struct {
	ID       string
	Subject  string
	State    string // "pending", "sending", "failed" or "sent"
	Modified time.Time
}

// OutgoingReport says whether crmsync sends the CRM's email for the user,
// why not, and which emails stand where.
type OutgoingReport struct {
	Enabled bool
	Why     string // a sentence: what the administrator set, or what is missing
	Items   []OutgoingItem
}

// OutgoingSender is what Settings' "Send email from the CRM" section and
// `crmsync outbox` use.
type OutgoingSender interface {
	// Outbox reads, live from the CRM, whether sending is on and the
	// user's pending, sending, failed and recently sent emails.
	Outbox(ctx context.Context) (OutgoingReport, error)
	// RetryEmail puts a failed email back in Pending Send and sends it.
	RetryEmail(ctx context.Context, id string) error
	// TestSMTP connects to a and signs in with password ("" uses the
	// keychain's), sending nothing, and says what it found, step by step.
	TestSMTP(ctx context.Context, a SMTPAccount, password string) ([]CheckStep, error)
	// SaveSMTPPassword keeps a's password in the keychain.
	SaveSMTPPassword(ctx context.Context, a SMTPAccount, password string) error
}
