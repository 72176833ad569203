package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/conn"
	"crmsync/agent/control"
	"crmsync/agent/crm"
	"crmsync/agent/dav"
	"crmsync/agent/engine"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
	"crmsync/agent/records"
	"crmsync/agent/smtp"
)

// agentFlags are the options of "crmsync agent", also used by tests.
type agentFlags struct {
	crmURL, user, maildir, data string
	imap                        string // imaps://USER@HOST:PORT, instead of maildir
	dav                         string // https://USER@HOST/PATH/: the address book and calendar server
	addressBook, calendar       string // the collections kept in step
	records                     string // which record types, comma separated
	smtp                        string // smtps://USER@HOST:PORT: the outgoing mail server the CRM's email is sent through
	tokenURL, clientID, scope   string
	authority, caBundle         string
	sent                        string
	passwordStdin, verbose      bool
	deviceCode, browser         bool
	open                        func(url string) error // the browser opener; nil means xdg-open (tests set it)
}

const agentUsage = "usage: crmsync agent --crm URL (--maildir DIR | --imap imaps://USER@HOST:PORT) [--dav https://USER@HOST/PATH/] [--smtp smtps://USER@HOST:PORT] [--data DIR] [--device-code | --browser | --user EMAIL --password-stdin]\n"

// runAgent implements "crmsync agent": the engine without a window.
func runAgent(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("agent", io)
	var f agentFlags
	fs.StringVar(&f.crmURL, "crm", "", "CRM address, e.g. https://yourorg.crm.dynamics.com (required)")
	fs.StringVar(&f.user, "user", "", "your CRM sign-in email address (with --password-stdin; otherwise a hint)")
	fs.StringVar(&f.maildir, "maildir", "", "your Maildir: the folder holding cur/, new/ and tmp/ (this or --imap)")
	fs.StringVar(&f.imap, "imap", "", "your IMAP account: imaps://USER@HOST:PORT (TLS), or imap:// for STARTTLS (plaintext only to this computer)")
	fs.StringVar(&f.dav, "dav", "", "your address book and calendar server (CardDAV/CalDAV): https://USER@HOST/PATH/; your CRM contacts, appointments and tasks are kept in step there")
	fs.StringVar(&f.addressBook, "addressbook", records.DefaultAddressBook, "with --dav: the address book crmsync keeps (created when missing)")
	fs.StringVar(&f.calendar, "calendar", records.DefaultCalendar, "with --dav: the calendar crmsync keeps (created when missing)")
	fs.StringVar(&f.records, "records", "contacts,appointments,tasks", "with --dav: which records to keep in step")
	fs.StringVar(&f.smtp, "smtp", "", "your outgoing mail server: smtps://USER@HOST:PORT (TLS), or smtp:// for STARTTLS; the email the CRM asks crmsync to send goes out through it, when your administrator lets crmsync send")
	fs.StringVar(&f.data, "data", "", "directory for the agent's IDs-only cache (default: the user data directory)")
	fs.BoolVar(&f.deviceCode, "device-code", false, "sign in with a code entered in a browser on any device")
	fs.BoolVar(&f.browser, "browser", false, "sign in in the system browser")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "sign in with the password read from standard input (one line), where the CRM allows it")
	fs.StringVar(&f.authority, "authority", "", "sign-in service, e.g. https://login.microsoftonline.com/TENANT (default: the one the CRM names)")
	fs.StringVar(&f.tokenURL, "token-url", "", "OAuth2 token endpoint (default: the sign-in service's)")
	fs.StringVar(&f.clientID, "client-id", "", "your organisation's app registration (default: Microsoft's development client ID)")
	fs.StringVar(&f.scope, "scope", "", "OAuth2 scopes, space separated (default: <CRM>/user_impersonation offline_access openid profile)")
	fs.StringVar(&f.caBundle, "ca-bundle", "", "extra trusted CA certificates (PEM file) for the CRM and the mail server")
	fs.StringVar(&f.sent, "sent", ".Sent", "Maildir++ folder holding your sent mail (empty for none)")
	fs.BoolVar(&f.verbose, "v", false, "verbose logging")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var missing []string
	if f.crmURL == "" {
		missing = append(missing, "--crm URL")
	}
	if f.maildir == "" && f.imap == "" {
		missing = append(missing, "--maildir DIR or --imap imaps://USER@HOST:PORT")
	}
	if f.passwordStdin && f.user == "" {
		missing = append(missing, "--user EMAIL (with --password-stdin)")
	}
	if len(missing) > 0 {
		fmt.Fprintf(io.Err, "crmsync agent: missing %s\n%s", strings.Join(missing, ", "), agentUsage)
		return ExitUsage
	}
	if n := btoi(f.deviceCode) + btoi(f.browser) + btoi(f.passwordStdin); n > 1 {
		fmt.Fprintf(io.Err, "crmsync agent: choose one way to sign in: --device-code, --browser or --password-stdin\n%s", agentUsage)
		return ExitUsage
	}
	if _, err := crm.CheckURL("CRM address", f.crmURL); err != nil {
		fmt.Fprintf(io.Err, "crmsync agent: %v\n", trimPrefix(err))
		return ExitUsage
	}
	if f.maildir != "" && f.imap != "" {
		fmt.Fprintf(io.Err, "crmsync agent: choose one mail account: --maildir or --imap\n%s", agentUsage)
		return ExitUsage
	}
	var acct agent.IMAPAccount
	if f.imap != "" {
		a, err := imap.ParseURL(f.imap)
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
			return ExitUsage
		}
		a.CAFile = f.caBundle
		acct = a
	} else if err := maildir.Check(f.maildir); err != nil {
		fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
		return ExitUsage
	}
	var rs agent.RecordSync
	if f.dav != "" {
		r, err := recordsFromFlags(f)
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
			return ExitUsage
		}
		rs = r
	}
	var sa agent.SMTPAccount
	if f.smtp != "" {
		a, err := smtp.ParseURL(f.smtp)
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync agent: %v\n", strings.TrimPrefix(err.Error(), "smtp: "))
			return ExitUsage
		}
		sa = agent.SMTPAccount{Host: a.Host, Port: a.Port, Security: a.Security, Username: a.Username, CAFile: f.caBundle}
	}
	var secrets stdinSecrets
	if f.passwordStdin {
		// One secret a line, in DESIGN's order: the CRM password, then
		// the IMAP password, then the DAV password.
		in := bufio.NewReader(stdinLimit(io.In))
		p, err := readPassword(in, "password", "its first line must be the CRM password")
		if err == nil && f.imap != "" {
			secrets.imap, err = readPassword(in, "IMAP password", "its second line must be the IMAP password")
		}
		if err == nil && f.dav != "" {
			where := "its second line must be the address book and calendar (DAV) password"
			if f.imap != "" {
				where = "its third line must be the address book and calendar (DAV) password"
			}
			secrets.dav, err = readPassword(in, "DAV password", where)
		}
		if err == nil && f.smtp != "" && sa.Username != "" {
			line := 2 + btoi(f.imap != "") + btoi(f.dav != "")
			where := fmt.Sprintf("its %s line must be the outgoing mail server's (SMTP) password", ordinal(line))
			secrets.smtp, err = readPassword(in, "SMTP password", where)
		}
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
			return ExitUsage
		}
		secrets.crm = p
	}
	err := serveAgent(ctx, f, acct, rs, sa, secrets, newLogger(io.Err, f.verbose), io.Out, io.Err)
	if err == nil || errors.Is(err, context.Canceled) {
		return ExitOK
	}
	fmt.Fprintf(io.Err, "crmsync agent: %s\n", agentErrorText(err))
	return ExitFailure
}

// recordsFromFlags reads --dav, --addressbook, --calendar and --records.
func recordsFromFlags(f agentFlags) (agent.RecordSync, error) {
	a, err := dav.ParseURL(f.dav)
	if err != nil {
		return agent.RecordSync{}, errors.New(strings.TrimPrefix(err.Error(), "dav: "))
	}
	rs := agent.RecordSync{DAV: agent.DAVAccount{URL: a.URL, Username: a.Username, CAFile: f.caBundle},
		AddressBook: f.addressBook, Calendar: f.calendar}
	for _, k := range strings.Split(f.records, ",") {
		switch strings.TrimSpace(k) {
		case "contacts":
			rs.Contacts = true
		case "appointments":
			rs.Appointments = true
		case "tasks":
			rs.Tasks = true
		case "":
		default:
			return agent.RecordSync{}, fmt.Errorf("--records: %q is not a record type; use contacts, appointments and tasks, comma separated", k)
		}
	}
	if !rs.Contacts && !rs.Appointments && !rs.Tasks {
		return agent.RecordSync{}, errors.New("--records names no record type; use contacts, appointments and tasks, comma separated")
	}
	return rs, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stdinSecrets are the secrets --password-stdin read: held in memory for
// this run, never saved.
type stdinSecrets struct{ crm, imap, dav, smtp string }

// ordinal names a line of standard input.
func ordinal(n int) string {
	if n >= 1 && n <= 4 {
		return [...]string{"first", "second", "third", "fourth"}[n-1]
	}
	return fmt.Sprintf("%dth", n)
}

// stdinLimit bounds what is read of standard input: a few lines of
// secrets, never an unbounded stream.
func stdinLimit(r io.Reader) io.Reader { return io.LimitReader(r, 16<<10) }

// readPassword reads one line; the password never appears in argv or env.
// what names the secret and where says which line holds it.
func readPassword(r *bufio.Reader, what, where string) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s from standard input: %w", what, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("--password-stdin: standard input held no %s; %s", what, where)
	}
	return line, nil
}

// serveAgent runs the engine and the control socket until ctx ends.
// Prompts of an interactive sign-in go to prompts (standard error).
func serveAgent(ctx context.Context, f agentFlags, acct agent.IMAPAccount, rs agent.RecordSync, sa agent.SMTPAccount, secrets stdinSecrets, log *slog.Logger, out, prompts io.Writer) error {
	password := secrets.crm
	data := f.data
	if data == "" {
		d, err := dataDir()
		if err != nil {
			return err
		}
		data = d
	}
	ln, err := lockDataDir(data)
	if err != nil {
		return err
	}
	defer ln.Close() // last: the directory stays locked until all is shut down

	cfg := NewConfig(filepath.Join(data, "settings.json"))
	settings, err := cfg.Load()
	if err != nil {
		return err
	}
	settings.MaildirPath, settings.IMAP = f.maildir, acct
	if !rs.DAV.IsZero() {
		settings.Records = rs
	}
	if !sa.IsZero() {
		settings.SMTP = sa
	}
	var folders []string
	if f.sent != "" && f.maildir != "" {
		if maildir.Check(filepath.Join(f.maildir, f.sent)) == nil {
			folders = append(folders, f.sent)
		} else {
			log.Info("no sent-mail folder; only incoming mail is watched", "folder", f.sent)
		}
	}
	settings.Folders = folders
	if f.clientID != "" {
		settings.ClientID = f.clientID
	}
	if err := cfg.Save(settings); err != nil {
		return err
	}
	crmURL := strings.TrimRight(f.crmURL, "/")
	creds := agent.Credentials{CRMURL: crmURL, Username: f.user, ClientID: settings.ClientID}
	switch {
	case f.passwordStdin:
		// A password given on each start stays a session's: nothing is saved.
		creds.Method, creds.Secret, creds.NoSave = agent.SignInPassword, password, true
	case f.deviceCode:
		creds.Method = agent.SignInDeviceCode
		creds.Prompt = func(p agent.SignInPrompt) {
			fmt.Fprintf(prompts, "To sign in, open %s and enter the code %s\n", p.URL, p.UserCode)
		}
	case f.browser:
		creds.Method = agent.SignInBrowser
		creds.Prompt = func(p agent.SignInPrompt) { fmt.Fprintf(prompts, "Opening %s in your browser\n", p.URL) }
	}
	interactive := f.passwordStdin || f.deviceCode || f.browser
	savedURL, savedUser := cfg.Account()
	if !interactive && (savedURL != crmURL || (f.user != "" && !strings.EqualFold(savedUser, f.user))) {
		// Only a saved sign-in of this CRM (and of --user, when given) will do.
		return fmt.Errorf("no saved sign-in for %s; sign in once with --browser or --device-code (or --user EMAIL --password-stdin where the CRM allows passwords)", crmURL)
	}
	cacheUser := f.user
	if cacheUser == "" && savedURL == crmURL {
		cacheUser = savedUser // a restart without --user keeps the account's cache
	}
	passwords := &MailPasswords{Service: AppID}
	if secrets.imap != "" {
		passwords.UseForSession(acct.URL(), secrets.imap)
	}
	if secrets.dav != "" {
		passwords.UseForSession(rs.DAV.Display(), secrets.dav)
	}
	if secrets.smtp != "" {
		passwords.UseForSession(sa.URL(), secrets.smtp)
	}
	eng, store, keychain, err := buildEngineWith(data, crmURL, cacheUser, cfg,
		crm.Config{CABundle: f.caBundle}, engine.SignInOptions{
			ClientID: f.clientID, Authority: f.authority, TokenURL: f.tokenURL, Scopes: strings.Fields(f.scope),
			Open: f.open,
		}, nil, passwords, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	// The cache is closed only once the engine has stopped: closing it
	// under a stuck engine could hang on the engine's write, the very
	// hang waitEngine bounds.
	engineStopped := false
	defer func() {
		if engineStopped {
			store.Close()
		}
	}()
	// awaitEngine bounds the engine's shutdown once ctx is cancelled.
	awaitEngine := func() error {
		err := waitEngine(engDone, engineStopTimeout)
		engineStopped = !errors.Is(err, errEngineStuck)
		if !engineStopped {
			log.Error("shutdown: the engine did not stop in time; exiting without it", "timeout", engineStopTimeout)
		}
		return err
	}
	stop := func(err error) error {
		cancel()
		if werr := awaitEngine(); errors.Is(werr, errEngineStuck) {
			return errors.Join(err, werr)
		}
		return err
	}

	if !interactive {
		// The engine reads the keychain itself at start; this read only
		// turns a missing entry into a clear refusal instead of a wait.
		saved, err := keychain.Load(ctx)
		switch {
		case errors.Is(err, agent.ErrNoCredentials):
			return stop(fmt.Errorf("no saved sign-in for %s at %s; sign in once with --browser or --device-code", savedUser, crmURL))
		case err != nil:
			return stop(fmt.Errorf("the saved sign-in could not be read: %w; sign in with --browser or --device-code", err))
		}
		creds = saved
	}
	// An interactive sign-in may wait for the user for many minutes; a
	// saved one only for the CRM.
	wait := 60 * time.Second
	if f.deviceCode || f.browser {
		wait = 20 * time.Minute
	}
	signCtx, signCancel := context.WithTimeout(ctx, wait)
	if interactive {
		err = eng.SignIn(signCtx, creds)
	} else {
		// The engine signs in with the saved sign-in by itself at start.
		err = eng.WaitConnected(signCtx)
	}
	signCancel()
	waiting := false
	if err != nil && (crm.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil &&
		(creds.RefreshToken != "" || creds.Secret != "") {
		// The CRM is down, busy or slow: that passes. An agent started
		// at login must not give up; it keeps trying on its own.
		why := agentErrorText(err)
		if !crm.IsTemporary(err) {
			why = "The CRM did not answer within a minute."
		}
		fmt.Fprintf(out, "crmsync agent: %s Tracking starts once it answers; the agent keeps trying.\n", why)
		err = nil
		if interactive {
			// A refused try of SignIn left the engine without the
			// password; a saved sign-in it is already retrying.
			err = eng.UseCredentials(ctx, creds)
		}
		waiting = true
	}
	if err != nil {
		return stop(err)
	}
	srv := control.NewServer(ln, eng, log)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	state, who := "signed in", eng.SignedInAs()
	if waiting {
		state = "waiting for the CRM"
	}
	if who == "" {
		who = creds.Username
	}
	watching := f.maildir
	if !acct.IsZero() {
		watching = acct.URL()
	}
	fmt.Fprintf(out, "crmsync agent: %s as %s; watching %s (control socket %s)\n", state, who, watching, ln.Path())
	select {
	case err = <-engDone:
		engineStopped = true
		cancel()
		<-srvDone
	case <-ctx.Done():
		<-srvDone
		err = awaitEngine()
	}
	return err
}

// lockDataDir creates the data directory and takes it with the control
// socket: one agent per directory, and a second start learns which
// process holds it.
func lockDataDir(data string) (*control.Listener, error) {
	err := os.MkdirAll(data, 0o700)
	var ln *control.Listener
	if err == nil {
		ln, err = control.Listen(filepath.Join(data, "control.sock"))
	}
	switch {
	case errors.Is(err, syscall.EROFS):
		return nil, fmt.Errorf("the data folder %s is on a read-only file system; crmsync keeps its cache and control socket there: choose a writable folder with --data, or make the disk writable again", data)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("the data folder %s is not writable by you; crmsync keeps its cache and control socket there: choose a folder you own with --data, or fix its permissions", data)
	case err != nil:
		return nil, fmt.Errorf("cannot use the data folder %s: %w", data, err)
	}
	return ln, nil
}

// buildEngine opens the IDs-only cache of the account and builds the
// engine over it, with CRM clients made from client (its URL and Logger
// are filled in). The caller closes the store after the engine stops.
func buildEngine(data, crmURL, user string, cfg *Config, client crm.Config, signIn engine.SignInOptions, log *slog.Logger) (*engine.Engine, *cache.Store, agent.Secrets, error) {
	return buildEngineWith(data, crmURL, user, cfg, client, signIn, nil, nil, log)
}

// buildEngineWith is buildEngine with the secrets and the mail passwords
// given; nil means the system keychain for either.
func buildEngineWith(data, crmURL, user string, cfg *Config, client crm.Config, signIn engine.SignInOptions,
	secrets agent.Secrets, passwords *MailPasswords, log *slog.Logger) (*engine.Engine, *cache.Store, agent.Secrets, error) {
	store, err := cache.Open(filepath.Join(data, cacheName(crmURL, user)), log)
	if err != nil {
		return nil, nil, nil, err
	}
	if store.Rebuilt() {
		log.Warn("the cache was rebuilt; tracked messages are re-learned from the CRM as they are seen")
	}
	if secrets == nil {
		secrets = &accountSecrets{Keychain: &Keychain{Service: AppID, Account: cfg.Account}, cfg: cfg}
	}
	if passwords == nil {
		passwords = &MailPasswords{Service: AppID}
	}
	eng, err := engine.New(engine.Options{
		Store: store, NewMail: newMail(log), Secrets: secrets, Settings: cfg, Logger: log, SentFolders: sentFolders,
		SignIn: signIn, Passwords: passwords,
		NewClient: func(u string) (*crm.HTTPClient, error) {
			c := client
			c.URL, c.Logger = u, log
			return crm.New(c)
		},
	})
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	return eng, store, secrets, nil
}

// cacheName keys the cache file by CRM address and user, so switching
// accounts never mixes their IDs.
func cacheName(crmURL, user string) string {
	h := sha256.Sum256([]byte(strings.TrimRight(strings.ToLower(crmURL), "/") + "\x00" + strings.ToLower(user)))
	return "cache-" + hex.EncodeToString(h[:8]) + ".db"
}

// accountSecrets records the account in the settings when its password is
// saved, so the next start knows which keychain entry to read.
type accountSecrets struct {
	*Keychain
	cfg *Config
}

func (a *accountSecrets) Save(ctx context.Context, c agent.Credentials) error {
	if err := a.Keychain.Save(ctx, c); err != nil {
		return err
	}
	return a.cfg.SetAccount(c.CRMURL, c.Username)
}

// agentErrorText is the sentence for an agent that could not start.
func agentErrorText(err error) string {
	var ce *crm.Error
	switch {
	case errors.As(err, &ce):
		return ce.UserMessage()
	case errors.Is(err, conn.ErrNotPermitted):
		return "not permitted: " + err.Error()
	case errors.Is(err, agent.ErrKeychainUnavailable):
		return KeychainUserMessage(err)
	}
	return err.Error()
}

// trimPrefix drops a package prefix such as "crm: " from a user-facing error.
func trimPrefix(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i > 0 && i < 20 && !strings.Contains(s[:i], " ") {
		return s[i+2:]
	}
	return s
}

// sentFolders are the Maildir++ folder names mail clients use for sent mail.
var sentFolders = []string{".Sent", ".Sent Items", ".Sent Messages", ".INBOX.Sent"}

// newMail opens Maildir sources for the engine.
func newMail(log *slog.Logger) func(root string, folders []string) engine.Mail {
	return func(root string, folders []string) engine.Mail {
		return maildir.New(maildir.Options{Root: root, Folders: folders, Logger: log})
	}
}
