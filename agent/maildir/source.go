package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"crmsync/agent"
)

// ErrGone reports a message that is no longer in the Maildir: deleted, or
// moved away before it could be read.
var ErrGone = errors.New("message is no longer in the maildir")

// ErrSettling reports a message that could not be parsed and whose file
// changed less than SettleTime ago: a program that writes straight into
// new/ instead of renaming the finished file in from tmp/ (cp, some
// scripts) may still be writing it. Ask again after SettleTime.
var ErrSettling = errors.New("the message file is still being written")

// SettleTime is how long after its last change an unparsable message file
// is taken to be possibly unfinished.
const SettleTime = 2 * time.Second

// ErrNotMaildir reports a root directory that is not a Maildir.
var ErrNotMaildir = errors.New("not a maildir")

// DefaultRescan is the periodic rescan interval when Options.Rescan is zero.
const DefaultRescan = 10 * time.Minute

// DefaultDebounce is the debounce delay when Options.Debounce is zero.
const DefaultDebounce = 200 * time.Millisecond

// ChangeKind says what happened to a message.
type ChangeKind int

// The kinds of Change.
const (
	// Added is a message seen for the first time in the Source's lifetime.
	Added ChangeKind = iota + 1
	// Moved is a known message at a new path: new/ to cur/, changed flags,
	// another folder, or back after it was reported Removed.
	Moved
	// Removed is a message whose file is gone from every watched folder.
	Removed
	// Unavailable says the Maildir itself is gone (removed, moved away, or
	// its disk unmounted); Key is empty. Its messages are reported Removed.
	Unavailable
	// Available says the Maildir is back after Unavailable; Key is empty.
	// Its messages are reported again, as Moved when seen before.
	Available
)

// String returns the kind's name.
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "Added"
	case Moved:
		return "Moved"
	case Removed:
		return "Removed"
	case Unavailable:
		return "Unavailable"
	case Available:
		return "Available"
	}
	return "Unknown"
}

// Change is one event of the intake.
type Change struct {
	// Key identifies the message for its whole life in the Maildir.
	Key agent.MessageKey
	// Folder is "" for the inbox or the Maildir++ folder name (".Sent").
	Folder string
	// Path is the file's current path; for Removed, its last known path.
	Path string
	// Kind says what happened.
	Kind ChangeKind
	// Flags are the Maildir flags of the current name ("" in new/).
	Flags string
}

// Options configure a Source.
type Options struct {
	// Root is the Maildir: the directory holding cur/, new/ and tmp/.
	Root string
	// Folders are Maildir++ subfolders to watch besides the inbox (".Sent").
	Folders []string
	// Logger receives operational logs (paths and keys, never header
	// contents). Nil discards them.
	Logger *slog.Logger
	// Rescan is the interval of the periodic full listing that catches what
	// file events missed. Zero means DefaultRescan.
	Rescan time.Duration
	// Debounce is how long a removal waits for the same key to reappear
	// (new/ to cur/ is a remove and a create), and how long bursts of
	// directory events are gathered before a rescan. Zero means
	// DefaultDebounce.
	Debounce time.Duration
}

// entry is where a message's file is, as listings and events find it.
type entry struct {
	name   string // the file name, flags included
	folder uint16 // index into Source.folderList
	cur    bool   // in cur/ rather than new/
	seen   uint32 // the listing that last found the file here
}

// flags returns the Maildir flags of e's name.
func (e entry) flags() string {
	_, flags, _ := ParseName(e.name)
	return flags
}

// slot is an entry as the index keeps it. The index holds one per message,
// so it is packed: the name is the key followed by a suffix (":2,S"), and a
// Maildir has few distinct suffixes, kept once in Source.suffixes and named
// here by number.
type slot struct {
	folder uint16
	suffix uint8 // index into Source.suffixes, or oddSuffix
	cur    bool
	seen   uint32
}

// oddSuffix marks a slot whose suffix is kept in Source.odd, once the
// table of shared suffixes is full.
const oddSuffix = 0xff

// subdir names the directory of a message by whether it is in cur/.
func subdir(cur bool) string {
	if cur {
		return "cur"
	}
	return "new"
}

// Source is the Maildir intake: it lists, watches and rescans the inbox and
// the configured folders and reports every message as Changes.
//
// Invariants: Run's goroutine is the only writer of index, and updates it
// before it sends the Change that reports the update, so a reader of the
// Change can always call Envelope. index holds exactly the messages the
// Source believes present; mu guards it for Envelope and Body.
type Source struct {
	opts Options
	log  *slog.Logger

	running atomic.Bool  // Run was called; a Source runs once
	done    atomic.Int64 // messages reported by the initial scan so far
	total   atomic.Int64 // messages the initial scan found

	folderList []string // "" (the inbox) then Options.Folders; fixed at New

	mu         sync.RWMutex                // guards the fields below; Run is the only writer
	index      index                       // where each present message is
	suffixes   []string                    // shared name suffixes, by slot.suffix
	suffixCode map[string]uint8            // the inverse of suffixes
	odd        map[agent.MessageKey]string // suffixes of slots marked oddSuffix
}

// New returns a Source for opts. Nothing happens until Run.
func New(opts Options) *Source {
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		opts:       opts,
		log:        log.With("component", "maildir"),
		folderList: append([]string{""}, opts.Folders...),
		index:      newIndex(),
		suffixCode: make(map[string]uint8),
		odd:        make(map[agent.MessageKey]string),
	}
}

// Progress reports how far the initial scan is: done of total messages
// reported. Both are zero before the scan has listed the Maildir.
func (s *Source) Progress() (done, total int) {
	return int(s.done.Load()), int(s.total.Load())
}

// Envelope re-reads the header block of the message k from its current file.
// A message moved between new/ and cur/ since the last event is found again;
// one that is gone yields ErrGone.
func (s *Source) Envelope(k agent.MessageKey) (Envelope, error) {
	f, err := s.open(k)
	if err != nil {
		return Envelope{}, fmt.Errorf("maildir: envelope of %s: %w", k, err)
	}
	defer f.Close()
	e, err := ParseHeader(f)
	if err != nil {
		if fi, serr := f.Stat(); serr == nil && time.Since(fi.ModTime()) < SettleTime {
			err = fmt.Errorf("%w: %w", ErrSettling, err)
		}
		return Envelope{}, fmt.Errorf("maildir: envelope of %s: %w", k, err)
	}
	return e, nil
}

// Body opens the whole message k for reading, header included. It is meant
// for messages being tracked only; the caller closes it.
func (s *Source) Body(k agent.MessageKey) (io.ReadCloser, error) {
	f, err := s.open(k)
	if err != nil {
		return nil, fmt.Errorf("maildir: body of %s: %w", k, err)
	}
	return f, nil
}

// Folder returns the Maildir++ folder of k ("" for the inbox) and whether
// the key is known.
func (s *Source) Folder(k agent.MessageKey) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.index.get(k)
	if !ok {
		return "", false
	}
	return s.folderList[sl.folder], true
}

// path returns the file path of e.
func (s *Source) path(e entry) string {
	return filepath.Join(s.opts.Root, s.folderList[e.folder], subdir(e.cur), e.name)
}

// pack turns e, the place of k, into a slot, sharing its suffix. The
// caller holds mu for writing.
func (s *Source) pack(k agent.MessageKey, e entry) slot {
	suffix := e.name[len(k):] // k is the start of e.name: ParseName made it
	code, ok := s.suffixCode[suffix]
	if !ok {
		code = oddSuffix
		if len(s.suffixes) < oddSuffix {
			code = uint8(len(s.suffixes))
			suffix = strings.Clone(suffix)
			s.suffixes = append(s.suffixes, suffix)
			s.suffixCode[suffix] = code
		}
	}
	if code == oddSuffix {
		s.odd[k] = strings.Clone(suffix)
	} else if len(s.odd) > 0 {
		delete(s.odd, k)
	}
	return slot{folder: e.folder, suffix: code, cur: e.cur, seen: e.seen}
}

// suffixOf returns the name suffix of k's slot sl. The caller holds mu.
func (s *Source) suffixOf(k agent.MessageKey, sl slot) string {
	if sl.suffix == oddSuffix {
		return s.odd[k]
	}
	return s.suffixes[sl.suffix]
}

// unpack returns the entry of k's slot sl. The caller holds mu.
func (s *Source) unpack(k agent.MessageKey, sl slot) entry {
	return entry{name: string(k) + s.suffixOf(k, sl), folder: sl.folder, cur: sl.cur, seen: sl.seen}
}

// holds reports whether k's slot sl names the same file as e, without
// building the name. The caller holds mu.
func (s *Source) holds(k agent.MessageKey, sl slot, e entry) bool {
	return sl.folder == e.folder && sl.cur == e.cur &&
		strings.HasPrefix(e.name, string(k)) && e.name[len(k):] == s.suffixOf(k, sl)
}

// open opens the current file of k: the indexed path, else the same key in
// new/ or cur/ of its folder (a rename the Run loop has not seen yet).
func (s *Source) open(k agent.MessageKey) (*os.File, error) {
	e, ok := s.lookup(k)
	if !ok {
		return nil, fmt.Errorf("%w: the key is not in the index", ErrGone)
	}
	f, err := openMessage(s.path(e))
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if p, ok := s.find(s.folderList[e.folder], k); ok {
		if f, err := openMessage(p); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w: the file was moved or deleted", ErrGone)
}

// ErrNotFile reports a name in new/ or cur/ that is not a regular file.
var ErrNotFile = errors.New("not a regular file (a pipe, device or directory)")

// openMessage opens a message file for reading. It never waits: a pipe or
// device where a message should be would block an open or a read forever,
// as a hung network file system does, and stall every message behind it.
func openMessage(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w", path, ErrNotFile)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// find looks for the file of k in new/ and cur/ of folder, reading the
// directory in batches and stopping at the first match.
func (s *Source) find(folder string, k agent.MessageKey) (string, bool) {
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(s.opts.Root, folder, sub)
		if _, err := os.Lstat(filepath.Join(dir, string(k))); err == nil {
			return filepath.Join(dir, string(k)), true
		}
		d, err := os.Open(dir)
		if err != nil {
			continue
		}
		for {
			names, err := d.Readdirnames(512)
			for _, n := range names {
				if strings.HasPrefix(n, string(k)) {
					if key, _, err := ParseName(n); err == nil && key == k {
						d.Close()
						return filepath.Join(dir, n), true
					}
				}
			}
			if err != nil {
				break
			}
		}
		d.Close()
	}
	return "", false
}

// setIndex records where k is now. Called by Run's goroutine only; k must
// not hold on to a longer string than its file name (the map keeps it).
func (s *Source) setIndex(k agent.MessageKey, e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index.put(k, s.pack(k, e))
}

// dropIndex forgets k. Called by Run's goroutine only.
func (s *Source) dropIndex(k agent.MessageKey) {
	s.mu.Lock()
	s.index.del(k)
	delete(s.odd, k)
	s.mu.Unlock()
}

// lookup returns where Run last saw k.
func (s *Source) lookup(k agent.MessageKey) (entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.index.get(k)
	if !ok {
		return entry{}, false
	}
	return s.unpack(k, sl), true
}

// seenAt returns k's slot: which directory it is in and which listing
// last found it there.
func (s *Source) seenAt(k agent.MessageKey) (slot, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.index.get(k)
	return sl, ok
}

// where reports whether the index has k, and whether at e.
func (s *Source) where(k agent.MessageKey, e entry) (known, at bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sl, ok := s.index.get(k)
	return ok, ok && s.holds(k, sl, e)
}

// Check reports whether root is a Maildir (it holds cur/, new/ and tmp/),
// with an error that says what is missing.
func Check(root string) error { return checkMaildir(root) }

// checkMaildir verifies that root holds cur/, new/ and tmp/.
func checkMaildir(root string) error {
	var missing []string
	for _, sub := range []string{"cur", "new", "tmp"} {
		if fi, err := os.Stat(filepath.Join(root, sub)); err != nil || !fi.IsDir() {
			missing = append(missing, sub+"/")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("maildir: %s: %w: missing %s (a Maildir is a directory holding the three subdirectories cur, new and tmp)",
		root, ErrNotMaildir, strings.Join(missing, ", "))
}
