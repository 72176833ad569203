package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/imap"
	"crmsync/agent/maildir"
	"crmsync/agent/track"
)

// rule is a folder tracking rule as the loop keeps it. The folder's name
// is known only once the CRM has been asked (it is company data and never
// cached); until then the rule still matches by the folder's hash.
type rule struct {
	id        string // the CRM's mailboxtrackingfolder GUID
	folder    string // the folder's name; "" until fetched, memory only
	regarding agent.RecordRef
}

// rulesState is the loop's part about folder tracking rules.
type rulesState struct {
	byFolder map[string]rule // by folder hash
	fetching bool            // a fetch from the CRM is under way
	work     []ruleJob       // messages waiting to be tracked by a rule
	working  bool            // a batch of work is being done
	retry    []ruleJob       // messages that could not be read yet; taken again at alarmRuleRetry
}

// ruleJob is a message that arrived in, or was moved into, a mapped folder.
type ruleJob struct {
	key  agent.MessageKey
	rule rule
}

// rulesKey is the kv entry holding the rules, IDs and hashes only, so that
// mail moved into a mapped folder while the CRM is unreachable is still
// tracked, once it is reachable, regarding the right record.
const rulesKey = "folder_rules"

// encodeRules writes rules as "ruleID folderHash entity recordID" lines:
// IDs only, 25 rules in about 3 KB, within the kv's 4 KiB.
func encodeRules(rs map[string]rule) []byte {
	var b strings.Builder
	for folderID, r := range rs {
		fmt.Fprintf(&b, "%s %s %s %s\n", r.id, folderID, r.regarding.Entity, r.regarding.ID)
	}
	return []byte(b.String())
}

// decodeRules reads what encodeRules wrote; malformed lines are skipped
// (the next fetch from the CRM replaces them anyway).
func decodeRules(b []byte) map[string]rule {
	rs := map[string]rule{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || !crm.IsGUID(f[0]) || !crm.IsGUID(f[3]) || !slices.Contains(ruleEntities, f[2]) {
			continue
		}
		rs[f[1]] = rule{id: f[0], regarding: agent.RecordRef{Entity: f[2], ID: f[3]}}
	}
	return rs
}

// ruleEntities are the tables a folder may be mapped to.
var ruleEntities = []string{"contact", "account", "opportunity", "incident"}

// loadRules reads the rules kept from the last fetch.
func (l *loop) loadRules() {
	b, ok, err := l.e.o.Store.Get(l.ctx, rulesKey)
	if err != nil {
		l.e.log.Warn("engine: the folder rules could not be read from the cache", "err", err)
	}
	l.rules.byFolder = map[string]rule{}
	if ok {
		l.rules.byFolder = decodeRules(b)
	}
}

// mappedFolders are the names of the mapped folders, for the mail source
// to watch besides the inbox.
func (l *loop) mappedFolders() []string {
	var names []string
	for _, r := range l.rules.byFolder {
		if r.folder != "" {
			names = append(names, r.folder)
		}
	}
	slices.Sort(names)
	return names
}

// refreshRules asks the CRM for the user's folder rules, on a goroutine of
// the group; setRules applies the answer.
func (l *loop) refreshRules() {
	c := l.e.sess.get()
	if l.rules.fetching || !l.online || c == nil || l.userID == "" {
		return
	}
	l.rules.fetching = true
	e, user := l.e, l.userID
	l.g.Go("rules", func(ctx context.Context) error {
		nctx, cancel := e.withNet(ctx)
		defer cancel()
		_, rs, err := e.fetchRules(nctx, c, user)
		_ = e.do(ctx, func(l *loop) {
			l.rules.fetching = false
			if err != nil {
				l.e.log.Info("engine: the folder rules could not be fetched; keeping the last ones", "err", err)
				return
			}
			l.setRules(rs)
		})
		return nil
	})
}

// mailbox returns the user's mailbox GUID, remembered for the life of the
// engine: it never changes for a user.
func (e *Engine) mailbox(ctx context.Context, c *crm.HTTPClient, user string) (string, error) {
	if id, ok := e.mailboxID.Load().(mailboxOf); ok && id.user == user {
		return id.id, nil
	}
	id, err := c.Mailbox(ctx, user)
	if err != nil {
		return "", err
	}
	e.mailboxID.Store(mailboxOf{user: user, id: id})
	return id, nil
}

// mailboxOf is a user's mailbox GUID.
type mailboxOf struct{ user, id string }

// fetchRules reads the user's mailbox and its rules from the CRM.
func (e *Engine) fetchRules(ctx context.Context, c *crm.HTTPClient, user string) (mailbox string, rs []crm.FolderRule, err error) {
	if mailbox, err = e.mailbox(ctx, c, user); err != nil {
		return "", nil, err
	}
	rs, err = c.FolderRules(ctx, mailbox)
	return mailbox, rs, err
}

// setRules replaces the loop's rules with the CRM's, keeps their IDs and
// hashes, and restarts the mail source when the set of mapped folders
// changed, so that a new mapped folder is watched within seconds.
func (l *loop) setRules(rs []crm.FolderRule) {
	before := l.mappedFolders()
	next := make(map[string]rule, len(rs))
	for _, r := range rs {
		if r.FolderName == "" || !slices.Contains(ruleEntities, r.Regarding.Entity) {
			continue // a rule without a record only names a folder; nothing to track regarding
		}
		h := l.e.o.Store.HashFolder(r.FolderName)
		next[h] = rule{id: r.ID, folder: r.FolderName, regarding: agent.RecordRef{Entity: r.Regarding.Entity, ID: r.Regarding.ID}}
	}
	l.rules.byFolder = next
	if err := l.e.o.Store.Set(l.ctx, rulesKey, encodeRules(next)); err != nil {
		l.e.log.Warn("engine: the folder rules could not be kept in the cache", "err", err)
	}
	after := l.mappedFolders()
	if slices.Equal(before, after) || l.mail.stop == nil {
		return
	}
	// An IMAP source watches the new set on its connections; a Maildir
	// source is opened again with it.
	if m, ok := l.e.mail.get().(*imap.Source); ok {
		m.Watch(after)
		return
	}
	l.startMail()
}

// ruleFor returns the rule of the folder a change happened in.
func (l *loop) ruleFor(folderID string) (rule, bool) {
	if folderID == "" {
		return rule{}, false
	}
	r, ok := l.rules.byFolder[folderID]
	return r, ok
}

// maxRuleBatch bounds the messages one round of rule work takes.
const maxRuleBatch = 256

// queueRule queues k to be tracked regarding r's record, and starts the
// work when none is under way.
func (l *loop) queueRule(k agent.MessageKey, r rule) {
	l.rules.work = append(l.rules.work, ruleJob{key: k, rule: r})
	l.startRuleWork()
}

// startRuleWork tracks the waiting messages of mapped folders on a
// goroutine of the group, one batch at a time.
func (l *loop) startRuleWork() {
	if l.rules.working || len(l.rules.work) == 0 {
		return
	}
	n := min(len(l.rules.work), maxRuleBatch)
	batch := slices.Clone(l.rules.work[:n])
	l.rules.work = slices.Delete(l.rules.work, 0, n)
	l.rules.working = true
	e := l.e
	l.g.Go("rule-work", func(ctx context.Context) error {
		var later []ruleJob
		for _, j := range batch {
			if ctx.Err() != nil {
				break
			}
			err := e.trackByRule(ctx, j)
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.Is(err, maildir.ErrSettling):
				later = append(later, j) // being written, or the server is out of reach: not lost
			default:
				e.log.Warn("engine: a message in a mapped folder could not be queued", "key", string(j.key), "err", err)
			}
		}
		_ = e.do(ctx, func(l *loop) {
			l.rules.working = false
			if len(later) > 0 {
				l.rules.retry = append(l.rules.retry, later...)
				l.alarms.set(alarmRuleRetry, maildir.SettleTime)
			}
			l.startRuleWork()
		})
		return nil
	})
}

// trackByRule queues the message for tracking regarding the rule's
// record, whatever the automatic tracking choice says; a tracked message
// gets the rule's record as regarding. A message the user untracked by
// hand stays untracked: the rule does not overrule the person.
func (e *Engine) trackByRule(ctx context.Context, j ruleJob) error {
	ref := j.rule.regarding
	text := ""
	m, a, err := e.o.Store.Act(ctx, j.key, e.fresh(j.key), func(m cache.Message, _ bool) (cache.Message, *cache.Action, error) {
		switch {
		case m.Reason == int(track.ReasonUntrackedByUser):
			return m, nil, nil
		case m.State == agent.Tracked && m.ActivityID != "":
			if m.Regarding != nil && m.Regarding.Entity == ref.Entity && strings.EqualFold(m.Regarding.ID, ref.ID) {
				return m, nil, nil
			}
			text = "regarding set by the folder's rule"
			return m, &cache.Action{Key: j.key, Kind: cache.ActionSetRegarding, Regarding: &ref}, nil
		}
		m.Reason = int(track.ReasonFolderRule)
		text = "tracked by the folder's rule"
		a := actionTrack(j.key, &ref)
		return m, &a, nil
	})
	var nf notFound
	if errors.As(err, &nf) {
		return nil // moved on or deleted before it could be read
	}
	if err != nil || a == nil {
		return err
	}
	e.afterUserAction(ctx, m, text)
	return nil
}
