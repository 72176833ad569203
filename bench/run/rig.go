package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
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
// real CRM is (bench/crmserver), counting the bytes of the requests that
// carry a tracking decision.
type crmServer struct {
	url   string
	cmd   *exec.Cmd
	stdin io.Closer
}

// newCRM starts a local CRM with the demo seed.
func (h *harness) newCRM(ctx context.Context) (*crmServer, error) {
	if h.crmBin == "" {
		bin, err := h.build("./bench/crmserver", "crmserver")
		if err != nil {
			return nil, err
		}
		h.crmBin = bin
	}
	cmd := exec.CommandContext(ctx, h.crmBin)
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

// checks returns how many CheckIncomingEmail requests the CRM answered
// and their bytes as sent: request line, headers, body.
func (c *crmServer) checks() (n, bytes int64, err error) {
	resp, err := http.Get(c.url + "/bench/checks")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, err = fmt.Fscan(resp.Body, &n, &bytes)
	return n, bytes, err
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

func (h *harness) startEngine(ctx context.Context, dir, mdir, crmURL string, scope agent.AutoTrackScope) (*rig, error) {
	store, err := cache.Open(filepath.Join(dir, "cache.db"), h.log)
	if err != nil {
		return nil, err
	}
	settings := agenttest.NewSettings(agent.Settings{ConnectionEnabled: true, MaildirPath: mdir, AutoTrack: scope})
	e, err := engine.New(engine.Options{
		Store: store, Secrets: &agenttest.Secrets{}, Settings: settings, Logger: h.log,
		NewMail: func(root string, folders []string) engine.Mail {
			return maildir.New(maildir.Options{Root: root, Folders: folders, Logger: h.log})
		},
		NewClient: func(u string) (*crm.HTTPClient, error) { return crm.New(crm.Config{URL: u}) },
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
	if err := e.SignIn(sctx, agent.Credentials{CRMURL: crmURL, Username: "alice@demo.local", Secret: "demo-alice", NoSave: true}); err != nil {
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

// message renders a message with the given header values and body size.
func message(from, subject, id string, date time.Time, body int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nReceived: from mx.example.net (mx.example.net [192.0.2.10])\r\n\tby mail.demo.local with ESMTPS id %s\r\n\tfor <alice@demo.local>; %s\r\n",
		from, id[:8], date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\nTo: Alice Martin <alice@demo.local>\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", from, subject, id, date.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for b.Len() < body {
		b.WriteString("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n")
	}
	return []byte(b.String())
}
