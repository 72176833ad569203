package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/sched"
)

// requestLog records the Web API requests that reach the CRM.
type requestLog struct {
	mu    sync.Mutex
	lines []string // "METHOD path"
}

func (l *requestLog) watch(h *harness) {
	f := func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/api/data/") {
			l.mu.Lock()
			l.lines = append(l.lines, r.Method+" "+r.URL.Path)
			l.mu.Unlock()
		}
		return false
	}
	h.intercept.Store(&f)
}

// since returns the requests logged after the first n.
func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[n:]...)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// trackedKeys counts the messages among keys that the cache holds as
// tracked with an activity.
func trackedKeys(t *testing.T, e *running, keys []agent.MessageKey) int {
	t.Helper()
	n := 0
	for _, key := range keys {
		m, ok, err := e.store.Message(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if ok && m.State == agent.Tracked && m.ActivityID != "" {
			n++
		}
	}
	return n
}

// settle waits until the engine has sent nothing for a while, so what
// follows is counted alone.
func settle(l *requestLog) {
	for {
		n := l.len()
		time.Sleep(300 * time.Millisecond)
		if l.len() == n {
			return
		}
	}
}

// quietSession signs alice in with every Web API request logged, and
// returns once the engine has gone quiet, with the count logged by then.
func quietSession(t *testing.T) (*harness, *running, *requestLog, int) {
	h := newHarness(t)
	log := &requestLog{}
	log.watch(h)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	settle(log)
	return h, e, log, log.len()
}

// TestLoneArrivalCostsTwoRequests: a message from a CRM contact is decided
// with one $batch (CheckIncomingEmail, address resolution and the
// duplicate check together) and tracked with a second (create and complete
// in one change set). Nothing else is sent for it.
func TestLoneArrivalCostsTwoRequests(t *testing.T) {
	h, e, log, before := quietSession(t)
	h.deliver(k(900), "maria.campbell@contoso.example", "Quote", "lone-1@contoso.example")
	waitFor(t, "the message tracked", func() bool { return trackedKeys(t, e, []agent.MessageKey{k(900)}) == 1 })
	settle(log)
	got := log.since(before)
	if len(got) != 2 || !strings.HasSuffix(got[0], "/$batch") || !strings.HasSuffix(got[1], "/$batch") {
		t.Fatalf("a lone arrival sent %d requests, want 2 $batch requests:\n%s", len(got), strings.Join(got, "\n"))
	}
	if n := h.inCRM("<lone-1@contoso.example>"); n != 1 {
		t.Errorf("%d activities carry the message, want 1", n)
	}
}

// TestBurstSharesRequests: twenty messages arriving together are decided
// and tracked in a handful of requests, not in twenty or more.
func TestBurstSharesRequests(t *testing.T) {
	h, e, log, before := quietSession(t)
	var keys []agent.MessageKey
	for i := range 20 {
		key := k(910 + i)
		keys = append(keys, key)
		h.deliver(key, "maria.campbell@contoso.example", fmt.Sprintf("Order %d", i), fmt.Sprintf("burst-%d@contoso.example", i))
	}
	waitFor(t, "all twenty tracked", func() bool { return trackedKeys(t, e, keys) == len(keys) })
	settle(log)
	got := log.since(before)
	t.Logf("twenty arrivals: %d requests", len(got))
	// Two requests would do if all twenty were seen at once; the first
	// arrivals are asked about alone, while the others gather. Quiet runs
	// take 4 to 7; a loaded machine spreads the arrivals further.
	if len(got) > 12 {
		t.Fatalf("twenty arrivals sent %d requests, want at most 12:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, line := range got {
		if !strings.HasSuffix(line, "/$batch") {
			t.Errorf("request %q was sent on its own, outside a $batch", line)
		}
	}
	for i := range 20 {
		if n := h.inCRM(fmt.Sprintf("<burst-%d@contoso.example>", i)); n != 1 {
			t.Errorf("message %d: %d activities, want 1", i, n)
		}
	}
}

// rawEmail reads an email's state and times as the CRM holds them.
func rawEmail(t *testing.T, h *harness, c *crm.HTTPClient, id string) map[string]any {
	t.Helper()
	ctx := context.Background()
	tok, err := c.Tokens().AccessToken(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/api/data/v9.2/emails("+id+")?$select=statecode,statuscode,actualend,messageid", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("read email %s: status %d, %v", id, resp.StatusCode, err)
	}
	return m
}

// TestTrackedEmailCompletedWithMailTime: the activity is created completed
// (received) and carries the mail's own time in actualend, not the time it
// was tracked.
func TestTrackedEmailCompletedWithMailTime(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(940), "maria.campbell@contoso.example", "Dated", "dated-1@contoso.example")
	waitFor(t, "the message tracked", func() bool { return trackedKeys(t, e, []agent.MessageKey{k(940)}) == 1 })
	m, _, _ := e.store.Message(context.Background(), k(940))
	alice, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SignIn(context.Background(), "alice@demo.local", "demo-alice"); err != nil {
		t.Fatal(err)
	}
	got := rawEmail(t, h, alice, m.ActivityID)
	if got["statecode"] != float64(1) || got["statuscode"] != float64(4) {
		t.Errorf("state %v/%v, want 1/4 (completed, received)", got["statecode"], got["statuscode"])
	}
	end, err := time.Parse(time.RFC3339, fmt.Sprint(got["actualend"]))
	if err != nil {
		t.Fatalf("actualend %v: %v", got["actualend"], err)
	}
	if d := end.Sub(m.ReceivedAt); d < -time.Second || d > time.Second {
		t.Errorf("actualend %v, want the mail's time %v", end, m.ReceivedAt)
	}
}

// TestSyncCompletesOpenEmail: an email of the user's left open (by an
// older version that created and completed in two requests, and crashed
// between them) is completed by the next reconciliation.
func TestSyncCompletesOpenEmail(t *testing.T) {
	h := newHarness(t)
	clock := sched.NewFake(time.Now())
	e := h.startWith(clock)
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(950), "maria.campbell@contoso.example", "Left open", "open-1@contoso.example")
	waitFor(t, "the message tracked", func() bool { return trackedKeys(t, e, []agent.MessageKey{k(950)}) == 1 })
	m, _, _ := e.store.Message(context.Background(), k(950))
	ctx := context.Background()
	alice, err := crm.New(crm.Config{URL: h.url})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SignIn(ctx, "alice@demo.local", "demo-alice"); err != nil {
		t.Fatal(err)
	}
	// Reopen it, as the crash would have left it.
	tok, _ := alice.Tokens().AccessToken(ctx, false)
	body, _ := json.Marshal(map[string]any{"statecode": 0, "statuscode": 1})
	req, _ := http.NewRequestWithContext(ctx, "PATCH", h.url+"/api/data/v9.2/emails("+m.ActivityID+")", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reopen: %d %s", resp.StatusCode, msg)
	}
	if got := rawEmail(t, h, alice, m.ActivityID); got["statecode"] != float64(0) {
		t.Fatalf("the email did not reopen: %v", got)
	}
	clock.Advance(13 * time.Minute)
	waitFor(t, "the sync to complete the email", func() bool {
		return rawEmail(t, h, alice, m.ActivityID)["statecode"] == float64(1)
	})
}
