package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
)

// maxShutdown is how long Run may take to return once its context ends,
// whatever the engine is doing.
const maxShutdown = 2 * time.Second

// stopTimed cancels the run and returns how long Run took to return.
func (r *running) stopTimed(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of the cancel")
	}
	took := time.Since(start)
	r.store.Close()
	return took
}

func checkShutdown(t *testing.T, took time.Duration) {
	t.Helper()
	t.Logf("cancel to Run's return: %v", took)
	if took > maxShutdown {
		t.Errorf("Run took %v to return after the cancel, want at most %v", took, maxShutdown)
	}
}

// TestShutdownMidRequestToSilentCRM: a CRM that accepts the connection
// and never answers does not hold up shutdown.
func TestShutdownMidRequestToSilentCRM(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	silent := "http://" + ln.Addr().String()
	if err := h.secrets.Save(context.Background(), agent.Credentials{CRMURL: silent, Username: "alice@demo.local", RefreshToken: "saved"}); err != nil {
		t.Fatal(err)
	}
	e := h.start()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine never called the CRM")
	}
	checkShutdown(t, e.stopTimed(t))
}

// scanCount is how many messages TestShutdownMidScan delivers: the
// 100,000 of a large mailbox. Writing them takes about 10 s here (0.09 ms
// a file), which the suite can afford for the one case it proves.
const scanCount = 100_000

// TestShutdownMidScan: an engine scanning a large Maildir stops at once.
func TestShutdownMidScan(t *testing.T) {
	if testing.Short() {
		t.Skip("writes many files")
	}
	h := newHarness(t)
	start := time.Now()
	cur := filepath.Join(h.mdir, "cur")
	// Written by several goroutines: the file system takes them in
	// parallel, and the test stays within seconds.
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < scanCount; i += writers {
				msg := fmt.Sprintf("From: someone%d@unknown.example\r\nSubject: %d\r\nMessage-ID: <scan-%d@unknown.example>\r\n\r\nHi.\r\n", i, i, i)
				if err := os.WriteFile(filepath.Join(cur, string(k(i))+":2,S"), []byte(msg), 0o600); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Logf("writing %d messages took %v", scanCount, time.Since(start))
	e := h.start()
	waitFor(t, "the scan under way", func() bool {
		done, total := e.mail.Progress()
		return total > 0 && done > 0
	})
	done, total := e.mail.Progress()
	t.Logf("cancelled with %d of %d messages scanned", done, total)
	checkShutdown(t, e.stopTimed(t))
}

// TestShutdownMidUpload: an upload to a CRM that never answers does not
// hold up shutdown.
func TestShutdownMidUpload(t *testing.T) {
	h := newHarness(t)
	h.settings.Update(func(s *agent.Settings) { s.AutoTrack = agent.TrackAll })
	uploading := make(chan struct{}, 1)
	released := make(chan struct{})
	t.Cleanup(func() { close(released) }) // before the server's Close, which waits for handlers
	hang := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/$batch") {
			return false
		}
		// Read the whole request, so the server notices the client leave.
		// The upload is the $batch with a change set; the decision's has
		// GETs only and is answered.
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte("changeset_")) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			return false
		}
		select {
		case uploading <- struct{}{}:
		default:
		}
		select { // never answers
		case <-r.Context().Done():
		case <-released:
		}
		return true
	}
	h.intercept.Store(&hang)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(500), "someone@unknown.example", "Hangs", "hang-1@unknown.example")
	select {
	case <-uploading:
	case <-time.After(15 * time.Second):
		t.Fatal("the upload never started")
	}
	checkShutdown(t, e.stopTimed(t))
}

// TestUndatedMailFromContactTracked: messages whose names carry no
// delivery time and whose headers carry no Date are as new as their
// files, and tracked like any other.
func TestUndatedMailFromContactTracked(t *testing.T) {
	h := newHarness(t)
	const n = 300
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("From: Maria Campbell <maria.campbell@contoso.example>\r\nTo: alice@demo.local\r\nSubject: Order %d\r\nMessage-ID: <b%d@contoso.example>\r\n\r\nHello.\r\n", i, i)
		if err := os.WriteFile(filepath.Join(h.mdir, "cur", fmt.Sprintf("b%d:2,S", i)), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		counts, err := e.store.CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[agent.Tracked] == n {
			break
		}
		if time.Now().After(deadline) {
			items, _ := e.RecentItems(ctx, 3)
			t.Fatalf("%d of %d undated messages tracked (states %v); for example %+v", counts[agent.Tracked], n, counts, items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDuplicateInCRMIsLinked: a message a colleague has tracked already
// is linked to their activity, with nothing uploaded.
func TestDuplicateInCRMIsLinked(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	bob, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.SignIn(ctx, "bob@demo.local", "demo-bob"); err != nil {
		t.Fatal(err)
	}
	info, created, err := bob.CreateEmail(ctx, crm.Email{MessageID: "<link-1@contoso.example>", Subject: "Offer",
		From: crm.Party{Address: "maria.campbell@contoso.example"}})
	if err != nil || !created {
		t.Fatalf("bob's copy: %v (created %v)", err, created)
	}
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(600), "maria.campbell@contoso.example", "Offer", "link-1@contoso.example")
	var it agent.Item
	waitFor(t, "the message linked", func() bool {
		items, err := e.RecentItems(ctx, 10)
		if err != nil || len(items) != 1 {
			return false
		}
		it = items[0]
		return it.Track == agent.Tracked
	})
	if it.ActivityID != string(info.ID) || it.OwnedByMe {
		t.Errorf("linked item = %+v; want bob's activity %s, not owned", it, info.ID)
	}
	for _, d := range e.Disclosures(0) {
		if d.BodySent {
			t.Errorf("a linked message was uploaded: %+v", d)
		}
	}
	if n := h.inCRM("<link-1@contoso.example>"); n != 0 {
		t.Errorf("%d copies owned by alice, want none (bob's is linked)", n)
	}
}
