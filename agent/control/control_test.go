//go:build unix

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
)

// sockPath returns a socket path in a fresh 0700 directory. t.TempDir can
// exceed the 108-byte limit of a socket address, so the directory is made
// directly under the system's temporary directory.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "control.sock")
}

// testServer is a running Server and the means to stop it.
type testServer struct {
	path string
	ln   *Listener
	stop func() // stops Run and closes the listener; idempotent
}

// startServer listens on a fresh socket and runs a Server with be; tune may
// adjust the server's limits before it runs.
func startServer(t *testing.T, be Backend, log *slog.Logger, tune func(*Server)) *testServer {
	t.Helper()
	path := sockPath(t)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln, be, log)
	if tune != nil {
		tune(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after cancel")
			}
			ln.Close()
		})
	}
	t.Cleanup(stop)
	return &testServer{path: path, ln: ln, stop: stop}
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn is a client that speaks the protocol by hand.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, r: bufio.NewReader(c)}
}

// send writes line plus a newline and returns the decoded answer.
func (c *rawConn) send(line string) response {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
	return c.read()
}

func (c *rawConn) read() response {
	c.t.Helper()
	raw, err := c.r.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	var resp response
	if err := json.Unmarshal(raw, &resp); err != nil {
		c.t.Fatalf("answer %q is not JSON: %v", raw, err)
	}
	return resp
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	when := time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)
	be := &recBackend{
		status: agent.Status{
			State: agent.StateBackoff, Since: when, LastSuccess: when.Add(-time.Hour), NextRetry: when.Add(2 * time.Minute),
			User: "Alice Example", Pending: 3, ScanDone: 10, ScanTotal: 40,
			Warnings: []agent.Warning{{Code: "crm.unreachable", Title: "CRM unreachable", Text: "retrying", Severity: agent.SeverityWarning}},
		},
		items: []agent.Item{
			{Key: "1710408360.M1P2.host", From: "Bob <bob@demo.local>", Subject: "Quote", Received: when, Track: agent.Tracked,
				ActivityID: guid2, Regarding: &agent.RecordRef{Entity: "account", ID: guid1, Name: "Contoso"}, OwnedByMe: true},
			{Key: "1710408361.M2P2.host", Track: agent.Pending, Reason: "sender is a CRM contact"},
		},
		refs:    []agent.RecordRef{{Entity: "contact", ID: guid1, Name: "Bob Example"}},
		untrack: agent.UntrackResult{DeletedInCRM: false, Reason: "the CRM copy belongs to Carol"},
	}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	ctx := ctxT(t)

	h, err := c.Hello(ctx)
	if err != nil || h.PID != os.Getpid() || h.Version != ProtocolVersion {
		t.Errorf("Hello = %+v, %v; want pid %d version %d", h, err, os.Getpid(), ProtocolVersion)
	}
	st, err := c.Status(ctx)
	if err != nil || !reflect.DeepEqual(st, be.status) {
		t.Errorf("Status = %+v, %v;\nwant %+v", st, err, be.status)
	}
	items, err := c.Items(ctx, 7)
	if err != nil || !reflect.DeepEqual(items, be.items) {
		t.Errorf("Items = %+v, %v;\nwant %+v", items, err, be.items)
	}
	if _, err := c.Items(ctx, 0); err != nil {
		t.Errorf("Items(0): %v", err)
	}
	if _, err := c.Items(ctx, 5000); err != nil {
		t.Errorf("Items(5000): %v", err)
	}
	if err := c.Track(ctx, "k1", nil); err != nil {
		t.Errorf("Track: %v", err)
	}
	// An upper-case GUID is accepted and reaches the engine in canonical form.
	if err := c.Track(ctx, "k2", &agent.RecordRef{Entity: "opportunity", ID: strings.ToUpper(guid1)}); err != nil {
		t.Errorf("Track regarding: %v", err)
	}
	res, err := c.Untrack(ctx, "k3")
	if err != nil || res != be.untrack {
		t.Errorf("Untrack = %+v, %v; want %+v", res, err, be.untrack)
	}
	if err := c.SetRegarding(ctx, "k4", agent.RecordRef{Entity: "incident", ID: guid2}); err != nil {
		t.Errorf("SetRegarding: %v", err)
	}
	refs, err := c.Search(ctx, "  Bob ", 3)
	if err != nil || !reflect.DeepEqual(refs, be.refs) {
		t.Errorf("Search = %+v, %v; want %+v", refs, err, be.refs)
	}
	if err := c.SignOut(ctx); err != nil {
		t.Errorf("SignOut: %v", err)
	}

	want := []call{
		{Method: "Status"},
		{Method: "RecentItems", Limit: 7},
		{Method: "RecentItems", Limit: defaultItems},
		{Method: "RecentItems", Limit: maxItems},
		{Method: "Track", Key: "k1"},
		{Method: "Track", Key: "k2", Ref: &agent.RecordRef{Entity: "opportunity", ID: guid1}},
		{Method: "Untrack", Key: "k3"},
		{Method: "SetRegarding", Key: "k4", Ref: &agent.RecordRef{Entity: "incident", ID: guid2}},
		{Method: "SearchRecords", Query: "Bob", Limit: 3},
		{Method: "SignOut"},
	}
	if got := be.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("backend calls:\n got %+v\nwant %+v", got, want)
	}
}

// tempErr is a transient engine failure, as the house style marks them.
type tempErr struct{}

func (tempErr) Error() string   { return "the CRM is not reachable right now" }
func (tempErr) Temporary() bool { return true }

func TestBackendErrorsReachClient(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     string
		msg      string
		sentinel error
	}{
		{"plain", errors.New("message k1 is already being tracked"), CodeFailed, "message k1 is already being tracked", nil},
		{"not found", fmt.Errorf("no message %q in the Maildir: %w", "k1", fs.ErrNotExist), CodeNotFound, `no message "k1" in the Maildir: file does not exist`, fs.ErrNotExist},
		{"not available", agent.ErrNotAvailable, CodeUnavailable, "not available yet", agent.ErrNotAvailable},
		{"temporary", fmt.Errorf("engine: %w", tempErr{}), CodeUnavailable, "engine: the CRM is not reachable right now", nil},
	}
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be.mu.Lock()
			be.err = tt.err
			be.mu.Unlock()
			err := c.Track(ctxT(t), "k1", nil)
			var re *RemoteError
			if !errors.As(err, &re) || re.Code != tt.code || err.Error() != tt.msg {
				t.Fatalf("Track error = %#v; want code %q message %q", err, tt.code, tt.msg)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
		})
	}
}

func TestTimeoutAndPanicKeepServing(t *testing.T) {
	be := &recBackend{block: make(chan struct{})}
	ts := startServer(t, be, nil, func(s *Server) { s.RequestTimeout = 50 * time.Millisecond })
	c := dial(t, ts.path)
	_, err := c.Untrack(ctxT(t), "slow")
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeTimeout || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("slow Untrack error = %v; want a timeout", err)
	}

	be.mu.Lock()
	be.block, be.panics = nil, true
	be.mu.Unlock()
	err = c.Track(ctxT(t), "boom", nil)
	if !errors.As(err, &re) || re.Code != CodeInternal {
		t.Fatalf("panicking Track error = %v; want internal", err)
	}
	// The same connection, and the agent, still answer.
	if _, err := c.Hello(ctxT(t)); err != nil {
		t.Fatalf("Hello after panic: %v", err)
	}
}

func TestDialNoAgent(t *testing.T) {
	path := sockPath(t)
	if _, err := Dial(ctxT(t), path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial with no socket = %v; want ErrNotRunning", err)
	}
	// A socket left by a crashed agent: the file is there, nobody listens.
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ln.ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket should remain: %v", err)
	}
	_, err = Dial(ctxT(t), path)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "crmsync agent ...") {
		t.Errorf("Dial to a stale socket = %v; want ErrNotRunning", err)
	}
}

func TestClientContextCancel(t *testing.T) {
	be := &recBackend{block: make(chan struct{})}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Items(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Items with expiring context = %v after %v; want DeadlineExceeded at once", err, time.Since(start))
	}
	// The answer may still arrive; the connection is not reused for it.
	if _, err := c.Hello(ctxT(t)); err == nil {
		t.Error("a connection whose call was abandoned must not be reused")
	}
	close(be.block)
}
