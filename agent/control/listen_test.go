//go:build unix

package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestSingleInstance(t *testing.T) {
	ts := startServer(t, &recBackend{}, nil, nil)

	_, err := Listen(ts.path)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Fatalf("second Listen = %v; want *InUseError with pid %d", err, os.Getpid())
	}
	want := fmt.Sprintf("another crmsync agent (process %d) is already using this data directory; stop it or use another --data directory", os.Getpid())
	if err.Error() != want {
		t.Errorf("message = %q; want %q", err, want)
	}
	// The refused start must not have disturbed the running agent.
	if _, err := dial(t, ts.path).Hello(ctxT(t)); err != nil {
		t.Fatalf("first agent after a refused start: %v", err)
	}

	// A clean stop releases the directory.
	ts.stop()
	if _, err := os.Lstat(ts.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v; want it removed", err)
	}
	ln, err := Listen(ts.path)
	if err != nil {
		t.Fatalf("Listen after a clean stop: %v", err)
	}

	// A crash leaves the file behind with nobody listening; the next start
	// takes over.
	ln.ln.Close()
	if _, err := os.Lstat(ts.path); err != nil {
		t.Fatalf("simulated crash should leave the socket file: %v", err)
	}
	ln2, err := Listen(ts.path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	// The crashed listener's Close must not remove its successor's socket.
	ln.Close()
	if _, err := os.Lstat(ts.path); err != nil {
		t.Errorf("old listener's Close removed the new socket: %v", err)
	}
	ln2.Close()
}

// TestListenConcurrent starts several agents at once over a stale socket:
// exactly one may win. The winner never serves, which also covers the
// window after Run returns and before the Listener closes: the socket is
// bound but nobody answers, and the directory must still count as taken.
func TestListenConcurrent(t *testing.T) {
	path := sockPath(t)
	stale, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	stale.ln.Close() // crash

	const n = 6
	var wg sync.WaitGroup
	results := make(chan error, n)
	lns := make(chan *Listener, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln, err := Listen(path)
			if err == nil {
				lns <- ln
			}
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	close(lns)
	won := 0
	for err := range results {
		var inUse *InUseError
		switch {
		case err == nil:
			won++
		case errors.As(err, &inUse):
			// The winner does not serve, so the PID comes from the kernel.
			if inUse.PID != os.Getpid() {
				t.Errorf("InUseError pid %d; want %d", inUse.PID, os.Getpid())
			}
		default:
			t.Errorf("Listen: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent starts won the socket; want exactly 1", won)
	}
	for ln := range lns {
		ln.Close()
	}
}

func TestListenNotASocket(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file = %v; want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Error("Listen must not delete a file it did not create")
	}
}

func TestSocketModes(t *testing.T) {
	// With a permissive umask the modes must still be exact, since they are
	// set explicitly rather than left to the umask.
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := filepath.Dir(sockPath(t))
	path := filepath.Join(dir, "data", "sub", "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v; want a socket with 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode = %v; want 0700", di.Mode().Perm())
	}
}

func TestUnsafeDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o770, 0o730, 0o707, 0o777} {
		dir := filepath.Dir(sockPath(t))
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Listen(filepath.Join(dir, "control.sock"))
		if err == nil || !strings.Contains(err.Error(), "writable by other users") {
			t.Errorf("Listen in a %04o directory = %v; want a refusal", mode, err)
		}
	}
	// Readable by others is fine: the socket's own mode and the peer check
	// keep them out.
	dir := filepath.Dir(sockPath(t))
	os.Chmod(dir, 0o755)
	ln, err := Listen(filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Errorf("Listen in a 0755 directory: %v", err)
	} else {
		ln.Close()
	}

	// Another owner: checked on the policy directly, and for real when the
	// test can give a directory away.
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDir(dir, fi, os.Geteuid()+1); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("checkDir for another owner = %v; want a refusal", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := Listen(filepath.Join(dir, "control.sock")); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
			t.Errorf("Listen in a directory owned by nobody = %v; want a refusal", err)
		}
	}
}

func TestCheckPeer(t *testing.T) {
	if err := checkPeer(1000, 1000); err != nil {
		t.Errorf("same uid refused: %v", err)
	}
	for _, uid := range []int{0, 65534, 1001} {
		if err := checkPeer(uid, 1000); err == nil {
			t.Errorf("uid %d accepted by an agent of uid 1000", uid)
		}
	}
}

// syncBuffer is a log sink the server may write from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// helperEnv tells the test binary it runs as the other-user client.
const helperEnv = "CRMSYNC_CONTROL_PEER_HELPER"

// TestPeerHelper is not a test: it is the client that TestOtherUserRefused
// runs as another user. It reports what it saw on standard output.
func TestPeerHelper(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("only run by TestOtherUserRefused")
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		fmt.Printf("DIAL %v\n", err)
		return
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte(`{"v":1,"cmd":"status"}` + "\n"))
	line, _ := io.ReadAll(c)
	c.Close()
	fmt.Printf("ANSWER %s", line)
	_, err = Dial(ctxT(t), path)
	fmt.Printf("CLIENT %v\n", err)
}

// TestOtherUserRefused shows each of the three layers that keep another
// user away from an agent, by connecting as uid 65534 (needs root):
//  1. the 0700 directory: the other user cannot even reach the socket;
//  2. the 0600 socket: with the directory opened up, connect is still denied;
//  3. the peer-credential check: with both opened up, the connection is
//     made but the agent answers "forbidden" and serves nothing, and the
//     client side refuses an agent that runs as someone else.
func TestOtherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user; TestCheckPeer covers the rule")
	}
	// The test binary must be executable by the other user.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Dir(sockPath(t))
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "control.test")
	src, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}

	log := &syncBuffer{}
	be := &recBackend{}
	ts := startServer(t, be, slog.New(slog.NewTextHandler(log, nil)), nil)
	asNobody := func() string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestPeerHelper$", "-test.v=false")
		cmd.Env = []string{helperEnv + "=" + ts.path}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as uid 65534: %v\n%s", err, out)
		}
		return string(out)
	}

	dir := filepath.Dir(ts.path)
	if out := asNobody(); !strings.Contains(out, "DIAL") || !strings.Contains(out, "permission denied") {
		t.Errorf("layer 1, 0700 directory: other user got %q; want permission denied", out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out := asNobody(); !strings.Contains(out, "DIAL") || !strings.Contains(out, "permission denied") {
		t.Errorf("layer 2, 0600 socket: other user got %q; want permission denied", out)
	}
	if err := os.Chmod(ts.path, 0o666); err != nil {
		t.Fatal(err)
	}
	out := asNobody()
	if !strings.Contains(out, `"code":"forbidden"`) || strings.Contains(out, `"ok":true`) {
		t.Errorf("layer 3, peer check: other user got %q; want only a forbidden answer", out)
	}
	if !strings.Contains(out, "CLIENT control: the agent on") {
		t.Errorf("the client side must refuse an agent of another user; got %q", out)
	}
	if !strings.Contains(log.String(), "refused a connection from another user") || !strings.Contains(log.String(), "uid=65534") {
		t.Errorf("refusal not logged at warn with the uid:\n%s", log)
	}
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("the backend was called for another user: %+v", calls)
	}
	// The agent's own user is still served.
	if _, err := dial(t, ts.path).Status(ctxT(t)); err != nil {
		t.Errorf("own user after refusals: %v", err)
	}
}
