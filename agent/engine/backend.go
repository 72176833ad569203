package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/conn"
	"crmsync/agent/crm"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
	"crmsync/agent/signin"
	"crmsync/agent/track"
)

// do runs fn on the loop's goroutine and waits for it. Once the loop has
// taken fn it runs it at once, so the wait after that is not cut short by
// ctx: callers may read what fn wrote. fn must not block on the network.
// An engine whose loop has ended refuses at once (errStopped).
func (e *Engine) do(ctx context.Context, fn func(*loop)) error {
	done := make(chan struct{})
	select {
	case e.cmds <- func(l *loop) { fn(l); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stopped:
		return errStopped
	}
	<-done
	return nil
}

// loadCredentials starts the session with the keychain's saved sign-in.
func (l *loop) loadCredentials(ctx context.Context) {
	c, err := l.e.o.Secrets.Load(ctx)
	switch {
	case errors.Is(err, agent.ErrNoCredentials):
		l.e.conn.SetCredentials(ctx, nil)
		return
	case err != nil:
		l.e.log.Warn("engine: the keychain could not be read", "err", err)
		l.e.publishNotice("Sign in", "Your saved sign-in could not be read from the system keychain: "+err.Error())
		l.e.conn.SetCredentials(ctx, nil)
		return
	}
	if err := l.useCredentials(ctx, c); err != nil {
		l.e.log.Warn("engine: saved sign-in is unusable", "err", err)
		l.e.conn.SetCredentials(ctx, nil)
	}
}

// useCredentials points the session at c's CRM and hands c to the
// connection supervisor.
func (l *loop) useCredentials(ctx context.Context, c agent.Credentials) error {
	client := l.e.sess.get()
	if client == nil || !sameCRM(client.APIURL(), c.CRMURL) {
		nc, err := l.e.o.NewClient(c.CRMURL)
		if err != nil {
			return err
		}
		l.e.sess.set(nc)
	}
	l.self = strings.ToLower(strings.TrimSpace(c.Username))
	l.name = ""
	if l.settings.CRMURL != c.CRMURL {
		l.settings.CRMURL = c.CRMURL
		l.saveSettings()
	}
	l.publish(false)
	l.e.conn.SetCredentials(ctx, &c)
	return nil
}

func sameCRM(apiURL, crmURL string) bool {
	return strings.HasPrefix(apiURL, strings.TrimRight(crmURL, "/")+"/")
}

// SignIn runs c's sign-in flow (browser, device code or password) against
// the sign-in service the CRM names, checks the result with WhoAmI and
// the sync privilege, saves the refresh token and the account's
// identifiers in the keychain unless c.NoSave (never the password), and
// starts the session.
func (e *Engine) SignIn(ctx context.Context, c agent.Credentials) error {
	c.CRMURL = strings.TrimRight(strings.TrimSpace(c.CRMURL), "/")
	c.Username = strings.TrimSpace(c.Username)
	if c.ClientID == "" {
		c.ClientID = strings.TrimSpace(e.Settings().ClientID)
	}
	client, err := e.o.NewClient(c.CRMURL)
	if err != nil {
		return err
	}
	cfg, err := e.signInConfig(ctx, client, c)
	if err != nil {
		return err
	}
	g, err := e.signInFlow(ctx, cfg, c)
	if err != nil {
		return err
	}
	kept := keep(c, cfg, g)
	// Nothing is saved until the account is final (below).
	ts, keeper := e.newSession(cfg, g, agent.Credentials{RefreshToken: g.RefreshToken, NoSave: true})
	client.SetTokens(ts)
	id, err := client.WhoAmI(ctx)
	if err != nil {
		return err
	}
	ok, err := client.CanSync(ctx, id.UserID)
	if err != nil {
		return err
	}
	if !ok {
		return conn.ErrNotPermitted
	}
	if kept.Username == "" {
		kept.Username = id.UserID // no name in the answer: the account is still told apart
	}
	if !c.NoSave {
		if kept.RefreshToken == "" {
			return &crm.Error{Op: "sign in", Kind: crm.KindBadResponse,
				Message: "the sign-in service gave no refresh token, so the sign-in cannot be kept; sign in without saving"}
		}
		if err := e.o.Secrets.Save(ctx, kept); err != nil {
			if !errors.Is(err, agent.ErrKeychainUnavailable) {
				return err
			}
			// The user has just signed in, maybe in the browser: asking
			// them to do it again to not save it would only annoy. Keep
			// the session, say it is this session's only.
			kept.NoSave = true
			e.publishNotice("Signed in for this session only",
				"Your sign-in could not be saved in the system keychain ("+keychainReason(err)+"), so you will be asked to sign in at the next start.")
		}
	}
	keeper.account(kept)
	var useErr error
	if err := e.do(ctx, func(l *loop) {
		l.e.sess.set(client)
		if l.settings.ClientID != c.ClientID {
			l.settings.ClientID = c.ClientID
			l.saveSettings()
		}
		useErr = l.useCredentials(ctx, kept)
	}); err != nil {
		return err
	}
	return useErr
}

// keychainReason is the part of a keychain failure that says why.
func keychainReason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, agent.ErrKeychainUnavailable.Error()+": "); i >= 0 {
		return msg[i+len(agent.ErrKeychainUnavailable.Error())+2:]
	}
	return msg
}

// SignedInAs returns the sign-in name of the current account (for example
// the preferred_username of the sign-in service), or "" when signed out.
func (e *Engine) SignedInAs() string { return e.view.Load().self }

// UseCredentials starts the session with c without checking it first, as
// a start with a saved sign-in does: the connection supervisor signs in,
// retries while the CRM cannot be reached, and reports a refused sign-in
// as StateNeedsSignIn. Nothing is saved in the keychain.
func (e *Engine) UseCredentials(ctx context.Context, c agent.Credentials) error {
	c.CRMURL = strings.TrimRight(strings.TrimSpace(c.CRMURL), "/")
	c.Username = strings.TrimSpace(c.Username)
	var useErr error
	if err := e.do(ctx, func(l *loop) { useErr = l.useCredentials(ctx, c) }); err != nil {
		return err
	}
	return useErr
}

// SignOut deletes the saved sign-in and stops the connection.
func (e *Engine) SignOut(ctx context.Context) error {
	err := e.o.Secrets.Delete(ctx)
	if derr := e.do(ctx, func(l *loop) {
		l.self, l.name, l.userID = "", "", ""
		l.publish(false)
		l.e.conn.SetCredentials(ctx, nil)
		l.e.box.Pause()
	}); derr != nil {
		return derr
	}
	return err
}

// TestConnection signs in with c without keeping anything and reports
// which layer failed.
func (e *Engine) TestConnection(ctx context.Context, c agent.Credentials) (agent.ConnReport, error) {
	var r agent.ConnReport
	start := e.clock.Now()
	client, err := e.o.NewClient(c.CRMURL)
	if err != nil {
		r.API = err
		return r, err
	}
	var cfg signin.Config
	cfg, err = e.signInConfig(ctx, client, c)
	if err == nil && c.Secret != "" {
		var g *signin.Grant
		if g, err = cfg.Password(ctx, c.Username, c.Secret); err == nil {
			client.SetTokens(signin.NewSession(cfg, g, nil))
		}
	}
	if err == nil && c.Secret != "" {
		_, err = client.WhoAmI(ctx)
		r.API = err
	}
	r.Latency = e.clock.Now().Sub(start)
	var dnsErr *net.DNSError
	switch {
	case err == nil:
	case errors.As(err, &dnsErr):
		r.DNS = err
	case crm.KindOf(err) == crm.KindTLS:
		r.TLS = err
	case crm.KindOf(err) == crm.KindUnauthorized:
		r.Auth = err
	default:
		r.API = err
	}
	return r, err
}

// RetryNow skips the rest of a backoff wait.
func (e *Engine) RetryNow() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.conn.RetryNow(ctx)
	e.box.Kick()
}

// notFound marks a message the engine does not know; the control socket
// maps it to its not-found code.
type notFound struct{ k agent.MessageKey }

func (n notFound) Error() string {
	return fmt.Sprintf("no message %q in the mail folder; see crmsync items for the keys", string(n.k))
}
func (n notFound) Is(target error) bool { return target == fs.ErrNotExist }

// RecentItems lists the newest decided messages with their state; From and
// Subject are re-read from the Maildir and never stored.
func (e *Engine) RecentItems(ctx context.Context, limit int) ([]agent.Item, error) {
	if limit <= 0 {
		limit = 50
	}
	msgs, err := e.o.Store.RecentMessages(ctx, limit)
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(msgs))
	// The texts are the loop's; without it (stopped) the reasons stand in.
	_ = e.do(ctx, func(l *loop) {
		for i, m := range msgs {
			texts[i] = l.texts[m.Key]
		}
	})
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	items := make([]agent.Item, 0, len(msgs))
	for i, m := range msgs {
		env, err := e.mail.Envelope(m.Key)
		if err != nil && !errors.Is(err, maildir.ErrGone) {
			continue
		}
		items = append(items, itemOf(m, env, texts[i]))
	}
	e.nameRegarding(ctx, items)
	return items, nil
}

// namesWait bounds how long the items window waits for the names of the
// records its rows are regarding; without them the rows still show.
const namesWait = 3 * time.Second

// nameRegarding fills in the names of the records items are regarding,
// live from the CRM, in one request. Names are display data: they live in
// this call's items only.
func (e *Engine) nameRegarding(ctx context.Context, items []agent.Item) {
	var refs []agent.RecordRef
	for _, it := range items {
		if it.Regarding != nil && it.Regarding.Name == "" {
			refs = append(refs, *it.Regarding)
		}
	}
	if len(refs) == 0 {
		return
	}
	c, _, err := e.onlineClient("naming records")
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, namesWait)
	defer cancel()
	names, err := c.RecordNames(ctx, refs)
	if err != nil {
		e.log.Info("engine: the names of regarding records could not be read", "err", err)
		return
	}
	for i := range items {
		if r := items[i].Regarding; r != nil && r.Name == "" {
			cp := *r
			cp.Name = names[strings.ToLower(r.ID)]
			items[i].Regarding = &cp
		}
	}
}

// fresh returns how to make the cache row of k from the Maildir, for a
// message not decided yet, so user actions work on any message.
func (e *Engine) fresh(k agent.MessageKey) func() (cache.Message, error) {
	return func() (cache.Message, error) {
		folder, ok := e.mail.Folder(k)
		if !ok {
			return cache.Message{}, notFound{k}
		}
		env, err := e.mail.Envelope(k)
		if errors.Is(err, maildir.ErrSettling) {
			// Still being written, or the mail server is out of reach
			// for a moment: not gone.
			return cache.Message{}, err
		}
		if err != nil {
			return cache.Message{}, notFound{k}
		}
		now := e.clock.Now()
		return cache.Message{Key: k, Folder: e.o.Store.HashFolder(folder), MsgIDHash: e.o.Store.HashMessageID(env.MessageID),
			ReceivedAt: e.receivedAt(env, k, now)}, nil
	}
}

// Track queues the message for tracking, optionally regarding r. The row
// is read and written in one cache transaction (Store.Act), so an
// activity the outbox records meanwhile is kept.
func (e *Engine) Track(ctx context.Context, k agent.MessageKey, regarding *agent.RecordRef) error {
	text := "track queued"
	m, a, err := e.o.Store.Act(ctx, k, e.fresh(k), func(m cache.Message, _ bool) (cache.Message, *cache.Action, error) {
		if m.State == agent.Tracked && m.ActivityID != "" {
			if regarding == nil {
				return m, nil, nil // tracked already
			}
			text = "set regarding queued"
			return m, &cache.Action{Key: k, Kind: cache.ActionSetRegarding, Regarding: regarding}, nil
		}
		m.Reason = int(track.ReasonTrackedByUser)
		a := actionTrack(k, regarding)
		return m, &a, nil
	})
	if err != nil || a == nil {
		return err
	}
	e.afterUserAction(ctx, m, text)
	return nil
}

// Untrack queues removal of the message from the CRM: its CRM copy is
// deleted only if the signed-in user owns it.
func (e *Engine) Untrack(ctx context.Context, k agent.MessageKey) (agent.UntrackResult, error) {
	m, ok, err := e.o.Store.Message(ctx, k)
	if err != nil {
		return agent.UntrackResult{}, err
	}
	if !ok || (m.ActivityID == "" && m.State != agent.Pending) {
		return agent.UntrackResult{Reason: "This message is not tracked; nothing changes in the CRM."}, nil
	}
	res := agent.UntrackResult{DeletedInCRM: m.OwnedByMe}
	switch {
	case m.ActivityID == "":
		res.Reason = "Tracking is cancelled; nothing reached the CRM yet, or what did is removed."
		res.DeletedInCRM = true
	case m.OwnedByMe:
		res.Reason = "The CRM copy will be deleted: it is yours."
	default:
		res.Reason = "The CRM copy stays because " + e.ownerName(ctx, m.ActivityID) + " owns it; only the link on this computer is removed."
	}
	// Enqueue changes the state column only, so the row read above going
	// stale meanwhile loses nothing; the worker re-reads it.
	if _, err := e.o.Store.Enqueue(ctx, cache.Action{Key: k, Kind: cache.ActionUntrack}); err != nil {
		return agent.UntrackResult{}, err
	}
	if m, ok, err := e.o.Store.Message(ctx, k); err == nil && ok {
		e.afterUserAction(ctx, m, res.Reason)
	}
	return res, nil
}

// ownerName asks the CRM, briefly, whose activity it is; display only.
func (e *Engine) ownerName(ctx context.Context, activityID string) string {
	c := e.sess.get()
	if c == nil || e.Status().State != agent.StateOnline {
		return "another user"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := c.Activity(ctx, crm.ActivityID(activityID))
	if err != nil || info.OwnerID == "" {
		return "another user"
	}
	name, err := c.UserName(ctx, info.OwnerID)
	if err != nil || name == "" {
		return "another user"
	}
	return name
}

// SetRegarding links a tracked message to r; an untracked one is tracked
// regarding r. Like Track, it reads and writes in one cache transaction.
func (e *Engine) SetRegarding(ctx context.Context, k agent.MessageKey, r agent.RecordRef) error {
	m, _, err := e.o.Store.Act(ctx, k, e.fresh(k), func(m cache.Message, _ bool) (cache.Message, *cache.Action, error) {
		if m.ActivityID == "" {
			m.Reason = int(track.ReasonTrackedByUser)
			a := actionTrack(k, &r)
			return m, &a, nil
		}
		return m, &cache.Action{Key: k, Kind: cache.ActionSetRegarding, Regarding: &r}, nil
	})
	if err != nil {
		return err
	}
	e.afterUserAction(ctx, m, "set regarding queued")
	return nil
}

// afterUserAction wakes the outbox and, on the loop, updates the pending
// count and shows the queued state at once. The action is durably queued
// already, so a loop that is gone or busy past ctx only delays the display.
func (e *Engine) afterUserAction(ctx context.Context, m cache.Message, text string) {
	e.box.Kick()
	env, _ := e.mail.Envelope(m.Key) // local file; read here, not on the loop
	it := itemOf(m, env, text)
	_ = e.do(ctx, func(l *loop) {
		l.refreshPending()
		l.setText(m.Key, text)
		l.e.publishItem(it)
	})
}

// SearchRecords finds contacts, accounts, opportunities and cases live.
func (e *Engine) SearchRecords(ctx context.Context, q string, limit int) ([]agent.RecordRef, error) {
	c := e.sess.get()
	if c == nil || e.Status().State != agent.StateOnline {
		return nil, fmt.Errorf("%w: searching needs the CRM connection, which is %s", agent.ErrNotAvailable, e.Status().State)
	}
	return c.Search(ctx, q, limit)
}

// Settings returns the current settings.
func (e *Engine) Settings() agent.Settings { return e.view.Load().settings }

// UpdateSettings applies p, saves the result and returns it.
func (e *Engine) UpdateSettings(ctx context.Context, p agent.SettingsPatch) (agent.Settings, error) {
	if p.AutoTrack != nil && (*p.AutoTrack < agent.TrackFromCRMRecords || *p.AutoTrack > agent.TrackNone) {
		return e.Settings(), fmt.Errorf("unknown automatic tracking choice %d", *p.AutoTrack)
	}
	root := e.Settings().MaildirPath
	if p.MaildirPath != nil {
		root = *p.MaildirPath
		if err := maildir.Check(root); err != nil {
			return e.Settings(), err
		}
	}
	if p.IMAP != nil && !p.IMAP.IsZero() {
		if err := imap.CheckAccount(*p.IMAP); err != nil {
			return e.Settings(), err
		}
	}
	if p.Records != nil {
		if err := checkRecords(*p.Records); err != nil {
			return e.Settings(), err
		}
	}
	if p.SMTP != nil {
		if err := checkSMTP(*p.SMTP); err != nil {
			return e.Settings(), err
		}
	}
	if p.Folders != nil {
		for _, f := range *p.Folders {
			if !strings.HasPrefix(f, ".") || strings.ContainsAny(f, "/\\\x00") || f == "." || f == ".." {
				return e.Settings(), fmt.Errorf("%q is not a Maildir++ folder name; they start with a dot, like .Sent", f)
			}
			if err := maildir.Check(filepath.Join(root, f)); err != nil {
				return e.Settings(), fmt.Errorf("folder %s: %w", f, err)
			}
		}
	}
	var out agent.Settings
	var saveErr error
	err := e.do(ctx, func(l *loop) {
		s := l.settings
		if p.ConnectionEnabled != nil && *p.ConnectionEnabled != s.ConnectionEnabled {
			s.ConnectionEnabled = *p.ConnectionEnabled
			l.e.conn.SetEnabled(ctx, s.ConnectionEnabled)
			if !s.ConnectionEnabled {
				l.e.box.Pause()
			}
		}
		remail := false
		if p.MaildirPath != nil && *p.MaildirPath != s.MaildirPath {
			s.MaildirPath, remail = *p.MaildirPath, true
		}
		if p.Folders != nil {
			s.Folders, remail = append([]string(nil), (*p.Folders)...), true
		}
		if p.IMAP != nil && *p.IMAP != s.IMAP {
			s.IMAP, remail = *p.IMAP, true
		}
		if p.AutoTrack != nil {
			s.AutoTrack = *p.AutoTrack
		}
		rerecords := false
		if p.Records != nil && *p.Records != s.Records {
			s.Records, rerecords = *p.Records, true
		}
		resend := false
		if p.SMTP != nil && *p.SMTP != s.SMTP {
			s.SMTP, resend = *p.SMTP, true
		}
		if p.ExcludedAddresses != nil {
			s.ExcludedAddresses = append([]string(nil), (*p.ExcludedAddresses)...)
		}
		if p.InternalDomains != nil {
			s.InternalDomains = append([]string(nil), (*p.InternalDomains)...)
		}
		l.settings = s
		saveErr = l.saveSettings()
		out = s
		if remail {
			l.startMail()
			l.publish(true)
		}
		if rerecords {
			l.startRecords()
			l.publish(true)
		}
		if resend {
			l.startOutgoing()
			l.publish(true)
		}
	})
	if err != nil {
		return e.Settings(), err
	}
	return out, saveErr
}

// saveSettings publishes and saves the loop's settings.
func (l *loop) saveSettings() error {
	l.publish(false)
	if err := l.e.o.Settings.Save(l.settings); err != nil {
		l.e.log.Error("engine: saving settings failed", "err", err)
		return fmt.Errorf("settings could not be saved: %w", err)
	}
	return nil
}
