// Package agenttest provides FakeBackend, a scriptable agent.Backend for
// testing the user interface without an engine, as httptest does for
// HTTP. Every call is recorded; results and errors are set by the test.
package agenttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"crmsync/agent"
)

// FakeBackend implements agent.Backend from fields a test sets.
type FakeBackend struct {
	mu sync.Mutex

	// StatusValue is returned by Status and sent first to subscribers.
	StatusValue agent.Status
	// SettingsValue is returned by Settings and updated by UpdateSettings.
	SettingsValue agent.Settings
	// Items is returned by RecentItems.
	Items []agent.Item
	// SearchResults is returned by SearchRecords.
	SearchResults []agent.RecordRef
	// UntrackResultValue is returned by Untrack.
	UntrackResultValue agent.UntrackResult
	// DisclosuresValue is returned by Disclosures.
	DisclosuresValue []agent.Disclosure
	// Errors maps a method name ("SignIn", "Track", ...) to the error it returns.
	Errors map[string]error
	// BrowserPrompt is what a browser sign-in passes to Credentials.Prompt.
	BrowserPrompt agent.SignInPrompt
	// CodePrompt is what a device code sign-in passes to Credentials.Prompt;
	// a zero Expires means 15 minutes after the call.
	CodePrompt agent.SignInPrompt
	// MailReportValue is returned by TestMail.
	MailReportValue agent.MailReport
	// MailPassword is the last password SaveMailPassword kept.
	MailPassword string
	// MailFoldersValue is returned by MailFolders.
	MailFoldersValue []string
	// RulesValue is returned by FolderRules; AddFolderRule and
	// RemoveFolderRule change it as the CRM would.
	RulesValue []agent.FolderRule
	// SenderValue maps a message to the CRM person Sender returns; a
	// missing key is a sender the CRM does not know. AddContact adds to it.
	SenderValue map[agent.MessageKey]*agent.Person
	// SenderBlock, when not nil, holds every Sender answer until it is
	// closed (or the call's ctx ends).
	SenderBlock chan struct{}
	// SyncReportValue is returned by SyncNow and LastSyncReport.
	SyncReportValue agent.SyncReport
	// OverviewValue is returned by SyncOverview.
	OverviewValue agent.SyncOverview
	// DAVSteps is returned by TestDAV.
	DAVSteps []agent.CheckStep
	// DAVPassword is the last password SaveDAVPassword kept.
	DAVPassword string
	// OutboxValue is returned by Outbox.
	OutboxValue agent.OutgoingReport
	// SMTPSteps is returned by TestSMTP.
	SMTPSteps []agent.CheckStep
	// SMTPPassword is the last password SaveSMTPPassword kept.
	SMTPPassword string

	calls  []string
	subs   []chan agent.Event
	finish chan error // ends a waiting browser or code sign-in; see FinishSignIn
}

var _ agent.Backend = (*FakeBackend)(nil)

// New returns a fake backend in the given state.
func New(state agent.State) *FakeBackend {
	return &FakeBackend{
		StatusValue: agent.Status{State: state}, SettingsValue: agent.Settings{ConnectionEnabled: true}, Errors: map[string]error{},
		BrowserPrompt: agent.SignInPrompt{URL: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?" +
			"client_id=51f81489-12ee-4a9e-aaae-a2591f45987d&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A53117&" +
			"scope=https%3A%2F%2Forg.crm.dynamics.com%2F.default+offline_access&code_challenge_method=S256"},
		CodePrompt: agent.SignInPrompt{URL: "https://microsoft.com/devicelogin", UserCode: "FGKDW3MPB"},
	}
}

func (f *FakeBackend) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, call)
	name := call
	if i := strings.IndexByte(call, ' '); i > 0 {
		name = call[:i]
	}
	return f.Errors[name]
}

// Calls returns the calls made so far, one formatted line each.
func (f *FakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// SetError makes method fail with err (nil clears it).
func (f *FakeBackend) SetError(method string, err error) {
	f.mu.Lock()
	f.Errors[method] = err
	f.mu.Unlock()
}

// Emit sends an event to every subscriber, as the engine would.
func (f *FakeBackend) Emit(ev agent.Event) {
	f.mu.Lock()
	if ev.Status != nil {
		f.StatusValue = *ev.Status
	}
	subs := append([]chan agent.Event(nil), f.subs...)
	f.mu.Unlock()
	for _, ch := range subs {
		ch <- ev
	}
}

// Status returns StatusValue.
func (f *FakeBackend) Status() agent.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.StatusValue
}

// Subscribe returns a channel that gets the status, then whatever Emit sends.
func (f *FakeBackend) Subscribe(ctx context.Context) <-chan agent.Event {
	ch := make(chan agent.Event, 64)
	f.mu.Lock()
	st := f.StatusValue
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	ch <- agent.Event{Seq: 1, Status: &st}
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		for i, c := range f.subs {
			if c == ch {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				close(ch)
				break
			}
		}
		f.mu.Unlock()
	}()
	return ch
}

// SignIn records the call as "SignIn URL USER method=M nosave=B client=ID";
// the password is never recorded. A password sign-in returns the scripted
// error at once. A browser or device code sign-in passes its prompt to
// c.Prompt, then returns the scripted error if there is one, or else waits
// for FinishSignIn or for ctx to end; an ended ctx is recorded as
// "SignIn cancelled".
func (f *FakeBackend) SignIn(ctx context.Context, c agent.Credentials) error {
	method := strings.ReplaceAll(c.Method.String(), " ", "-")
	err := f.record("SignIn %s %s method=%s nosave=%v client=%s", c.CRMURL, c.Username, method, c.NoSave, c.ClientID)
	if c.Method != agent.SignInBrowser && c.Method != agent.SignInDeviceCode {
		return err
	}
	f.mu.Lock()
	p := f.BrowserPrompt
	if c.Method == agent.SignInDeviceCode {
		p = f.CodePrompt
		if p.Expires.IsZero() {
			p.Expires = time.Now().Add(15 * time.Minute)
		}
	}
	finish := f.finishChan()
	f.mu.Unlock()
	if c.Prompt != nil {
		c.Prompt(p)
	}
	if err != nil {
		return err
	}
	select {
	case err := <-finish:
		return err
	case <-ctx.Done():
		f.mu.Lock()
		f.calls = append(f.calls, "SignIn cancelled")
		f.mu.Unlock()
		return fmt.Errorf("sign in: %w", ctx.Err())
	}
}

// FinishSignIn ends the browser or device code sign-in that is waiting,
// or the next one, with err (nil: signed in).
func (f *FakeBackend) FinishSignIn(err error) {
	f.mu.Lock()
	finish := f.finishChan()
	f.mu.Unlock()
	finish <- err
}

// finishChan returns the channel FinishSignIn sends on; f.mu is held.
func (f *FakeBackend) finishChan() chan error {
	if f.finish == nil {
		f.finish = make(chan error, 1)
	}
	return f.finish
}

// SignOut records the call.
func (f *FakeBackend) SignOut(context.Context) error { return f.record("SignOut") }

// TestConnection records the call.
func (f *FakeBackend) TestConnection(_ context.Context, c agent.Credentials) (agent.ConnReport, error) {
	return agent.ConnReport{}, f.record("TestConnection %s", c.CRMURL)
}

// RetryNow records the call.
func (f *FakeBackend) RetryNow() { f.record("RetryNow") }

// RecentItems returns Items.
func (f *FakeBackend) RecentItems(_ context.Context, limit int) ([]agent.Item, error) {
	err := f.record("RecentItems %d", limit)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.Item(nil), f.Items...), err
}

// Track records the call.
func (f *FakeBackend) Track(_ context.Context, k agent.MessageKey, r *agent.RecordRef) error {
	if r != nil {
		return f.record("Track %s %s:%s", k, r.Entity, r.ID)
	}
	return f.record("Track %s", k)
}

// Untrack records the call and returns UntrackResultValue.
func (f *FakeBackend) Untrack(_ context.Context, k agent.MessageKey) (agent.UntrackResult, error) {
	err := f.record("Untrack %s", k)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.UntrackResultValue, err
}

// SetRegarding records the call.
func (f *FakeBackend) SetRegarding(_ context.Context, k agent.MessageKey, r agent.RecordRef) error {
	return f.record("SetRegarding %s %s:%s", k, r.Entity, r.ID)
}

// SearchRecords returns SearchResults.
func (f *FakeBackend) SearchRecords(_ context.Context, q string, limit int) ([]agent.RecordRef, error) {
	err := f.record("SearchRecords %s", q)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.RecordRef(nil), f.SearchResults...), err
}

// Settings returns SettingsValue.
func (f *FakeBackend) Settings() agent.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SettingsValue
}

// UpdateSettings records the patch and applies it to SettingsValue.
func (f *FakeBackend) UpdateSettings(_ context.Context, p agent.SettingsPatch) (agent.Settings, error) {
	var parts []string
	if p.ConnectionEnabled != nil {
		parts = append(parts, fmt.Sprintf("connection=%v", *p.ConnectionEnabled))
	}
	if p.MaildirPath != nil {
		parts = append(parts, "maildir="+*p.MaildirPath)
	}
	if p.Folders != nil {
		parts = append(parts, "folders="+strings.Join(*p.Folders, ","))
	}
	if p.IMAP != nil {
		imap := "none"
		if !p.IMAP.IsZero() {
			imap = p.IMAP.URL()
			if p.IMAP.CAFile != "" {
				imap += " ca=" + p.IMAP.CAFile
			}
		}
		parts = append(parts, "imap="+imap)
	}
	if p.AutoTrack != nil {
		parts = append(parts, fmt.Sprintf("autotrack=%d", *p.AutoTrack))
	}
	if p.ExcludedAddresses != nil {
		parts = append(parts, "excluded="+strings.Join(*p.ExcludedAddresses, ","))
	}
	if p.InternalDomains != nil {
		parts = append(parts, "internal="+strings.Join(*p.InternalDomains, ","))
	}
	if p.SMTP != nil {
		smtp := "none"
		if !p.SMTP.IsZero() {
			smtp = p.SMTP.URL()
		}
		parts = append(parts, "smtp="+smtp)
	}
	if p.Records != nil {
		records := "none"
		if !p.Records.DAV.IsZero() {
			records = fmt.Sprintf("%s contacts=%v appointments=%v tasks=%v", p.Records.DAV.Display(),
				p.Records.Contacts, p.Records.Appointments, p.Records.Tasks)
		}
		parts = append(parts, "records="+records)
	}
	if err := f.record("UpdateSettings %s", strings.Join(parts, " ")); err != nil {
		return f.Settings(), err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &f.SettingsValue
	if p.ConnectionEnabled != nil {
		s.ConnectionEnabled = *p.ConnectionEnabled
	}
	if p.MaildirPath != nil {
		s.MaildirPath = *p.MaildirPath
	}
	if p.Folders != nil {
		s.Folders = *p.Folders
	}
	if p.IMAP != nil {
		s.IMAP = *p.IMAP
	}
	if p.AutoTrack != nil {
		s.AutoTrack = *p.AutoTrack
	}
	if p.ExcludedAddresses != nil {
		s.ExcludedAddresses = *p.ExcludedAddresses
	}
	if p.InternalDomains != nil {
		s.InternalDomains = *p.InternalDomains
	}
	if p.Records != nil {
		s.Records = *p.Records
	}
	if p.SMTP != nil {
		s.SMTP = *p.SMTP
	}
	return *s, nil
}

// Disclosures returns DisclosuresValue.
func (f *FakeBackend) Disclosures(int) []agent.Disclosure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.Disclosure(nil), f.DisclosuresValue...)
}
