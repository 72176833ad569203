// Package smtptest runs a private Postfix for tests and benchmarks: a
// real SMTP server on a loopback port that accepts mail for every
// address and delivers all of it to one Maildir, the sink, where a test
// reads what was delivered. Its configuration, queue, sink and log live
// in a directory of its own, so several can run at once.
package smtptest

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
	"crmsync/agent/imap/imaptest"
	"crmsync/agent/internal/testserver"
	"crmsync/agent/smtp"
)

// Binary is where Debian's postfix installs its control command.
const Binary = "/usr/sbin/postfix"

// RequireEnv, when set to anything, makes a machine without Postfix fail
// the tests instead of skipping them: CI sets it, so that a missing
// install step cannot pass unnoticed.
const RequireEnv = "CRMSYNC_REQUIRE_SMTP"

// ErrNotInstalled reports a machine without Postfix.
var ErrNotInstalled = errors.New("postfix is not installed; `make test` installs the Debian package postfix")

// ErrNotRoot reports a process that cannot run Postfix: its master
// daemon must start as root, to bind and drop privileges per daemon.
var ErrNotRoot = errors.New("postfix can only be started as root")

// startTimeout bounds how long a starting server may take to greet.
const startTimeout = 30 * time.Second

// Server is one private Postfix. Its methods are safe for concurrent use.
type Server struct {
	Addr   string // 127.0.0.1:PORT
	Sink   string // the Maildir every accepted message is delivered to: Sink/new/
	CAFile string // the self-signed certificate to trust; "" without STARTTLS

	l    layout
	cfg  config
	port int
	dove *imaptest.Server // the SASL checker, with WithAuth

	mu   sync.Mutex
	cmd  *exec.Cmd     // postfix start-fg; nil while stopped
	done chan struct{} // closed when cmd has been waited for
}

// Start starts a Postfix for the test in a temporary directory and stops
// it when the test ends, putting its log in the test's log. Without
// Postfix, or when not root, it skips the test, or fails it when
// RequireEnv is set.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if err := usable(); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("smtptest: %v (%s is set, so the SMTP tests may not be skipped)", err, RequireEnv)
		}
		t.Skipf("smtptest: %v", err)
	}
	dir := t.TempDir()
	s, err := Launch(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping postfix: %v", err)
		}
		if log := s.Log(); log != "" {
			t.Logf("postfix log:\n%s", log)
		}
	})
	return s
}

// usable says why Postfix cannot run here, or nil.
func usable() error {
	if _, err := os.Stat(Binary); err != nil {
		return ErrNotInstalled
	}
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// Launch starts a Postfix whose files live in dir (which must exist) on
// a free loopback port, for a program that is not a test (the
// benchmarks). The caller stops it with Stop.
func Launch(dir string, opts ...Option) (*Server, error) {
	if err := usable(); err != nil {
		return nil, err
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	if err := traversable(dir); err != nil {
		return nil, err
	}
	l := newLayout(dir)
	port, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	if err := writeConfig(l, c, port); err != nil {
		return nil, err
	}
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Sink: filepath.Join(l.mail, "sink"),
		l:    l, cfg: c, port: port,
	}
	if c.starttls {
		s.CAFile = filepath.Join(l.tls, "cert.pem")
	}
	if c.auth {
		dd := filepath.Join(dir, "dovecot")
		if err := os.Mkdir(dd, 0o755); err != nil {
			return nil, fmt.Errorf("smtptest: %w", err)
		}
		if s.dove, err = imaptest.Launch(dd, imaptest.NoTLS(), imaptest.AuthSocket(l.socket)); err != nil {
			return nil, fmt.Errorf("smtptest: the Dovecot that checks passwords: %w", err)
		}
	}
	if err := s.start(); err != nil {
		if s.dove != nil {
			s.dove.Stop()
		}
		return nil, err
	}
	return s, nil
}

// Account returns the account that sends through the server: loopback,
// STARTTLS with the server's certificate when it offers it (plaintext
// otherwise), and signing in as user only on a WithAuth server; user is
// ignored on the others, which take mail from anyone on this computer.
func (s *Server) Account(user string) smtp.Account {
	a := smtp.Account{Host: "127.0.0.1", Port: s.port, Security: agent.SecurityNone, CAFile: s.CAFile}
	if s.cfg.starttls {
		a.Security = agent.SecuritySTARTTLS
	}
	if s.cfg.auth {
		a.Username = user
	}
	return a
}

// Log returns what Postfix has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.l.log)
	return string(b)
}

// tailLog is the end of the log, for an error message.
func (s *Server) tailLog() string {
	log := s.Log()
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	return strings.TrimSpace(log)
}

// start runs postfix start-fg, which stays in the foreground and logs
// start-up errors to its output ("postfix start" would log them only to
// syslog), and returns once the server greets on its port.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("smtptest: postfix is already running")
	}
	out, err := os.OpenFile(s.l.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(Binary, "-c", s.l.conf, "start-fg")
	// A file, not a pipe: the daemons inherit the output and outlive
	// this command's wait, which would block on a pipe they still hold.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("smtptest: start postfix: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		err := greets(s.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("smtptest: postfix exited at start: %s\n%s", cmd.ProcessState, s.tailLog())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("smtptest: postfix did not greet on %s within %s: %v\n%s", s.Addr, startTimeout, err, s.tailLog())
		}
	}
}

// greets reports whether an SMTP server answers on addr with a 220.
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
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
	}
	c.Write([]byte("QUIT\r\n"))
	return nil
}

// Stop stops the server (and its Dovecot) and waits until Postfix's
// master is gone. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	err := s.stopLocked()
	s.mu.Unlock()
	if s.dove != nil {
		if derr := s.dove.Stop(); err == nil {
			err = derr
		}
	}
	return err
}

// stopLocked signals the master, which is a session leader of its own
// (without -i it always is), so the start-fg command's process group
// does not reach it: the master's pid file does.
func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	pid := s.masterPID()
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(300 * time.Millisecond):
		// The master lingers a second after telling its daemons to go,
		// which a test does not need to sit through: its process group
		// holds every daemon it started.
		if pid > 0 {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		<-done
	}
	if pid > 0 {
		// The daemons end with the master; wait for the listener to go so
		// that the port and the queue are free.
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// masterPID reads the running master's pid from its pid file; 0 when
// there is none.
func (s *Server) masterPID() int {
	b, err := os.ReadFile(filepath.Join(s.l.queue, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	return pid
}
