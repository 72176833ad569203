package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"crmsync/agent"
)

// waitFor bounds every wait for an expected Change.
const waitFor = 5 * time.Second

// quiet is how long a test listens to be sure no further Change comes.
const quiet = 300 * time.Millisecond

func makeMaildir(t *testing.T, root string, folders ...string) {
	t.Helper()
	for _, f := range append([]string{""}, folders...) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, f, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func message(subject string) string {
	return "From: Sender <sender@example.com>\r\nTo: me@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.com>\r\n\r\nbody\r\n"
}

// deliver writes a message the way a delivery agent does: into tmp/, then
// renamed into new/.
func deliver(t *testing.T, folderDir, name, content string) string {
	t.Helper()
	tmp := filepath.Join(folderDir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(folderDir, "new", name)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// start runs a Source on root and stops it when the test ends.
func start(t *testing.T, opts Options) (*Source, chan Change) {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	src := New(opts)
	ch := make(chan Change, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, ch) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
	return src, ch
}

func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(waitFor):
		t.Fatal("no change within", waitFor)
		return Change{}
	}
}

func expectQuiet(t *testing.T, ch <-chan Change) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected change %+v", c)
	case <-time.After(quiet):
	}
}

func expect(t *testing.T, ch <-chan Change, kind ChangeKind, key agent.MessageKey) Change {
	t.Helper()
	c := next(t, ch)
	if c.Kind != kind || c.Key != key {
		t.Fatalf("got %s %q, want %s %q", c.Kind, c.Key, kind, key)
	}
	return c
}

func TestNotMaildir(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "new"), 0o700)
	err := New(Options{Root: root}).Run(context.Background(), make(chan Change))
	if !errors.Is(err, ErrNotMaildir) {
		t.Fatalf("err = %v, want ErrNotMaildir", err)
	}
	for _, want := range []string{"cur/", "tmp/", "a Maildir is a directory holding"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestInitialScanNewestFirst(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	os.WriteFile(filepath.Join(root, "new", "1000.M1P1.host"), []byte(message("old")), 0o600)
	os.WriteFile(filepath.Join(root, "cur", "3000.M1P1.host:2,S"), []byte(message("newest")), 0o600)
	os.WriteFile(filepath.Join(root, "cur", "2000.M1P1.host:2,"), []byte(message("middle")), 0o600)
	os.WriteFile(filepath.Join(root, "cur", ".hidden"), []byte("x"), 0o600)
	src, ch := start(t, Options{Root: root})
	for _, want := range []agent.MessageKey{"3000.M1P1.host", "2000.M1P1.host", "1000.M1P1.host"} {
		expect(t, ch, Added, want)
	}
	if done, total := src.Progress(); done != 3 || total != 3 {
		t.Errorf("Progress = %d/%d, want 3/3", done, total)
	}
	expectQuiet(t, ch)
}

func TestDeliveryMoveRemove(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	// A short rescan proves rescans report nothing already known.
	src, ch := start(t, Options{Root: root, Rescan: 50 * time.Millisecond})
	const key = "1700000000.M1P2.host"
	path := deliver(t, root, key, message("hello there"))
	c := expect(t, ch, Added, key)
	if c.Folder != "" || c.Path != path || c.Flags != "" {
		t.Errorf("Added = %+v", c)
	}
	e, err := src.Envelope(key)
	if err != nil || e.Subject != "hello there" {
		t.Fatalf("Envelope = %+v, %v", e, err)
	}

	cur := filepath.Join(root, "cur", key+":2,S")
	if err := os.Rename(path, cur); err != nil {
		t.Fatal(err)
	}
	c = expect(t, ch, Moved, key)
	if c.Path != cur || c.Flags != "S" {
		t.Errorf("Moved = %+v", c)
	}
	flagged := filepath.Join(root, "cur", key+":2,FS")
	if err := os.Rename(cur, flagged); err != nil {
		t.Fatal(err)
	}
	if c = expect(t, ch, Moved, key); c.Flags != "FS" {
		t.Errorf("Moved = %+v", c)
	}
	b, err := src.Body(key)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(b)
	b.Close()
	if !strings.HasSuffix(string(all), "body\r\n") {
		t.Errorf("Body = %q", all)
	}
	expectQuiet(t, ch)

	if err := os.Remove(flagged); err != nil {
		t.Fatal(err)
	}
	if c = expect(t, ch, Removed, key); c.Path != flagged {
		t.Errorf("Removed = %+v", c)
	}
	if _, err := src.Envelope(key); !errors.Is(err, ErrGone) {
		t.Errorf("Envelope after removal: %v, want ErrGone", err)
	}
	// Back again: known, so Moved, never a second Added.
	deliver(t, root, key, message("hello there"))
	expect(t, ch, Moved, key)
	expectQuiet(t, ch)
}

func TestFolders(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root, ".Sent")
	_, ch := start(t, Options{Root: root, Folders: []string{".Sent"}})
	deliver(t, filepath.Join(root, ".Sent"), "1.M1.host", message("sent one"))
	if c := expect(t, ch, Added, "1.M1.host"); c.Folder != ".Sent" {
		t.Errorf("Folder = %q", c.Folder)
	}
	// Moving it to the inbox keeps the key.
	if err := os.Rename(filepath.Join(root, ".Sent", "new", "1.M1.host"), filepath.Join(root, "cur", "1.M1.host:2,S")); err != nil {
		t.Fatal(err)
	}
	if c := expect(t, ch, Moved, "1.M1.host"); c.Folder != "" {
		t.Errorf("Folder = %q", c.Folder)
	}
}

func TestRecreatedFolder(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root, ".Sent")
	sent := filepath.Join(root, ".Sent")
	_, ch := start(t, Options{Root: root, Folders: []string{".Sent"}, Rescan: 100 * time.Millisecond})
	deliver(t, sent, "1.M1.host", message("first"))
	expect(t, ch, Added, "1.M1.host")

	if err := os.RemoveAll(sent); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, Removed, "1.M1.host")
	makeMaildir(t, root, ".Sent")
	// The watch must come back: the message arrives as an event or, at
	// the latest, with the next rescan.
	deliver(t, sent, "2.M1.host", message("second"))
	if c := expect(t, ch, Added, "2.M1.host"); c.Folder != ".Sent" {
		t.Errorf("Folder = %q", c.Folder)
	}
	// And events flow again, not only rescans.
	deliver(t, sent, "3.M1.host", message("third"))
	expect(t, ch, Added, "3.M1.host")
}

func TestEnvelopeGone(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	src, ch := start(t, Options{Root: root, Debounce: time.Hour})
	path := deliver(t, root, "5.M1.host", message("vanishing"))
	expect(t, ch, Added, "5.M1.host")
	if err := os.Rename(path, filepath.Join(t.TempDir(), "elsewhere")); err != nil {
		t.Fatal(err)
	}
	_, err := src.Envelope("5.M1.host")
	if !errors.Is(err, ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	if _, err := src.Envelope("never-seen"); !errors.Is(err, ErrGone) {
		t.Errorf("unknown key: %v, want ErrGone", err)
	}
}

func TestEnvelopeFindsUnseenRename(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	src, ch := start(t, Options{Root: root})
	path := deliver(t, root, "6.M1.host", message("renamed"))
	expect(t, ch, Added, "6.M1.host")
	os.Rename(path, filepath.Join(root, "cur", "6.M1.host:2,S"))
	// Whether or not the event was handled yet, the file is found.
	if e, err := src.Envelope("6.M1.host"); err != nil || e.Subject != "renamed" {
		t.Fatalf("Envelope = %+v, %v", e, err)
	}
}

func TestRunOnce(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	src, ch := start(t, Options{Root: root})
	deliver(t, root, "7.M1.host", message("claim"))
	expect(t, ch, Added, "7.M1.host") // the first Run owns the source now
	if err := src.Run(context.Background(), make(chan Change)); err == nil {
		t.Error("second Run did not fail")
	}
}

func TestManyArrivals(t *testing.T) {
	const n = 10000
	root := t.TempDir()
	makeMaildir(t, root)
	// Half are already there for the initial scan, half arrive at once
	// while it runs and after.
	for i := 0; i < n/2; i++ {
		os.WriteFile(filepath.Join(root, "new", fmt.Sprintf("%d.M%dP1.host", 1000+i, i)), []byte("Subject: x\n\n"), 0o600)
	}
	src, ch := start(t, Options{Root: root})
	go func() {
		for i := n / 2; i < n; i++ {
			name := fmt.Sprintf("%d.M%dP1.host", 1000+i, i)
			os.WriteFile(filepath.Join(root, "tmp", name), []byte("Subject: x\n\n"), 0o600)
			os.Rename(filepath.Join(root, "tmp", name), filepath.Join(root, "new", name))
		}
	}()
	seen := make(map[agent.MessageKey]bool, n)
	deadline := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case c := <-ch:
			if c.Kind != Added || seen[c.Key] {
				t.Fatalf("unexpected %s %q after %d", c.Kind, c.Key, len(seen))
			}
			seen[c.Key] = true
		case <-deadline:
			t.Fatalf("only %d of %d reported", len(seen), n)
		}
	}
	expectQuiet(t, ch)
	if done, total := src.Progress(); done != total || total < n/2 {
		t.Errorf("Progress = %d/%d", done, total)
	}
}

// TestManyDistinctFlags fills the index's table of shared name suffixes
// and goes past it: messages with a suffix of their own are found, moved
// and rescanned like the others.
func TestManyDistinctFlags(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	const n = 300 // more distinct suffixes than the shared table holds
	names := make([]string, n)
	for i := range n {
		// Dovecot keyword flags are lowercase letters; every i gets its
		// own sorted set of them.
		var flags []byte
		for b := 0; b < 9; b++ {
			if i&(1<<b) != 0 {
				flags = append(flags, byte('a'+b))
			}
		}
		names[i] = fmt.Sprintf("1700000%03d.M%dP1.host:2,S%s", i, i, flags)
		if err := os.WriteFile(filepath.Join(root, "cur", names[i]), []byte(message(fmt.Sprint("odd ", i))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src, ch := start(t, Options{Root: root, Rescan: 50 * time.Millisecond})
	for range n {
		if c := next(t, ch); c.Kind != Added {
			t.Fatalf("got %+v, want Added", c)
		}
	}
	expectQuiet(t, ch) // rescans found every file where the index has it
	last := agent.MessageKey(fmt.Sprintf("1700000%03d.M%dP1.host", n-1, n-1))
	if e, err := src.Envelope(last); err != nil || e.Subject != fmt.Sprint("odd ", n-1) {
		t.Fatalf("Envelope of the last message = %+v, %v", e, err)
	}
	moved := filepath.Join(root, "cur", string(last)+":2,T")
	if err := os.Rename(filepath.Join(root, "cur", names[n-1]), moved); err != nil {
		t.Fatal(err)
	}
	if c := expect(t, ch, Moved, last); c.Path != moved || c.Flags != "T" {
		t.Errorf("Moved = %+v", c)
	}
	expectQuiet(t, ch)
}

// TestPipeNeverBlocks: a named pipe where a message should be, as with a
// hung network file system, must not stall the intake. A pipe present at
// the listing or arriving later is not a message; one put in place of a
// message already reported is refused at once: ErrNotFile, or ErrGone once
// a re-listing has dropped it.
func TestPipeNeverBlocks(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	if err := syscall.Mkfifo(filepath.Join(root, "new", "1700000001.M1P1.pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	deliver(t, root, "1700000002.M2P1.host", message("after the pipe"))
	src, ch := start(t, Options{Root: root, Rescan: 50 * time.Millisecond})
	expect(t, ch, Added, "1700000002.M2P1.host")
	if err := syscall.Mkfifo(filepath.Join(root, "new", "1700000003.M3P1.pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, ch)

	// Swap a pipe in for the message that was reported.
	path := filepath.Join(root, "new", "1700000002.M2P1.host")
	tmp := filepath.Join(root, "tmp", "swap")
	if err := syscall.Mkfifo(tmp, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := src.Envelope("1700000002.M2P1.host"); done <- err }()
	select {
	case err := <-done:
		// The rename is also a directory event: when the re-listing it
		// starts has seen the pipe first, the key is already out of the
		// index and the refusal is ErrGone. Either way it is at once.
		if !errors.Is(err, ErrNotFile) && !errors.Is(err, ErrGone) {
			t.Errorf("Envelope of a pipe: %v, want ErrNotFile (or ErrGone once a re-listing dropped it)", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Envelope blocked on a pipe")
	}
}

// TestMaildirMovedAway: the whole Maildir is renamed away and back, as when
// a user moves it or its disk is unmounted. The Source says once that it is
// gone and once that it is back, and what arrived meanwhile is reported.
func TestMaildirMovedAway(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "Maildir")
	makeMaildir(t, root)
	deliver(t, root, "1700000001.M1P1.host", message("before"))
	_, ch := start(t, Options{Root: root, Rescan: time.Hour})
	expect(t, ch, Added, "1700000001.M1P1.host")

	away := filepath.Join(parent, "Maildir.moved")
	if err := os.Rename(root, away); err != nil {
		t.Fatal(err)
	}
	saw := map[ChangeKind]int{}
	for saw[Unavailable] == 0 {
		saw[next(t, ch).Kind]++
	}
	if saw[Removed] != 1 {
		t.Errorf("moved away: got %v, want one Removed and one Unavailable", saw)
	}
	deliver(t, away, "1700000002.M2P1.host", message("while away"))
	if err := os.Rename(away, root); err != nil {
		t.Fatal(err)
	}
	got := map[agent.MessageKey]ChangeKind{}
	back := false
	for !back || len(got) < 2 {
		c := next(t, ch)
		if c.Kind == Available {
			back = true
			continue
		}
		got[c.Key] = c.Kind
	}
	if got["1700000001.M1P1.host"] != Moved || got["1700000002.M2P1.host"] != Added {
		t.Errorf("back: got %v, want the first Moved and the second Added", got)
	}
	expectQuiet(t, ch)
}

// TestEnvelopeSettling: a file written straight into new/ may be read
// before it is complete. Unparsable and just changed, it is reported as
// settling; unparsable and older than SettleTime, as not a message.
func TestEnvelopeSettling(t *testing.T) {
	root := t.TempDir()
	makeMaildir(t, root)
	path := filepath.Join(root, "new", "1700000001.M1P1.host")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // created, not yet written
		t.Fatal(err)
	}
	src, ch := start(t, Options{Root: root})
	expect(t, ch, Added, "1700000001.M1P1.host")
	if _, err := src.Envelope("1700000001.M1P1.host"); !errors.Is(err, ErrSettling) {
		t.Fatalf("a fresh empty file: %v, want ErrSettling", err)
	}
	old := time.Now().Add(-2 * SettleTime)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Envelope("1700000001.M1P1.host"); err == nil || errors.Is(err, ErrSettling) || !errors.Is(err, ErrNotMessage) {
		t.Fatalf("an old empty file: %v, want ErrNotMessage and not ErrSettling", err)
	}
	if err := os.WriteFile(path, []byte(message("finished")), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := src.Envelope("1700000001.M1P1.host"); err != nil || e.Subject != "finished" {
		t.Fatalf("the finished file: %+v, %v", e, err)
	}
}
