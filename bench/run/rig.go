package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/agenttest"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/engine"
	"crmsync/agent/maildir"
)

// crmServer is the local CRM on loopback, in a process of its own as a
// real CRM is (bench/crmserver), metering what the benchmarks judge.
type crmServer struct {
	url   string
	cmd   *exec.Cmd
	stdin io.Closer
}

// bodyMarker is in the body of every benchmark message; the CRM counts
// the decision requests that carry it, which must be none: a decision
// sends addresses, subject and Message-ID, never the body.
const bodyMarker = "crmsync-bench-body-9f3c"

// newCRM starts a local CRM with the demo seed; args are crmserver's
// flags (limits, fleet users, a concurrency cap).
func (h *harness) newCRM(ctx context.Context, args ...string) (*crmServer, error) {
	if h.crmBin == "" {
		bin, err := h.build("./bench/crmserver", "crmserver")
		if err != nil {
			return nil, err
		}
		h.crmBin = bin
	}
	cmd := exec.CommandContext(ctx, h.crmBin, append([]string{"-marker", bodyMarker}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &crmServer{cmd: cmd, stdin: in}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		c.close()
		return nil, fmt.Errorf("the local CRM did not start: %v", err)
	}
	c.url = strings.TrimSpace(line)
	return c, nil
}

// close stops the CRM: it exits when its input closes.
func (c *crmServer) close() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// rig is one engine against the local CRM, a cache file and a Maildir.
type rig struct {
	e      *engine.Engine
	store  *cache.Store
	cancel context.CancelFunc
	done   chan error
}

// startEngine starts an engine signed in as alice.
func (h *harness) startEngine(ctx context.Context, dir, mdir, crmURL string, scope agent.AutoTrackScope) (*rig, error) {
	return h.startEngineAs(ctx, dir, mdir, crmURL, scope, "alice@demo.local", "demo-alice")
}

// onlineAgent makes an empty Maildir under h.tmp/name, starts alice's
// engine on it tracking mail from CRM records, and returns once it is
// online. The caller stops the rig.
func (h *harness) onlineAgent(ctx context.Context, name, crmURL string) (r *rig, mdir string, err error) {
	dir := filepath.Join(h.tmp, name)
	if mdir, err = newMaildir(filepath.Join(dir, "Maildir")); err != nil {
		return nil, "", err
	}
	if r, err = h.startEngine(ctx, dir, mdir, crmURL, agent.TrackFromCRMRecords); err != nil {
		return nil, "", err
	}
	if err := r.waitOnline(ctx); err != nil {
		r.stop()
		return nil, "", err
	}
	return r, mdir, nil
}

// startEngineAs starts an engine with its cache in dir, watching mdir,
// signed in to the CRM as user.
func (h *harness) startEngineAs(ctx context.Context, dir, mdir, crmURL string, scope agent.AutoTrackScope, user, password string) (*rig, error) {
	s := agent.Settings{ConnectionEnabled: true, MaildirPath: mdir, AutoTrack: scope}
	return h.runEngine(ctx, dir, s, nil, crmURL, user, password)
}

// runEngine starts an engine with its cache in dir and settings s (mail
// passwords from pw, which may be nil), signed in to the CRM as user.
func (h *harness) runEngine(ctx context.Context, dir string, s agent.Settings, pw engine.Passwords, crmURL, user, password string) (*rig, error) {
	store, err := cache.Open(filepath.Join(dir, "cache.db"), h.log)
	if err != nil {
		return nil, err
	}
	e, err := engine.New(engine.Options{
		Store: store, Secrets: &agenttest.Secrets{}, Settings: agenttest.NewSettings(s), Logger: h.log,
		NewMail: func(root string, folders []string) engine.Mail {
			return maildir.New(maildir.Options{Root: root, Folders: folders, Logger: h.log})
		},
		NewClient: func(u string) (*crm.HTTPClient, error) { return crm.New(crm.Config{URL: u}) },
		Passwords: pw,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &rig{e: e, store: store, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(rctx) }()
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	if err := e.SignIn(sctx, agent.Credentials{CRMURL: crmURL, Username: user, Secret: password, NoSave: true}); err != nil {
		r.stop()
		return nil, fmt.Errorf("sign in: %w", err)
	}
	return r, nil
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
	r.store.Close()
}

// waitOnline waits until the engine is online.
func (r *rig) waitOnline(ctx context.Context) error {
	for r.e.Status().State != agent.StateOnline {
		if ctx.Err() != nil {
			return fmt.Errorf("not online: %s", r.e.Status().State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// newMaildir makes an empty Maildir.
func newMaildir(dir string) (string, error) {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// message renders a message to alice with the given header values and
// body size.
func message(from, subject, id string, date time.Time, body int) []byte {
	return messageTo(from, "Alice Martin <alice@demo.local>", subject, id, date, body)
}

// messageTo renders a message with the given header values and body
// size; the body starts with bodyMarker.
func messageTo(from, to, subject, id string, date time.Time, body int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nReceived: from mx.example.net (mx.example.net [192.0.2.10])\r\n\tby mail.demo.local with ESMTPS id %s\r\n\tfor <%s>; %s\r\n",
		from, id[:8], addrOf(to), date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", from, to, subject, id, date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(bodyMarker + "\r\n")
	for b.Len() < body {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	}
	return []byte(b.String())
}

// addrOf is the address inside "Name <addr>".
func addrOf(s string) string {
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ">")
	}
	return s
}
