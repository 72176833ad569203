package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// probeTimeout bounds the hello sent to a socket that already exists. A
// live agent answers in microseconds; a hung one must not stall a start.
const probeTimeout = time.Second

// lockTimeout bounds the wait for another process that is starting on the
// same data directory at the same moment.
const lockTimeout = 5 * time.Second

// Listener is the bound control socket of one data directory. Holding it
// is what makes this process the directory's only agent.
type Listener struct {
	ln   *net.UnixListener
	path string
	info os.FileInfo // the socket file as bound; Close removes only this file
	once sync.Once
	err  error // of the first Close
}

// Listen binds the control socket at path, creating its directory (0700)
// if needed. It refuses a directory that other users could write to or that
// another user owns. If an agent already answers on path it returns an
// *InUseError naming that process; a socket left behind by a crashed agent
// is removed and replaced.
func Listen(path string) (*Listener, error) {
	dir := filepath.Dir(path)
	if err := secureDir(dir); err != nil {
		return nil, err
	}
	// Checking for a live agent, removing a stale socket and binding must be
	// one step, or two agents starting together could each remove the
	// other's fresh socket. A lock file beside the socket makes it one.
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	unlock = sync.OnceFunc(unlock)
	defer unlock()

	live, err := clearStale(path)
	if err != nil {
		return nil, err
	}
	if live != nil {
		// Ask who it is outside the lock, so that a hung agent delays only
		// this start and not others waiting for the lock.
		unlock()
		defer live.Close()
		return nil, &InUseError{PID: probePID(live)}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	// Close removes the file itself, and only if it is still ours.
	ln.SetUnlinkOnClose(false)
	// Until this chmod the socket's mode comes from the umask; the mode is
	// made exact because the directory may be readable by others, and
	// whoever connects in that instant still meets the peer check.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("control: restrict %s: %w", path, err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: stat %s: %w", path, err)
	}
	return &Listener{ln: ln, path: path, info: info}, nil
}

// Path returns the socket's file name.
func (l *Listener) Path() string { return l.path }

// Close stops listening and removes the socket file, unless another agent
// has taken the path over meanwhile. It is safe to call more than once.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.err = l.ln.Close()
		if err := l.removeIfOurs(); err != nil && l.err == nil {
			l.err = err
		}
	})
	return l.err
}

// removeIfOurs removes the socket file if it is still the one this Listener
// bound. The same inode is not proof enough, as a file system may hand a
// freed inode to the successor's socket, so a socket that still answers is
// left alone. The lock keeps a starting agent from binding in between.
func (l *Listener) removeIfOurs() error {
	fi, err := os.Lstat(l.path)
	if err != nil || !os.SameFile(fi, l.info) {
		return nil
	}
	unlock, err := lockFile(l.path + ".lock")
	if err != nil {
		// A stale file is harmless: the next start replaces it.
		return nil
	}
	defer unlock()
	if c, err := net.DialTimeout("unix", l.path, probeTimeout); err == nil {
		c.Close()
		return nil
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: remove %s: %w", l.path, err)
	}
	return nil
}

// secureDir creates dir with mode 0700 if it is missing and refuses one that
// could let another user replace or reach the socket.
func secureDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("control: create %s: %w", dir, err)
		}
		// MkdirAll's mode passes through the umask; make it exact.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("control: restrict %s: %w", dir, err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return checkDir(dir, fi, os.Geteuid())
}

// checkDir is secureDir's policy, apart from the file system so it can be
// tested for owners the test cannot create.
func checkDir(dir string, fi os.FileInfo, euid int) error {
	if !fi.IsDir() {
		return fmt.Errorf("control: %s is not a directory", dir)
	}
	if uid, ok := ownerUID(fi); ok && uid != euid {
		return fmt.Errorf("control: %s belongs to another user (uid %d); use a data directory of your own", dir, uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("control: %s is writable by other users (mode %04o); run chmod 700 on it or use another --data directory", dir, fi.Mode().Perm())
	}
	return nil
}

// lockFile takes an exclusive flock on name, creating it if needed, and
// returns its release.
func lockFile(name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("control: open lock: %w", err)
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		held, err := tryLock(f)
		if err == nil && held {
			break
		}
		if err != nil || time.Now().After(deadline) {
			if err == nil {
				err = errors.New("held by another process starting on this data directory")
			}
			f.Close()
			return nil, fmt.Errorf("control: lock %s: %w", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Closing the file releases the lock; the file stays, since removing a
	// lock file races with the next process opening it.
	return func() { f.Close() }, nil
}

// clearStale makes path free for bind: nothing there, or a socket nobody
// answers on any more, which it removes. If an agent listens there, it
// returns the connection made to it.
func clearStale(path string) (*net.UnixConn, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		// Never delete what we did not create.
		return nil, fmt.Errorf("control: %s exists and is not a socket; remove it if no crmsync agent is running", path)
	}
	conn, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		return conn.(*net.UnixConn), nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
		return nil, nil
	}
	// Something else, such as a full backlog: someone may be there, so the
	// socket is left alone.
	return nil, fmt.Errorf("control: check %s: %w", path, err)
}

// probePID learns which process serves an existing socket: from its hello,
// or, if it does not answer one, from the kernel's record of the peer.
func probePID(conn *net.UnixConn) int {
	conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := conn.Write([]byte(`{"v":1,"cmd":"hello"}` + "\n")); err == nil {
		line, err := bufio.NewReaderSize(conn, 512).ReadSlice('\n')
		var resp response
		var h Hello
		if err == nil && json.Unmarshal(line, &resp) == nil && resp.OK && json.Unmarshal(resp.Result, &h) == nil && h.PID > 0 {
			return h.PID
		}
	}
	if cred, err := peerCred(conn); err == nil {
		return cred.pid
	}
	return 0
}

// peer is what the kernel says about the other end of a Unix socket.
type peer struct{ uid, pid int }

// checkPeer is the rule that keeps other users out: only the agent's own
// effective uid may use its control socket.
func checkPeer(uid, euid int) error {
	if uid != euid {
		return fmt.Errorf("control: peer uid %d is not the agent's uid %d", uid, euid)
	}
	return nil
}
