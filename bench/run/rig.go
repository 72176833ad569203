package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"crmsync/agent"
	"crmsync/agent/agenttest"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/engine"
	"crmsync/agent/maildir"
)

// crmServer is the local CRM on loopback, counting the bytes of the
// requests that carry a tracking decision.
type crmServer struct {
	srv       *localcrm.Server
	ts        *httptest.Server
	url       string
	checks    atomic.Int64 // CheckIncomingEmail requests
	checkSize atomic.Int64 // their bytes as sent: request line, headers, body
}

func newCRM() (*crmServer, error) {
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000, RateLimit: 1 << 30})
	if err != nil {
		return nil, err
	}
	if err := srv.SeedDemo(); err != nil {
		return nil, err
	}
	c := &crmServer{srv: srv}
	c.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "CheckIncomingEmail") {
			srv.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
		// Counted once the answer is on its way, so that counting adds
		// nothing to the latency being measured. The request is unchanged
		// by serving it (a GET: no body to consume).
		_ = http.NewResponseController(w).Flush()
		dump, _ := httputil.DumpRequest(r, true)
		c.checks.Add(1)
		c.checkSize.Add(int64(len(dump)))
	}))
	c.url = c.ts.URL
	return c, nil
}

func (c *crmServer) close() { c.ts.Close(); c.srv.Close() }

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
