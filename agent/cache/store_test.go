package cache

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"crmsync/agent"
)

// Sample GUIDs; any well-formed GUID would do.
const (
	guidA = "0b7e5a1c-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
	guidB = "1a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d"
	guidC = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
)

func testLogger(t testing.TB, buf *bytes.Buffer) *slog.Logger {
	t.Helper()
	if buf == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(buf, nil))
}

// openAt opens the cache at path and closes it when the test ends.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, testLogger(t, nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cache.db")
	return openAt(t, path), path
}

// raw opens path with plain SQLite, bypassing the store.
func raw(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func userVersionOf(t testing.TB, path string) int {
	t.Helper()
	db := raw(t, path)
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenMigratesFromEmpty(t *testing.T) {
	s, path := openTemp(t)
	if s.Rebuilt() {
		t.Error("a new cache reports Rebuilt")
	}
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() || v < 2 {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion())
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync, fk int
	if err := s.db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
	if len(s.HashMessageID("<a@b>")) != HashSize {
		t.Error("no salt loaded")
	}
	if s.Path() != path {
		t.Errorf("Path = %q, want %q", s.Path(), path)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.HashMessageID("<x1@example.invalid>")
	m := Message{Key: "1700000000.M1P1Q1.host", MsgIDHash: h, State: agent.Tracked, ActivityID: guidA,
		ReceivedAt: time.UnixMilli(1700000000123)}
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "user_id", []byte(guidB)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	got, ok, err := s.Message(ctx, m.Key)
	if err != nil || !ok {
		t.Fatalf("Message after reopen: %v, %v", ok, err)
	}
	if got.ActivityID != guidA || !got.ReceivedAt.Equal(m.ReceivedAt) || !bytes.Equal(got.MsgIDHash, h) {
		t.Errorf("after reopen got %+v", got)
	}
	if !bytes.Equal(s.HashMessageID("<x1@example.invalid>"), h) {
		t.Error("salt changed across reopen")
	}
	v, ok, err := s.Get(ctx, "user_id")
	if err != nil || !ok || string(v) != guidB {
		t.Errorf("Get user_id = %q, %v, %v", v, ok, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err = Open(path, nil)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"99", "update crmsync", "move the file away"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if v := userVersionOf(t, path); v != 99 {
		t.Errorf("refused file was changed: user_version %d", v)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Errorf("a newer file was moved aside: %v", m)
	}
}

func TestOpenMigratesVersion1Fixture(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	fixture, err := os.ReadFile("testdata/0001.sql")
	if err != nil {
		t.Fatal(err)
	}
	db := raw(t, path)
	if _, err := db.Exec(string(fixture)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, path)
	var v int
	s.db.QueryRow("PRAGMA user_version").Scan(&v)
	if v != SchemaVersion() {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion())
	}
	for _, idx := range []string{"outbox_next_at", "messages_received_at"} {
		var n int
		s.db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", idx).Scan(&n)
		if n != 1 {
			t.Errorf("index %s missing after migration", idx)
		}
	}
	m, ok, err := s.Message(ctx, "1700000000.M1P100Q1.host")
	if err != nil || !ok || m.State != agent.Tracked || m.Regarding == nil || m.Regarding.ID != guidB || !m.OwnedByMe {
		t.Errorf("migrated message = %+v, %v, %v", m, ok, err)
	}
	acts, err := s.Due(ctx, time.UnixMilli(1700000200000), 10)
	if err != nil || len(acts) != 1 || acts[0].Attempts != 2 || acts[0].LastError != 7 || acts[0].Kind != ActionTrack {
		t.Errorf("migrated outbox = %+v, %v", acts, err)
	}
	// The fixture's salt is kept, so stored hashes still match.
	if salt, _, _ := s.Get(ctx, saltKey); len(salt) != 32 || salt[31] != 0x1f {
		t.Errorf("salt not kept: %x", salt)
	}
}

// TestMigration0001Unchanged guards the rule that a released migration is
// never edited: applying 0001 must give the schema of the version-1 fixture.
func TestMigration0001Unchanged(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	schemaOf := func(sqlText string) map[string]string {
		db := raw(t, filepath.Join(t.TempDir(), "x.db"))
		if _, err := db.Exec(sqlText); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var typ, name string
			rows.Scan(&typ, &name)
			out[name] = typ
		}
		rows.Close()
		for name, typ := range out {
			if typ == "table" {
				out[name] = columnsOf(t, db, name)
			}
		}
		return out
	}
	fixture, err := os.ReadFile("testdata/0001.sql")
	if err != nil {
		t.Fatal(err)
	}
	got, want := schemaOf(ms[0].sql), schemaOf(string(fixture))
	if len(got) != len(want) {
		t.Fatalf("0001 tables %v, fixture tables %v", got, want)
	}
	for name, cols := range want {
		if got[name] != cols {
			t.Errorf("table %s: 0001 has %s, the released schema has %s", name, got[name], cols)
		}
	}
}

func columnsOf(t testing.TB, db *sql.DB, table string) string {
	rows, err := db.Query("SELECT name, type, \"notnull\", coalesce(dflt_value, ''), pk FROM pragma_table_info(?)", table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var name, typ, dflt string
		var notnull, pk int
		rows.Scan(&name, &typ, &notnull, &dflt, &pk)
		b.WriteString(strings.Join([]string{name, typ, dflt}, ":"))
		b.WriteByte(byte('0' + notnull + 2*pk))
		b.WriteByte(' ')
	}
	return b.String()
}

func TestFileModes(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if err := s.PutMessage(ctx, Message{Key: "1.M1.host"}); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if checked < 2 {
		t.Errorf("expected a -wal file beside the open database")
	}
}

func TestOpenRestrictsLooseMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Chmod(path, 0o644)
	openAt(t, path)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after reopen, want 0600", fi.Mode().Perm())
	}
}

// damage describes one way a cache file can be found broken.
type damage struct {
	name   string
	break_ func(t *testing.T, path string)
}

var damages = []damage{
	{"random bytes over the middle", func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		junk := make([]byte, fi.Size()/2)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		if _, err := f.WriteAt(junk, fi.Size()/4); err != nil {
			t.Fatal(err)
		}
	}},
	{"pure garbage", func(t *testing.T, path string) {
		junk := bytes.Repeat([]byte("this is not a database at all\n"), 300)
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"zero length", func(t *testing.T, path string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
	}},
	{"header only", func(t *testing.T, path string) {
		if err := os.Truncate(path, 100); err != nil {
			t.Fatal(err)
		}
	}},
}

// filledCache makes a closed cache at path with enough rows to span pages.
// The rows go in one transaction: one sync instead of hundreds.
func filledCache(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		k := agent.MessageKey("1700000000.M" + strings.Repeat("x", i%40) + "P" + itoa(i) + ".host")
		r, err := s.row(Message{Key: k, MsgIDHash: s.HashMessageID(itoa(i) + "@example.invalid"), State: agent.Tracked, ActivityID: guidA})
		if err != nil {
			t.Fatal(err)
		}
		if err := upsert(ctx, tx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestOpenMovesCorruptFileAside(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.db")
			filledCache(t, path)
			d.break_(t, path)
			before, _ := os.ReadFile(path)

			var logs bytes.Buffer
			s, err := Open(path, testLogger(t, &logs))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if !s.Rebuilt() {
				t.Fatal("Rebuilt() = false for a broken file")
			}
			t.Logf("log: %s", logs.String())
			aside, _ := filepath.Glob(path + ".corrupt-*")
			var main []string
			for _, a := range aside {
				if !strings.HasSuffix(a, "-wal") && !strings.HasSuffix(a, "-shm") {
					main = append(main, a)
				}
			}
			if len(main) != 1 {
				t.Fatalf("moved-aside files: %v", aside)
			}
			if got, _ := os.ReadFile(main[0]); !bytes.Equal(got, before) {
				t.Error("the moved-aside file is not the broken file")
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("fresh cache mode %v", fi.Mode().Perm())
			}
			if n := strings.Count(logs.String(), "level=WARN"); n != 1 ||
				!strings.Contains(logs.String(), "moved aside to "+main[0]) ||
				!strings.Contains(logs.String(), "re-learned from the CRM") {
				t.Errorf("log is not one clear warning:\n%s", logs.String())
			}
			if err := s.PutMessage(ctx, Message{Key: "1.M1.host"}); err != nil {
				t.Errorf("fresh cache not writable: %v", err)
			}
			s.Close()
			// The fresh file is a normal cache on the next start.
			s2 := openAt(t, path)
			if s2.Rebuilt() {
				t.Error("Rebuilt() = true on the open after a rebuild")
			}
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenReadOnlyDirectory(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"no cache yet", func(t *testing.T, path string) {}},
		{"valid cache", func(t *testing.T, path string) { filledCache(t, path) }},
		{"garbage cache", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("garbage garbage garbage garbage garbage"), 0o600)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "cache.db")
			c.prepare(t, path)
			before := listDir(t, dir)
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o700) })
			var err error
			asUnprivileged(t, []string{dir, path}, []string{filepath.Dir(dir)}, func() {
				var s *Store
				s, err = Open(path, nil)
				if err == nil {
					s.Close()
				}
			})
			if !errors.Is(err, ErrNoAccess) {
				t.Fatalf("Open in a read-only folder = %v, want ErrNoAccess", err)
			}
			t.Logf("Open: %v", err)
			if !strings.Contains(err.Error(), "readable and writable") {
				t.Errorf("error does not say what to do: %v", err)
			}
			os.Chmod(dir, 0o700)
			if after := listDir(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("folder changed from %v to %v", before, after)
			}
		})
	}
}

func TestOpenUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	filledCache(t, path)
	before, _ := os.ReadFile(path)
	if err := os.Chmod(path, 0o000); err != nil {
		t.Fatal(err)
	}
	var err error
	asUnprivileged(t, []string{dir, path}, []string{filepath.Dir(dir)}, func() {
		var s *Store
		s, err = Open(path, nil)
		if err == nil {
			s.Close()
		}
	})
	os.Chmod(dir, 0o700)
	if !errors.Is(err, ErrNoAccess) {
		t.Fatalf("Open of a mode-0000 file = %v, want ErrNoAccess", err)
	}
	t.Logf("Open: %v", err)
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("files beside the cache changed: %v", names)
	}
	os.Chmod(path, 0o600)
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the unreadable file was modified")
	}
}

func TestOpenSetsOrphanedJournalAside(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.PutMessage(ctx, Message{Key: "1.old.host"})
	// Copy the live journal, then remove the database as a user resetting
	// the cache by hand would.
	wal, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Remove(path)
	os.WriteFile(path+"-wal", wal, 0o600)

	s = openAt(t, path)
	if _, ok, _ := s.Message(ctx, "1.old.host"); ok {
		t.Error("an orphaned journal was replayed into the new cache")
	}
	if m, _ := filepath.Glob(path + ".orphan-*-wal"); len(m) != 1 {
		t.Errorf("orphaned journal not kept aside: %v", listDir(t, dir))
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Mail cache?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cache.db")
	s := openAt(t, path)
	if err := s.PutMessage(context.Background(), Message{Key: "1.host"}); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) == 0 || names[0] != "cache.db" {
		t.Errorf("files in the folder: %v", names)
	}
}

func TestOpenDiskFullIsClassified(t *testing.T) {
	err := classify("write", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC})
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "free some disk space") {
		t.Errorf("classify(ENOSPC) = %v", err)
	}
	// A real full disk where one can be had without privileges: /dev/full
	// refuses every write with ENOSPC.
	if _, err := os.Stat("/dev/full"); err != nil {
		return
	}
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("cannot open /dev/full: %v", err)
	}
	defer f.Close()
	_, werr := io.WriteString(f, "x")
	if got := classify("write", werr); !errors.Is(got, ErrDiskFull) {
		t.Errorf("classify(write to /dev/full) = %v", got)
	}
}
