package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
)

// TestMail connects to a and signs in, and says which step failed. An
// empty password uses the keychain's.
func (e *Engine) TestMail(ctx context.Context, a agent.IMAPAccount, password string) (agent.MailReport, error) {
	if err := imap.CheckAccount(a); err != nil {
		return agent.MailReport{}, err
	}
	if password == "" {
		pw, err := e.mailPassword(ctx, a)
		if errors.Is(err, errNoMailPassword) {
			return agent.MailReport{}, errors.New("enter the password to test the account")
		}
		if err != nil {
			return agent.MailReport{}, fmt.Errorf("the saved password could not be read: %w", err)
		}
		password = pw
	}
	return imap.Probe(ctx, a, password), nil
}

// SaveMailPassword keeps a's password in the keychain; when a is the
// account in use, it is opened again with it.
func (e *Engine) SaveMailPassword(ctx context.Context, a agent.IMAPAccount, password string) error {
	if e.o.Passwords == nil {
		return fmt.Errorf("%w: this agent has no keychain", agent.ErrKeychainUnavailable)
	}
	if password == "" {
		return errors.New("the password is empty")
	}
	if err := e.o.Passwords.SaveMailPassword(ctx, a.URL(), password); err != nil {
		return err
	}
	return e.do(ctx, func(l *loop) {
		if l.settings.IMAP.URL() == a.URL() {
			l.startMail()
			l.publish(true)
		}
	})
}

// MailFolders lists the folders of the mail account in use, as its server
// or the Maildir++ layout names them.
func (e *Engine) MailFolders(ctx context.Context) ([]string, error) {
	s := e.Settings()
	if !s.IMAP.IsZero() {
		m, ok := e.mail.get().(interface {
			Folders(context.Context) ([]string, error)
		})
		if !ok {
			return nil, fmt.Errorf("%w: the mail account %s is not connected", agent.ErrNotAvailable, s.IMAP.URL())
		}
		return m.Folders(ctx)
	}
	return maildirFolders(s.MaildirPath)
}

// maildirFolders lists the Maildir++ folders of root.
func maildirFolders(root string) ([]string, error) {
	if root == "" {
		return nil, errors.New("no mail account is set")
	}
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing the folders of %s: %w", root, err)
	}
	var out []string
	for _, d := range des {
		n := d.Name()
		if d.IsDir() && strings.HasPrefix(n, ".") && n != "." && n != ".." && maildir.Check(filepath.Join(root, n)) == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// online returns the CRM client and the user, or a sentence saying why
// the CRM cannot be asked now.
func (e *Engine) onlineClient(what string) (*crm.HTTPClient, string, error) {
	c := e.sess.get()
	v := e.view.Load()
	if c == nil || v.status.State != agent.StateOnline || v.userID == "" {
		return nil, "", fmt.Errorf("%w: %s needs the CRM connection, which is %s", agent.ErrNotAvailable, what, strings.ToLower(v.status.State.String()))
	}
	return c, v.userID, nil
}

// FolderRules lists the user's folder tracking rules, live from the CRM.
func (e *Engine) FolderRules(ctx context.Context) ([]agent.FolderRule, error) {
	c, user, err := e.onlineClient("listing folder rules")
	if err != nil {
		return nil, err
	}
	_, rs, err := e.fetchRules(ctx, c, user)
	if err != nil {
		return nil, err
	}
	_ = e.do(ctx, func(l *loop) { l.setRules(rs) })
	out := make([]agent.FolderRule, 0, len(rs))
	for _, r := range rs {
		out = append(out, agent.FolderRule{ID: r.ID, Folder: r.FolderName, Regarding: r.Regarding})
	}
	slices.SortFunc(out, func(a, b agent.FolderRule) int { return strings.Compare(a.Folder, b.Folder) })
	return out, nil
}

// checkRuleFolder refuses a folder that cannot be mapped.
func checkRuleFolder(folder string) error {
	switch {
	case strings.TrimSpace(folder) == "":
		return errors.New("name the folder to map")
	case strings.EqualFold(folder, "INBOX"):
		return errors.New("the inbox itself cannot be mapped; map a folder under it")
	case len(folder) > 1000 || !utf8.ValidString(folder) || strings.ContainsAny(folder, "\x00\r\n"):
		return errors.New("that is not a folder name")
	}
	return nil
}

// AddFolderRule maps folder to r in the CRM, replacing the folder's rule
// if it has one; the folder is watched from then on.
func (e *Engine) AddFolderRule(ctx context.Context, folder string, r agent.RecordRef) (agent.FolderRule, error) {
	if err := checkRuleFolder(folder); err != nil {
		return agent.FolderRule{}, err
	}
	if !slices.Contains(ruleEntities, r.Entity) || !crm.IsGUID(r.ID) {
		return agent.FolderRule{}, fmt.Errorf("a folder can be mapped to a contact, account, opportunity or case, not to %s:%s", r.Entity, r.ID)
	}
	if names, err := e.MailFolders(ctx); err == nil && !slices.Contains(names, folder) {
		return agent.FolderRule{}, fmt.Errorf("your mail account has no folder %q; its folders are named as the server names them: %s",
			folder, strings.Join(names, ", "))
	}
	c, user, err := e.onlineClient("mapping a folder")
	if err != nil {
		return agent.FolderRule{}, err
	}
	mb, rs, err := e.fetchRules(ctx, c, user)
	if err != nil {
		return agent.FolderRule{}, err
	}
	var old string
	for _, x := range rs {
		if x.FolderName == folder {
			old = x.ID
		}
	}
	if old == "" && len(rs) >= agent.MaxFolderRules {
		return agent.FolderRule{}, fmt.Errorf("you have %d folder rules, the most the CRM allows; remove one first", len(rs))
	}
	id, err := c.AddFolderRule(ctx, mb, folderID(folder), folder, r)
	if err != nil && old != "" {
		// The CRM keeps one rule per folder: make room, then map again.
		if derr := c.DeleteFolderRule(ctx, old); derr != nil {
			return agent.FolderRule{}, derr
		}
		old = ""
		id, err = c.AddFolderRule(ctx, mb, folderID(folder), folder, r)
	}
	if err != nil {
		return agent.FolderRule{}, err
	}
	if old != "" {
		if err := c.DeleteFolderRule(ctx, old); err != nil {
			e.log.Warn("engine: the folder's earlier rule could not be removed", "err", err)
		}
	}
	added := agent.FolderRule{ID: id, Folder: folder, Regarding: r}
	rules, err := e.FolderRules(ctx)
	if err != nil {
		e.log.Info("engine: folder rules not refreshed after adding one", "err", err)
	}
	for _, x := range rules {
		if x.ID == id {
			added = x // as the CRM has it, with the record's name
		}
	}
	return added, nil
}

// folderID is the rule's exchangefolderid. Exchange puts its own folder ID
// there; crmsync names the folder, so the rule means the same folder on
// every computer the user signs in on. A name too long for the column (120
// characters) is replaced by its unsalted hash, which every computer
// computes alike.
func folderID(folder string) string {
	if id := "crmsync:" + folder; utf8.RuneCountInString(id) <= 120 {
		return id
	}
	h := sha256.Sum256([]byte(folder))
	return "crmsync-sha256:" + hex.EncodeToString(h[:])
}

// RemoveFolderRule deletes the folder's rule in the CRM. Mail already
// tracked through it stays tracked.
func (e *Engine) RemoveFolderRule(ctx context.Context, folder string) error {
	c, user, err := e.onlineClient("removing a folder rule")
	if err != nil {
		return err
	}
	_, rs, err := e.fetchRules(ctx, c, user)
	if err != nil {
		return err
	}
	found := false
	for _, r := range rs {
		if r.FolderName == folder {
			found = true
			if err := c.DeleteFolderRule(ctx, r.ID); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("no folder rule maps %q; crmsync folders lists them", folder)
	}
	if _, err := e.FolderRules(ctx); err != nil {
		e.log.Info("engine: folder rules not refreshed after removing one", "err", err)
	}
	return nil
}

// Sender looks up the sender of k among the CRM's contacts and leads,
// live; the answer is held by the caller only.
func (e *Engine) Sender(ctx context.Context, k agent.MessageKey) (*agent.Person, error) {
	env, err := e.mail.Envelope(k)
	if err != nil {
		return nil, fmt.Errorf("the message could not be read: %w", err)
	}
	if env.From.Addr == "" {
		return nil, errors.New("the message names no sender")
	}
	c, _, err := e.onlineClient("looking up the sender")
	if err != nil {
		return nil, err
	}
	return c.Person(ctx, env.From.Addr)
}

// AddContact creates a contact from the sender of k: the user's explicit
// act, and the one time an address leaves the device outside a decision.
// What left is recorded for "What was sent".
func (e *Engine) AddContact(ctx context.Context, k agent.MessageKey, account *agent.RecordRef) (agent.Person, error) {
	env, err := e.mail.Envelope(k)
	if err != nil {
		return agent.Person{}, fmt.Errorf("the message could not be read: %w", err)
	}
	if env.From.Addr == "" {
		return agent.Person{}, errors.New("the message names no sender to add")
	}
	if account != nil && (account.Entity != "account" || !crm.IsGUID(account.ID)) {
		return agent.Person{}, fmt.Errorf("a contact's company must be an account, not %s", account.Entity)
	}
	c, _, err := e.onlineClient("adding a contact")
	if err != nil {
		return agent.Person{}, err
	}
	p, err := c.CreateContact(ctx, env.From.Name, env.From.Addr, account)
	if err != nil {
		return agent.Person{}, err
	}
	fields := []agent.FieldSize{{Name: "Name", Bytes: len(env.From.Name)}, {Name: "Email", Bytes: len(env.From.Addr)}}
	if account != nil {
		fields = append(fields, agent.FieldSize{Name: "Account", Bytes: len(account.ID)})
	}
	d := agent.Disclosure{Key: k, At: e.clock.Now(), Purpose: "new contact, added by you", Fields: fields}
	_ = e.do(ctx, func(l *loop) { l.sent.add(d) })
	return p, nil
}
