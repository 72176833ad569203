package imap

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// offlineWait is how long a read waits for a lost connection to come back
// before it reports ErrOffline.
const offlineWait = 5 * time.Second

// Source is the IMAP intake, a sibling of the Maildir one behind the same
// interface: it lists and watches INBOX, the \Sent mailbox and the
// configured folders, and reports every message as Changes.
//
// Invariants: Run's goroutine is the only writer of index and of the
// mailbox states, and updates index (and the envelope cache) before it
// sends the Change that reports the update, so a reader of the Change can
// always call Envelope. index holds exactly the messages the Source
// believes present in the watched mailboxes.
type Source struct {
	o   Options
	log *slog.Logger
	tls *tls.Config

	running atomic.Bool  // Run was called; a Source runs once
	done    atomic.Int64 // messages reported by first listings so far
	total   atomic.Int64 // messages first listings found
	lists   atomic.Int64 // first listings completed and reported
	idles   atomic.Int64 // connections in IDLE now

	mu    sync.RWMutex
	index map[agent.MessageKey]msg // guarded by mu; Run's goroutine is the only writer
	sent  string                   // the \Sent mailbox as last listed; "" until then
	sess  *session                 // the command connection; nil while there is none
	up    chan struct{}            // closed once sess is set; replaced when it goes

	envs *envCache

	watchMu sync.Mutex
	extra   []string      // Options.Folders, then whatever Watch set; guarded by watchMu
	wake    chan struct{} // tells Run that extra changed
}

// session is a signed-in command connection: the one that lists and
// fetches, apart from the IDLE connections, so that fetching never
// interrupts IDLE.
type session struct {
	c    *imapclient.Client
	caps goimap.CapSet

	// mu is held across a command sequence that depends on the selected
	// mailbox: a SELECT and the fetches after it.
	mu       sync.Mutex
	selected string // the mailbox selected, "" when none; guarded by mu
	validity uint32 // its UIDVALIDITY; guarded by mu
}

// condStore reports whether the server keeps modification sequences.
func (ss *session) condStore() bool { return ss.caps.Has(goimap.CapCondStore) }

// selectBox selects mailbox read-only, which also guarantees that no
// fetch can set \Seen. The caller holds ss.mu.
func (ss *session) selectBox(mailbox string) (*goimap.SelectData, error) {
	data, err := ss.c.Select(mailbox, &goimap.SelectOptions{ReadOnly: true, CondStore: ss.condStore()}).Wait()
	if err != nil {
		ss.selected, ss.validity = "", 0
		return nil, err
	}
	ss.selected, ss.validity = mailbox, data.UIDValidity
	return data, nil
}

// ensure selects mailbox unless it is selected already, and reports
// ErrGone when its UIDVALIDITY is no longer validity. The caller holds
// ss.mu.
func (ss *session) ensure(mailbox string, validity uint32) error {
	if ss.selected != mailbox {
		if _, err := ss.selectBox(mailbox); err != nil {
			if isRefusal(err) {
				return fmt.Errorf("%w: the mailbox cannot be opened (%s)", maildir.ErrGone, logErr(err))
			}
			return offlineError{err}
		}
	}
	if ss.validity != validity {
		return fmt.Errorf("%w: the mailbox was renumbered (UIDVALIDITY changed)", maildir.ErrGone)
	}
	return nil
}

// setSession publishes the command connection (nil when it is gone).
func (s *Source) setSession(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss != nil {
		s.sess = ss
		close(s.up)
		return
	}
	if s.sess != nil {
		s.sess = nil
		s.up = make(chan struct{})
	}
}

// session returns the command connection, waiting up to offlineWait for
// it to come back after a drop.
func (s *Source) session() (*session, error) {
	s.mu.RLock()
	ss, up := s.sess, s.up
	s.mu.RUnlock()
	if ss != nil {
		return ss, nil
	}
	if !s.running.Load() {
		return nil, offlineError{errors.New("the source is not running")}
	}
	t := time.NewTimer(offlineWait)
	defer t.Stop()
	select {
	case <-up:
	case <-t.C:
		return nil, offlineError{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, offlineError{}
	}
	return s.sess, nil
}

// lookup returns what the Source knows of k.
func (s *Source) lookup(k agent.MessageKey) (msg, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.index[k]
	return m, ok
}

// Progress reports how far the first listings are: done of total
// messages reported. Both are zero before a mailbox has been listed.
func (s *Source) Progress() (done, total int) {
	return int(s.done.Load()), int(s.total.Load())
}

// Folder returns the mailbox of k as the server names it ("INBOX",
// "INBOX/Contoso") and whether the key is known.
func (s *Source) Folder(k agent.MessageKey) (string, bool) {
	m, ok := s.lookup(k)
	return m.mailbox, ok
}

// Delivered returns k's INTERNALDATE: when the server received it.
func (s *Source) Delivered(k agent.MessageKey) (time.Time, error) {
	m, ok := s.lookup(k)
	if !ok {
		return time.Time{}, fmt.Errorf("imap: delivery time of %s: %w", k, maildir.ErrGone)
	}
	return time.Unix(m.date, 0), nil
}

// IsSent reports whether folder is where the user's sent mail is: the
// mailbox with the \Sent special-use attribute or, on a server without
// SPECIAL-USE, the one named Sent.
func (s *Source) IsSent(folder string) bool {
	s.mu.RLock()
	sent := s.sent
	s.mu.RUnlock()
	if sent == "" {
		return folder == "Sent"
	}
	return folder == sent
}

// Watch replaces the folders watched besides INBOX and the \Sent one, as
// when the user's folder rules change. New folders are listed and watched
// within seconds; the messages of folders no longer watched are reported
// Removed.
func (s *Source) Watch(folders []string) {
	s.watchMu.Lock()
	s.extra = slices.Clone(folders)
	s.watchMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// extras returns the folders Watch set last.
func (s *Source) extras() []string {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	return slices.Clone(s.extra)
}

// Folders lists the account's mailboxes as the server names them,
// separator included, on the running connection or a new one.
func (s *Source) Folders(ctx context.Context) ([]string, error) {
	s.mu.RLock()
	ss := s.sess
	s.mu.RUnlock()
	var c *imapclient.Client
	if ss != nil {
		c = ss.c // LIST does not depend on the selected mailbox
	} else {
		var err error
		if c, err = s.dialer().connect(ctx, nil); err != nil {
			return nil, fmt.Errorf("imap: list folders: %w", err)
		}
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	boxes, err := list(c)
	if err != nil {
		return nil, fmt.Errorf("imap: list folders: %w", err)
	}
	names := make([]string, 0, len(boxes))
	for _, b := range boxes {
		if !b.noSelect {
			names = append(names, b.name)
		}
	}
	return names, nil
}

// mailboxInfo is one LIST answer.
type mailboxInfo struct {
	name     string
	sent     bool // has the \Sent special-use attribute
	noSelect bool // \Noselect or \NonExistent: a level of the hierarchy, not a mailbox
}

// list runs LIST "" "*", asking for special-use attributes where the
// server can say them.
func list(c *imapclient.Client) ([]mailboxInfo, error) {
	var opts *goimap.ListOptions
	caps := c.Caps()
	if caps.Has(goimap.CapSpecialUse) && (caps.Has(goimap.CapListExtended) || caps.Has(goimap.CapIMAP4rev2)) {
		opts = &goimap.ListOptions{ReturnSpecialUse: true}
	}
	data, err := c.List("", "*", opts).Collect()
	if err != nil {
		return nil, err
	}
	out := make([]mailboxInfo, 0, len(data))
	for _, d := range data {
		info := mailboxInfo{name: d.Mailbox}
		for _, a := range d.Attrs {
			switch goimap.MailboxAttr(strings.ToLower(string(a))) {
			case goimap.MailboxAttr(strings.ToLower(string(goimap.MailboxAttrSent))):
				info.sent = true
			case goimap.MailboxAttr(strings.ToLower(string(goimap.MailboxAttrNoSelect))),
				goimap.MailboxAttr(strings.ToLower(string(goimap.MailboxAttrNonExistent))):
				info.noSelect = true
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// sentOf picks the sent-mail mailbox from a listing: the first with
// \Sent, else one named as servers without SPECIAL-USE name it.
func sentOf(boxes []mailboxInfo) string {
	for _, b := range boxes {
		if b.sent && !b.noSelect {
			return b.name
		}
	}
	for _, name := range []string{"Sent", "INBOX/Sent", "INBOX.Sent"} {
		for _, b := range boxes {
			if b.name == name && !b.noSelect {
				return name
			}
		}
	}
	return ""
}

// Envelope returns the header fields of message k that decisions use.
// Arrivals are answered from memory; otherwise the fields (and only
// those: From, To, Cc, Subject, Message-ID, Date, In-Reply-To,
// References) are fetched with BODY.PEEK, together with those of the
// next few recent messages, which a reader going through a listing asks
// for next.
func (s *Source) Envelope(k agent.MessageKey) (maildir.Envelope, error) {
	if env, ok := s.envs.get(k); ok {
		return env, nil
	}
	m, ok := s.lookup(k)
	if !ok {
		return maildir.Envelope{}, fmt.Errorf("imap: envelope of %s: %w: the key is not in the index", k, maildir.ErrGone)
	}
	env, err := s.fetchEnvelope(k, m)
	if err != nil {
		return maildir.Envelope{}, fmt.Errorf("imap: envelope of %s: %w", k, err)
	}
	return env, nil
}

// readAhead is how many UIDs after a missed one are looked at to be
// fetched with it: a reader going through a listing asks for them next,
// and one command for many costs little more than one for one.
const readAhead = 63

// readAheadSet returns m's UID and those of the next readAhead UIDs that
// are known messages received since Options.Since (the ones the first
// listing prefetches, had the cache room) and not cached yet.
func (s *Source) readAheadSet(m msg) goimap.UIDSet {
	set := goimap.UIDSetNum(m.uid)
	since := s.o.Since.Unix()
	for uid := m.uid + 1; uid > m.uid && uid <= m.uid+readAhead; uid++ {
		k := Key(s.o.Salt, m.mailbox, m.validity, uid)
		if n, ok := s.lookup(k); ok && n.date >= since {
			if _, cached := s.envs.get(k); !cached {
				set.AddNum(uid)
			}
		}
	}
	return set
}

// fetchEnvelope fetches the header fields of m and of the known messages
// among the readAhead UIDs after it, caches them, and returns m's.
func (s *Source) fetchEnvelope(k agent.MessageKey, m msg) (maildir.Envelope, error) {
	ss, err := s.session()
	if err != nil {
		return maildir.Envelope{}, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := ss.ensure(m.mailbox, m.validity); err != nil {
		return maildir.Envelope{}, err
	}
	uids := s.readAheadSet(m)
	cmd := ss.c.Fetch(uids, &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{headerSection()}})
	var (
		env   maildir.Envelope
		found bool
		perr  error
	)
	for {
		f := cmd.Next()
		if f == nil {
			break
		}
		got := readFetch(f)
		if !uids.Contains(got.uid) {
			continue
		}
		key := Key(s.o.Salt, m.mailbox, m.validity, got.uid)
		known, ok := s.lookup(key)
		if !ok {
			if got.uid != m.uid {
				continue
			}
			known = m // removed meanwhile: still answer for it
		}
		got.date, got.size = time.Unix(known.date, 0), int64(known.size)
		e, err := parseHeader(got)
		if got.uid == m.uid {
			found, env, perr = true, e, err
		}
		if err == nil {
			s.envs.put(key, e)
		}
	}
	if err := cmd.Close(); err != nil {
		if isRefusal(err) {
			return maildir.Envelope{}, fmt.Errorf("fetch header fields: %s", logErr(err))
		}
		return maildir.Envelope{}, offlineError{err}
	}
	if !found {
		return maildir.Envelope{}, fmt.Errorf("%w: the server no longer has UID %d", maildir.ErrGone, m.uid)
	}
	return env, perr
}

// parseHeader parses fetched header fields as the Maildir source parses
// a file's header block, so both sources decide alike.
func parseHeader(f fetched) (maildir.Envelope, error) {
	if f.header == nil {
		return maildir.Envelope{}, errors.New("the server sent no header fields")
	}
	if len(bytes.TrimSpace(f.header)) == 0 {
		// The message has none of the fields (or no header at all, which
		// the answer does not tell apart). ParseHeader refuses an empty
		// block, and would derive the same synthetic Message-ID for every
		// such message; the Maildir source derives it from the other
		// fields, which are never fetched here. The server's date and
		// size stand in for them: they survive moves and relistings and
		// tell most such messages apart.
		stand := fmt.Sprintf("X-Crmsync-Received: %d %d\r\n\r\n", f.date.Unix(), f.size)
		return maildir.ParseHeader(strings.NewReader(stand))
	}
	return maildir.ParseHeader(bytes.NewReader(f.header))
}

// headerSection is BODY.PEEK[HEADER.FIELDS (...)] with the only header
// fields read before a message is tracked: what a decision may use,
// nothing else. PEEK, so that \Seen is never set.
func headerSection() *goimap.FetchItemBodySection {
	return &goimap.FetchItemBodySection{
		Specifier:    goimap.PartSpecifierHeader,
		HeaderFields: []string{"FROM", "TO", "CC", "SUBJECT", "MESSAGE-ID", "DATE", "IN-REPLY-TO", "REFERENCES"},
		Peek:         true,
	}
}

// fetched is one message of a FETCH answer.
type fetched struct {
	uid    goimap.UID
	date   time.Time
	size   int64
	header []byte // the header fields, nil when not asked for or not sent
	err    error  // reading a literal failed
}

// readFetch reads one message's items. Literals are read whole, up to
// the limit a header block may have; the caller asked for header fields
// only, so nothing larger is expected.
func readFetch(f *imapclient.FetchMessageData) fetched {
	var out fetched
	for {
		item := f.Next()
		if item == nil {
			return out
		}
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			out.uid = it.UID
		case imapclient.FetchItemDataInternalDate:
			out.date = it.Time
		case imapclient.FetchItemDataRFC822Size:
			out.size = it.Size
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				out.header = []byte{}
				continue
			}
			b, err := io.ReadAll(io.LimitReader(it.Literal, maildir.MaxHeaderBytes+1))
			out.header, out.err = b, err
		}
	}
}
