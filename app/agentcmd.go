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
	"crmsync/agent/engine"
	"crmsync/agent/maildir"
)

// agentFlags are the options of "crmsync agent", also used by tests.
type agentFlags struct {
	crmURL, user, maildir, data string
	tokenURL, clientID, scope   string
	caBundle                    string
	sent                        string
	passwordStdin, verbose      bool
}

// runAgent implements "crmsync agent": the engine without a window.
func runAgent(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("agent", io)
	var f agentFlags
	fs.StringVar(&f.crmURL, "crm", "", "CRM address, e.g. https://yourorg.crm.dynamics.com (required)")
	fs.StringVar(&f.user, "user", "", "your CRM sign-in email address (required)")
	fs.StringVar(&f.maildir, "maildir", "", "your Maildir: the folder holding cur/, new/ and tmp/ (required)")
	fs.StringVar(&f.data, "data", "", "directory for the agent's IDs-only cache (default: the user data directory)")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from standard input (one line) instead of the keychain")
	fs.StringVar(&f.tokenURL, "token-url", "", "OAuth2 token endpoint (default: the CRM address + /oauth2/v2.0/token)")
	fs.StringVar(&f.clientID, "client-id", "", "OAuth2 client ID of your app registration")
	fs.StringVar(&f.scope, "scope", "", "OAuth2 scopes, space separated (default: <CRM>/user_impersonation offline_access)")
	fs.StringVar(&f.caBundle, "ca-bundle", "", "extra trusted CA certificates (PEM file) for the CRM")
	fs.StringVar(&f.sent, "sent", ".Sent", "Maildir++ folder holding your sent mail (empty for none)")
	fs.BoolVar(&f.verbose, "v", false, "verbose logging")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{f.crmURL, "--crm URL"}, {f.user, "--user EMAIL"}, {f.maildir, "--maildir DIR"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(io.Err, "crmsync agent: missing %s\nusage: crmsync agent --crm URL --user EMAIL --maildir DIR [--data DIR] [--password-stdin]\n", strings.Join(missing, ", "))
		return ExitUsage
	}
	if _, err := crm.CheckURL("CRM address", f.crmURL); err != nil {
		fmt.Fprintf(io.Err, "crmsync agent: %v\n", trimPrefix(err))
		return ExitUsage
	}
	if err := maildir.Check(f.maildir); err != nil {
		fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
		return ExitUsage
	}
	var password string
	if f.passwordStdin {
		p, err := readPassword(io.In)
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync agent: %v\n", err)
			return ExitUsage
		}
		password = p
	}
	err := serveAgent(ctx, f, password, newLogger(io.Err, f.verbose), io.Out)
	if err == nil || errors.Is(err, context.Canceled) {
		return ExitOK
	}
	fmt.Fprintf(io.Err, "crmsync agent: %s\n", agentErrorText(err))
	return ExitFailure
}

// readPassword reads one line; the password never appears in argv or env.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: standard input held no password")
	}
	return line, nil
}

// serveAgent runs the engine and the control socket until ctx ends.
func serveAgent(ctx context.Context, f agentFlags, password string, log *slog.Logger, out io.Writer) error {
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
	settings.MaildirPath = f.maildir
	var folders []string
	if f.sent != "" {
		if maildir.Check(filepath.Join(f.maildir, f.sent)) == nil {
			folders = append(folders, f.sent)
		} else {
			log.Info("no sent-mail folder; only incoming mail is watched", "folder", f.sent)
		}
	}
	settings.Folders = folders
	if err := cfg.Save(settings); err != nil {
		return err
	}
	eng, store, secrets, err := buildEngine(data, f.crmURL, f.user, cfg,
		crm.Config{TokenURL: f.tokenURL, ClientID: f.clientID, Scope: strings.Fields(f.scope), CABundle: f.caBundle}, log)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()

	creds := agent.Credentials{CRMURL: f.crmURL, Username: f.user, Secret: password, NoSave: true}
	if password == "" {
		saved, err := secrets.Load(ctx)
		if err != nil || saved.CRMURL != strings.TrimRight(f.crmURL, "/") || !strings.EqualFold(saved.Username, f.user) {
			cancel()
			<-engDone
			if err != nil && !errors.Is(err, agent.ErrNoCredentials) {
				return fmt.Errorf("the saved password could not be read: %w; pass --password-stdin", err)
			}
			return fmt.Errorf("no saved password for %s at %s; pass --password-stdin, or sign in once with the tray app", f.user, f.crmURL)
		}
		creds.Secret = saved.Secret
	}
	signCtx, signCancel := context.WithTimeout(ctx, 60*time.Second)
	err = eng.SignIn(signCtx, creds)
	signCancel()
	waiting := false
	if err != nil && (crm.IsTemporary(err) || errors.Is(err, context.DeadlineExceeded)) && ctx.Err() == nil {
		// The CRM is down, busy or slow: that passes. An agent started
		// at login must not give up; it keeps trying on its own.
		why := agentErrorText(err)
		if !crm.IsTemporary(err) {
			why = "The CRM did not answer within a minute."
		}
		fmt.Fprintf(out, "crmsync agent: %s Tracking starts once it answers; the agent keeps trying.\n", why)
		err = eng.UseCredentials(ctx, creds)
		waiting = true
	}
	if err != nil {
		cancel()
		<-engDone
		return err
	}
	srv := control.NewServer(ln, eng, log)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(ctx) }()
	state := "signed in"
	if waiting {
		state = "waiting for the CRM"
	}
	fmt.Fprintf(out, "crmsync agent: %s as %s; watching %s (control socket %s)\n", state, f.user, f.maildir, ln.Path())
	select {
	case err = <-engDone:
		cancel()
		<-srvDone
	case <-ctx.Done():
		<-srvDone
		err = <-engDone
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
func buildEngine(data, crmURL, user string, cfg *Config, client crm.Config, log *slog.Logger) (*engine.Engine, *cache.Store, *accountSecrets, error) {
	store, err := cache.Open(filepath.Join(data, cacheName(crmURL, user)), log)
	if err != nil {
		return nil, nil, nil, err
	}
	if store.Rebuilt() {
		log.Warn("the cache was rebuilt; tracked messages are re-learned from the CRM as they are seen")
	}
	secrets := &accountSecrets{Keychain: &Keychain{Service: AppID, Account: cfg.Account}, cfg: cfg}
	eng, err := engine.New(engine.Options{
		Store: store, NewMail: newMail(log), Secrets: secrets, Settings: cfg, Logger: log, SentFolders: sentFolders,
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
