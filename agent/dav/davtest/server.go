// Package davtest runs a private Radicale CardDAV and CalDAV server for
// tests: the real server on a loopback port, with its configuration,
// users (alice and bob, bcrypt in an htpasswd file), storage and
// optional TLS certificate in the test's temporary directory.
package davtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"crmsync/agent/dav"
	"crmsync/agent/internal/testserver"
)

// RequireEnv, when set to anything, makes a machine without Radicale
// fail the tests instead of skipping them: CI sets it, so that a missing
// install step cannot pass unnoticed.
const RequireEnv = "CRMSYNC_REQUIRE_DAV"

// startTimeout bounds how long a starting server may take to answer.
const startTimeout = 20 * time.Second

// Server is one private Radicale. Its methods are safe for concurrent
// use.
type Server struct {
	URL    string // http://127.0.0.1:PORT, or https:// with TLS; no trailing slash
	Dir    string // storage root: items are under Dir/collection-root/USER/COLLECTION/
	CAFile string // the self-signed certificate to trust; "" without TLS

	conf string
	port int
	logf func(format string, args ...any) // where Radicale's log goes: the test's log, or nowhere

	mu   sync.Mutex
	cmd  *exec.Cmd     // the running server; nil while stopped
	done chan struct{} // closed when cmd has been waited for
	log  *logSink
}

// Start starts a Radicale for the test and stops it when the test ends.
// Without radicale or htpasswd installed it skips the test, or fails it
// when RequireEnv is set.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	for _, need := range [][2]string{{"radicale", "radicale"}, {"htpasswd", "apache2-utils"}} {
		if _, err := exec.LookPath(need[0]); err != nil {
			msg := fmt.Sprintf("davtest: %s is not installed; `make test` installs the Debian package %s", need[0], need[1])
			if os.Getenv(RequireEnv) != "" {
				t.Fatalf("%s (%s is set, so the DAV tests may not be skipped)", msg, RequireEnv)
			}
			t.Skip(msg)
		}
	}
	s, err := launch(t.TempDir(), t.Logf, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping radicale: %v", err)
		}
	})
	return s
}

// Launch starts a Radicale whose configuration and storage live in dir,
// for a program that is not a test (the benchmarks). Its log is dropped;
// the caller stops it with Stop.
func Launch(dir string, opts ...Option) (*Server, error) {
	for _, need := range []string{"radicale", "htpasswd"} {
		if _, err := exec.LookPath(need); err != nil {
			return nil, fmt.Errorf("davtest: %s is not installed; `make test-deps` installs it", need)
		}
	}
	return launch(dir, func(string, ...any) {}, opts)
}

func launch(dir string, logf func(string, ...any), opts []Option) (*Server, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	port, err := testserver.FreePort()
	if err != nil {
		return nil, err
	}
	conf, err := writeConfig(dir, c, port)
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: filepath.Join(dir, "storage"), conf: conf, port: port, logf: logf}
	if c.tls {
		s.URL = "https://127.0.0.1:" + strconv.Itoa(port)
		s.CAFile = filepath.Join(dir, "cert.pem")
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Account returns user's account on the server: its principal URL
// (URL/USER/) and the CA file.
func (s *Server) Account(user string) dav.Account {
	return dav.Account{URL: s.URL + "/" + user + "/", Username: user, CAFile: s.CAFile}
}

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

// ItemFiles returns the items of one collection as Radicale stores them,
// file name to contents, without Radicale's own .Radicale.* files. It
// reads the storage directly, so it shows what the server really kept.
// A collection that does not exist has no files.
func (s *Server) ItemFiles(user, collection string) map[string][]byte {
	dir := filepath.Join(s.Dir, "collection-root", user, strings.Trim(collection, "/"))
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return files
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".Radicale") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			files[e.Name()] = b
		}
	}
	return files
}

// Restart stops the server and starts it again on the same port, with
// the same storage.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := s.start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
}

// start runs Radicale, its output going to the test's log, and returns
// once it answers HTTP.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("davtest: radicale is already running")
	}
	sink := &logSink{logf: s.logf}
	cmd := exec.Command("radicale", "--config", s.conf)
	cmd.Stdout, cmd.Stderr = sink, sink
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("davtest: start radicale: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done, s.log = cmd, done, sink
	client, err := s.probeClient()
	if err != nil {
		s.stopLocked()
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := answers(client, s.URL)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("davtest: radicale exited at start: %s\n%s", cmd.ProcessState, sink.tail())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("davtest: radicale did not answer on %s within %s: %v\n%s", s.URL, startTimeout, err, sink.tail())
		}
	}
}

// probeClient is an HTTP client that trusts the server's certificate.
func (s *Server) probeClient() (*http.Client, error) {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("davtest: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}, nil
}

// answers reports whether an HTTP server answers at url, with any status.
func answers(c *http.Client, url string) error {
	resp, err := c.Get(url + "/.web/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Stop ends the server and waits until its process is gone. Start's
// servers stop by themselves when the test ends.
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("davtest: stop radicale: %w", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Radicale finishes the requests in progress on SIGTERM; one
		// stuck that long is not worth waiting for.
		cmd.Process.Kill()
		<-done
	}
	return nil
}

// WriteItemFiles puts items straight into Radicale's storage, file name
// to contents, as if another client had written them long ago. It is
// much faster than PUT for many items: Radicale checks every PUT's UID
// against the whole collection, so n PUTs take time in n².
func (s *Server) WriteItemFiles(t testing.TB, user, collection string, files map[string][]byte) {
	t.Helper()
	dir := filepath.Join(s.Dir, "collection-root", user, strings.Trim(collection, "/"))
	if _, err := os.Stat(filepath.Join(dir, ".Radicale.props")); err != nil {
		t.Fatalf("davtest: %s/%s is not a collection: %v", user, collection, err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatalf("davtest: %v", err)
		}
	}
}
