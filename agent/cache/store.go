// Package cache is the agent's local SQLite store: the map from Maildir keys
// to CRM activity IDs, the durable outbox of actions not yet confirmed by the
// CRM, and a small key/value table.
//
// The store holds nothing but IDs: Maildir keys, a salted hash of each
// Message-ID, CRM GUIDs, small codes and times. Every write is validated so
// that an address, a name, a subject or a body cannot be stored by mistake;
// display data lives in memory and is re-read from the Maildir or the CRM.
//
// The file is private to the user (mode 0600), journaled with WAL and synced
// on every commit, so an action acknowledged as queued survives a crash or a
// power cut. A file that cannot be read as a database is moved aside and a
// fresh one started; everything in it can be re-learned from the CRM.
package cache

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// ErrNewerSchema reports a cache file written by a newer crmsync, whose
// schema this build does not know.
var ErrNewerSchema = errors.New("cache was written by a newer crmsync")

// ErrNoAccess reports that the cache file or its folder cannot be read or
// written, for example because of permissions or a read-only file system.
var ErrNoAccess = errors.New("cache file or folder is not accessible")

// ErrDiskFull reports that the disk holding the cache is full.
var ErrDiskFull = errors.New("disk is full")

// ErrInvalid reports a value the store refuses to write, because it is not
// an ID, a code or a time of the expected shape.
var ErrInvalid = errors.New("not an acceptable value")

// ErrNotFound reports an outbox row that does not exist (any more).
var ErrNotFound = errors.New("not found")

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// maxOpenConns bounds the pool: WAL lets readers run beside the one writer,
// and a handful is plenty for a desktop agent.
const maxOpenConns = 4

// idleClose is how long a connection may sit unused before it is closed.
// Each holds a page cache of up to 2 MB; an agent that has gone quiet
// should not keep them, and reopening costs well under a millisecond.
const idleClose = 30 * time.Second

// busyTimeout is how long a statement waits for a lock held by another
// process (a second crmsync on the same file, or a backup tool).
const busyTimeout = 5 * time.Second

// saltKey is the kv key of the per-database salt of HashMessageID. Keys with
// the prefix "cache." belong to the store itself.
const saltKey = "cache.msgid_salt"

// Store is an open cache. Its methods are safe for concurrent use.
type Store struct {
	db      *sql.DB
	path    string
	log     *slog.Logger
	salt    []byte     // read once at Open; never changes for the life of the file
	rebuilt bool       // the previous file was unreadable and was moved aside
	writeMu sync.Mutex // SQLite has one writer; queueing here avoids lock polling inside the process
	// clock stamps updated_at, created_at and next_at. It is the engine's
	// clock (SetClock), so an action queued "now" is due by the outbox's
	// own "now"; nil means the wall clock.
	clock atomic.Pointer[func() time.Time]
	byKey *sql.Stmt // SELECT of one message by key: the pipeline asks it for every message
}

// SetClock makes the store read the time from now (for example a
// sched.Clock's Now) instead of the wall clock, so the times it stamps
// agree with the clock the outbox compares them with.
func (s *Store) SetClock(now func() time.Time) {
	if now == nil {
		s.clock.Store(nil)
		return
	}
	s.clock.Store(&now)
}

// now is the store's time.
func (s *Store) now() time.Time {
	if f := s.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Open opens the cache at path, creating it with mode 0600 if needed, and
// brings its schema up to date. A file that is not a readable database is
// moved aside to path.corrupt-<UTC time> and a fresh cache is started; Rebuilt
// then reports true. Permission problems, a read-only file system and a full
// disk are returned as errors (ErrNoAccess, ErrDiskFull) and nothing is
// moved or deleted. A cache written by a newer crmsync is refused with
// ErrNewerSchema.
func Open(path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", path, err)
	}
	bad, err := prepareFile(abs)
	if err != nil {
		return nil, err
	}
	if bad == nil {
		s, err := openDB(abs, log)
		if err == nil {
			return s, nil
		}
		if !isCorrupt(err) {
			return nil, err
		}
		bad = err
	}

	// The wall clock on purpose: the name is for a person looking at the
	// folder, and no clock has been injected yet.
	aside, err := moveAside(abs, time.Now())
	if err != nil {
		return nil, err
	}
	log.Warn("cache was unreadable; moved aside to "+aside+" and starting fresh; tracked messages will be re-learned from the CRM",
		"cause", bad.Error())
	if again, err := prepareFile(abs); err != nil {
		return nil, err
	} else if again != nil {
		// Only one attempt: a fresh file that looks broken points at
		// something outside the cache, and looping would hide it.
		return nil, fmt.Errorf("cache: open %s: fresh cache is unreadable: %w", abs, again)
	}
	s, err := openDB(abs, log)
	if err != nil {
		return nil, err
	}
	s.rebuilt = true
	return s, nil
}

// Rebuilt reports whether Open found the previous cache unreadable and
// started a fresh one, so the engine should re-learn tracked messages from
// the CRM.
func (s *Store) Rebuilt() bool { return s.rebuilt }

// Path returns the absolute path of the cache file.
func (s *Store) Path() string { return s.path }

// Release hands back memory the store keeps for speed: idle connections
// and their page caches are closed, and the C allocator returns the freed
// pages to the system. It is meant for the end of a burst of work; the next
// query opens a connection again.
func (s *Store) Release() {
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(maxOpenConns)
	trimCHeap()
}

// Close checkpoints the journal and closes the database.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Folding the WAL back keeps the file self-contained between runs; a
	// failure here loses nothing, since the WAL is replayed on next open.
	_, _ = s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	if s.byKey != nil {
		s.byKey.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cache: close: %w", err)
	}
	return nil
}

// corruptError says why an existing file is not a usable database.
type corruptError struct{ why string }

func (e *corruptError) Error() string { return e.why }

// prepareFile makes sure path exists as a private file before SQLite sees
// it, so the database (and, through SQLite, its -wal and -shm files, which
// copy the database's mode) is never readable by others. It returns a non-nil
// bad when an existing file is plainly not a database.
func prepareFile(path string) (bad error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		if err := f.Close(); err != nil {
			return nil, classify("create "+path, err)
		}
		// Journals left without their database (the user deleted the file
		// to reset the cache) would be replayed into the new one.
		if err := moveJournals(path, asideName(path, "orphan", time.Now())); err != nil {
			return nil, classify("move orphaned journal aside", err)
		}
		// The new file's name must survive a power cut with the data.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, classify("create "+path, err)
		}
		return nil, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, classify("create "+path, err)
	}

	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, classify("open "+path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, classify("open "+path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cache: open %s: not a regular file", path)
	}
	if fi.Mode().Perm()&^0o600 != 0 {
		// An older build or a copy may have left it readable by others.
		if err := f.Chmod(0o600); err != nil {
			return nil, classify("restrict mode of "+path, err)
		}
	}
	if fi.Size() == 0 {
		// A crash between creating the file and the first migration.
		return &corruptError{"empty file"}, nil
	}
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return &corruptError{"file too short for a database"}, nil
		}
		return nil, classify("read "+path, err)
	}
	if !bytes.Equal(head, []byte(sqliteMagic)) {
		return &corruptError{"file is not a database"}, nil
	}
	return nil, nil
}

// dsn builds the SQLite URI. mode=rw keeps SQLite from creating the file
// itself (with the process umask); prepareFile has created it already.
func dsn(path string) string {
	q := url.Values{}
	q.Set("mode", "rw")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // an acknowledged enqueue survives power loss
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")   // take the write lock at BEGIN: no upgrade deadlocks
	q.Set("_stmt_cache_size", "32") // each decision runs the same few statements: parse them once per connection
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive path: file:///C:/...
	}
	// url.URL escapes '?', '#' and '%' in the path; SQLite decodes them.
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// openDB opens the database, checks it and migrates it.
func openDB(path string, log *slog.Logger) (*Store, error) {
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(idleClose)
	s := &Store{db: db, path: path, log: log}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	if s.byKey, err = db.Prepare("SELECT " + msgColumns + " FROM messages WHERE key = ?"); err != nil {
		db.Close()
		return nil, classify("open "+path, err)
	}
	return s, nil
}

// init checks the file, migrates it and loads the salt.
func (s *Store) init(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return classify("open "+s.path, err)
	}
	restrictSidecars(s.path)
	if err := quickCheck(ctx, s.db); err != nil {
		return fmt.Errorf("cache: check %s: %w", s.path, err)
	}
	from, to, err := migrate(ctx, s.db)
	if err != nil {
		return fmt.Errorf("cache: migrate %s: %w", s.path, err)
	}
	if from != to {
		s.log.Info("cache schema updated", "from", from, "to", to)
	}
	if err := s.loadSalt(ctx); err != nil {
		return err
	}
	if err := s.hashFolderNames(ctx); err != nil {
		return err
	}
	restrictSidecars(s.path)
	return nil
}

// hashFolderNames replaces the folder names an older version kept (".Sent")
// with their salted hashes. SQL cannot compute the salted hash, so this
// step of the migration runs here; it finds nothing to do on every later
// start.
func (s *Store) hashFolderNames(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT folder FROM messages WHERE folder <> ''")
	if err != nil {
		return classify("hash folder names", err)
	}
	var names []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return classify("hash folder names", err)
		}
		if !isFolderHash(f) {
			names = append(names, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify("hash folder names", err)
	}
	for _, f := range names {
		if _, err := s.db.ExecContext(ctx, "UPDATE messages SET folder = ? WHERE folder = ?", s.HashFolder(f), f); err != nil {
			return classify("hash folder names", err)
		}
	}
	if len(names) > 0 {
		s.log.Info("cache: folder names replaced by their hashes", "folders", len(names))
	}
	return nil
}

// quickCheck runs PRAGMA quick_check and turns a complaint into a
// corruptError. Checking at start costs a pass over the file, but finds
// damage before the engine relies on it rather than halfway through a sync.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return classify("quick check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return classify("quick check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return classify("quick check", err)
	}
	if len(problems) > 0 {
		return &corruptError{fmt.Sprintf("quick_check failed: %q", problems)}
	}
	return nil
}

// restrictSidecars narrows the mode of the -wal and -shm files. SQLite
// already gives them the database's mode; this covers files left by an older
// build or another tool.
func restrictSidecars(path string) {
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err == nil && fi.Mode().Perm()&^0o600 != 0 {
			_ = os.Chmod(path+suffix, 0o600)
		}
	}
}

// moveAside renames an unreadable cache and its journal files out of the
// way. It never deletes anything; if any rename fails the caller must not
// start a fresh file, because SQLite would pair it with the old journal.
func moveAside(path string, now time.Time) (string, error) {
	aside := asideName(path, "corrupt", now)
	if err := os.Rename(path, aside); err != nil {
		return "", classify("move unreadable cache aside", err)
	}
	if err := moveJournals(path, aside); err != nil {
		return "", classify("move unreadable cache aside", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", classify("move unreadable cache aside", err)
	}
	return aside, nil
}

// asideName returns an unused name path.<why>-<UTC time>[.n].
func asideName(path, why string, now time.Time) string {
	base := path + "." + why + "-" + now.UTC().Format("20060102T150405Z")
	aside := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			return aside
		}
		aside = fmt.Sprintf("%s.%d", base, i)
	}
}

// moveJournals renames the -wal, -shm and -journal files of path to the
// same suffixes of aside, so they stay paired with their database.
func moveJournals(path, aside string) error {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// syncDir makes renames and new names in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // NTFS journals names; directories cannot be opened for sync
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err // EINVAL: the file system cannot sync directories
	}
	return nil
}

// isCorrupt reports whether err means the file's content is unusable, as
// opposed to the file being out of reach.
func isCorrupt(err error) bool {
	var ce *corruptError
	if errors.As(err, &ce) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB
	}
	return false
}

// classify wraps err for op, adding ErrNoAccess or ErrDiskFull when the
// cause is one the user can fix, with a sentence saying how.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case isDiskFull(err):
		return fmt.Errorf("cache: %s: %w; free some disk space and start crmsync again: %w", op, ErrDiskFull, err)
	case isNoAccess(err):
		return fmt.Errorf("cache: %s: %w; the cache file and its folder must be readable and writable by you: %w", op, ErrNoAccess, err)
	}
	return fmt.Errorf("cache: %s: %w", op, err)
}

// isDiskFull reports a full disk or an exhausted quota.
func isDiskFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT) {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// isNoAccess reports permission problems and read-only file systems:
// things the user can fix, and no reason to touch the file.
func isNoAccess(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrCantOpen, sqlite3.ErrReadonly, sqlite3.ErrPerm, sqlite3.ErrAuth:
			return true
		}
		switch se.SystemErrno {
		case syscall.EACCES, syscall.EPERM, syscall.EROFS:
			return true
		}
		return false
	}
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// wrap is classify for the store's ordinary operations.
func wrap(op string, err error) error { return classify(op, err) }

// ms converts a time to the stored unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts stored unix milliseconds back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
