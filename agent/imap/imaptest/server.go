// Package imaptest runs a private Dovecot IMAP server for tests and
// benchmarks: a real server on loopback ports, with its configuration,
// users, mail and TLS certificate in a directory of its own.
package imaptest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/internal/testserver"
)

// Binary is where Debian's dovecot-imapd installs the server.
const Binary = "/usr/sbin/dovecot"

// ErrNotInstalled reports a machine without Dovecot.
var ErrNotInstalled = errors.New("dovecot is not installed; `make test` installs dovecot-imapd")

// startTimeout bounds how long a starting server may take to greet.
const startTimeout = 15 * time.Second

// Server is one private Dovecot. Its methods are safe for concurrent use.
type Server struct {
	dir     string // holds the configuration, the mail and the log
	conf    string // dovecot.conf
	port    int    // plaintext (and STARTTLS) port on 127.0.0.1
	tlsPort int    // implicit-TLS port; 0 with NoTLS
	cfg     config

	mu   sync.Mutex
	cmd  *exec.Cmd     // the running master; nil while stopped
	done chan struct{} // closed when cmd has been waited for
}

// Launch starts a Dovecot whose files live in dir (which must exist and
// be empty) on free loopback ports. The caller stops it with Stop. It is
// the form for programs; tests use Start.
func Launch(dir string, opts ...Option) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrNotInstalled
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	own, err := currentOwner()
	if err != nil {
		return nil, err
	}
	if err := traversable(dir); err != nil {
		return nil, err
	}
	s := &Server{dir: dir, cfg: c}
	if s.port, err = testserver.FreePort(); err != nil {
		return nil, err
	}
	if !c.noTLS {
		if s.tlsPort, err = testserver.FreePort(); err != nil {
			return nil, err
		}
	}
	if s.conf, err = writeConfig(dir, c, own, s.port, s.tlsPort); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts a Dovecot for the test in a temporary directory and stops
// it when the test ends, logging Dovecot's log if the test failed. A
// machine without Dovecot fails the test: the IMAP tests are not optional.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	s, err := Launch(dir, opts...)
	if err != nil {
		if log := readLog(dir); log != "" {
			t.Logf("dovecot log:\n%s", log)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping dovecot: %v", err)
		}
		if t.Failed() {
			t.Logf("dovecot log:\n%s", s.Log())
		}
	})
	return s
}

// Addr is the plaintext (and STARTTLS) address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// TLSAddr is the implicit-TLS address; "" for a NoTLS server.
func (s *Server) TLSAddr() string {
	if s.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tlsPort))
}

// CAFile is the PEM file of the server's self-signed certificate, which a
// client trusts as its certificate authority; "" for a NoTLS server.
func (s *Server) CAFile() string {
	if s.cfg.noTLS {
		return ""
	}
	return filepath.Join(s.dir, "cert.pem")
}

// Dir is the server's directory.
func (s *Server) Dir() string { return s.dir }

// Password returns the password of one of the server's users.
func (s *Server) Password(user string) string {
	switch user {
	case UserAlice:
		return PasswordAlice
	case UserBob:
		return PasswordBob
	}
	return ""
}

// Account returns user's account on the server with the given security:
// the TLS port for SecurityTLS, the plaintext port otherwise, and the
// server's certificate as CAFile.
func (s *Server) Account(user string, sec agent.Security) agent.IMAPAccount {
	port := s.port
	if sec == agent.SecurityTLS {
		port = s.tlsPort
	}
	return agent.IMAPAccount{Host: "127.0.0.1", Port: port, Security: sec, Username: user, CAFile: s.CAFile()}
}

// Log returns Dovecot's log so far.
func (s *Server) Log() string { return readLog(s.dir) }

func readLog(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
	return string(b)
}

// Restart stops the server and starts it again on the same ports, with
// the same mail.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := s.Resume(); err != nil {
		t.Fatalf("restart: %v", err)
	}
}

// Resume starts a stopped server again on the same ports.
func (s *Server) Resume() error { return s.start() }

// start runs the master in the foreground, so that it is this process's
// child and can be waited for, and returns once it greets on its port.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("imaptest: dovecot is already running")
	}
	cmd := exec.Command(Binary, "-F", "-c", s.conf)
	// A process group of its own, so that Stop can end the mail processes
	// the master leaves serving their clients for a while.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.OpenFile(filepath.Join(s.dir, "master.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("imaptest: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("imaptest: start dovecot: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := greets(s.Addr())
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			b, _ := os.ReadFile(filepath.Join(s.dir, "master.out"))
			return fmt.Errorf("imaptest: dovecot exited at start: %s\n%s", cmd.ProcessState, strings.TrimSpace(string(b)+"\n"+s.tailLog()))
		default:
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("imaptest: dovecot did not greet on %s within %s: %v\n%s", s.Addr(), startTimeout, err, s.tailLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) tailLog() string {
	log := readLog(s.dir)
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	return log
}

// greets reports whether an IMAP server answers on addr with a greeting.
func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// Stop stops the server and waits until its master process is gone, so
// that the same directory can be started again. Stopping a stopped
// server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("imaptest: stop dovecot: %w", err)
	}
	// Every process of the server got the signal and ends its work; the
	// master would then wait seconds for its children to be gone, which
	// a test does not need to sit through once the connections dropped.
	select {
	case <-done:
	case <-time.After(300 * time.Millisecond):
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	deadline := time.Now().Add(5 * time.Second)
	// Only the listening socket matters for a restart: the killed
	// processes may stay zombies a while, waiting for whoever adopts
	// orphans to reap them.
	for portBusy(s.port) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// portBusy reports whether something still listens on the loopback port.
func portBusy(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
