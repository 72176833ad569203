package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
)

// fakeNow pins the store's clock, returning a function that moves it.
func fakeNow(s *Store, start time.Time) func(d time.Duration) {
	var mu sync.Mutex
	now := start
	s.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	return func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

var t0 = time.UnixMilli(1_700_000_000_000)

func TestEnqueueDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Enqueue(ctx, Action{Key: "1.M1.host", Kind: ActionTrack, Regarding: &agent.RecordRef{Entity: "opportunity", ID: guidA, Name: "Big deal"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || len(a.IdemKey) != 32 || a.NextAt.IsZero() || a.CreatedAt.IsZero() || a.Regarding.Name != "" {
		t.Errorf("Enqueue returned %+v", a)
	}
	s.Close()

	s = openAt(t, path)
	got, ok, err := s.Action(ctx, a.ID)
	if err != nil || !ok || got.IdemKey != a.IdemKey || got.Kind != ActionTrack || *got.Regarding != *a.Regarding {
		t.Errorf("after reopen: %+v, %v, %v", got, ok, err)
	}
	m, ok, _ := s.Message(ctx, "1.M1.host")
	if !ok || m.State != agent.Pending {
		t.Errorf("message after Enqueue: %+v, %v", m, ok)
	}
	if n, _ := s.Pending(ctx); n != 1 {
		t.Errorf("Pending = %d", n)
	}
}

func TestEnqueueDuplicate(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	advance := fakeNow(s, t0)
	first, err := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionTrack})
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	again, err := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionTrack})
	if err != nil || again != first {
		t.Errorf("second Track = %+v, %v; want the queued %+v", again, err, first)
	}
	// Another kind for the same key is its own row.
	un, err := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionUntrack})
	if err != nil || un.ID == first.ID {
		t.Errorf("Untrack = %+v, %v", un, err)
	}
	// A new regarding target replaces the queued one, keeping row and key.
	r1 := &agent.RecordRef{Entity: "contact", ID: guidA}
	r2 := &agent.RecordRef{Entity: "account", ID: guidB}
	sr, _ := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionSetRegarding, Regarding: r1})
	sr2, err := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionSetRegarding, Regarding: r2})
	if err != nil || sr2.ID != sr.ID || sr2.IdemKey != sr.IdemKey || *sr2.Regarding != *r2 {
		t.Errorf("changed SetRegarding = %+v, %v", sr2, err)
	}
	if n, _ := s.Pending(ctx); n != 3 {
		t.Errorf("Pending = %d, want 3", n)
	}
}

func TestEnqueueRefusesNonIDs(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for _, a := range []Action{
		{Key: "Meeting notes for Friday", Kind: ActionTrack},
		{Key: "carol@example.com", Kind: ActionTrack},
		{Key: "1.host", Kind: 7},
		{Key: "1.host", Kind: ActionSetRegarding},
		{Key: "1.host", Kind: ActionUntrack, Regarding: &agent.RecordRef{Entity: "contact", ID: guidA}},
		{Key: "1.host", Kind: ActionTrack, Regarding: &agent.RecordRef{Entity: "lead", ID: guidA}},
		{Key: "1.host", Kind: ActionTrack, Regarding: &agent.RecordRef{Entity: "contact", ID: "carol@example.com"}},
		{Key: "1.host", Kind: ActionTrack, IdemKey: "carol@example.com"},
	} {
		if _, err := s.Enqueue(ctx, a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("refused actions were queued: %d", n)
	}
}

func TestCompleteIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	reg := &agent.RecordRef{Entity: "incident", ID: guidB}
	a, _ := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionTrack, Regarding: reg})
	done := Message{State: agent.Tracked, ActivityID: guidA, Regarding: reg, OwnedByMe: true}
	if err := s.Complete(ctx, a.ID, done); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Action(ctx, a.ID); ok {
		t.Error("outbox row left after Complete")
	}
	m, ok, _ := s.Message(ctx, "1.host")
	if !ok || m.State != agent.Tracked || m.ActivityID != guidA || !m.OwnedByMe {
		t.Errorf("message after Complete: %+v", m)
	}
	if err := s.Complete(ctx, a.ID, done); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Complete = %v, want ErrNotFound", err)
	}

	// A refused result rolls back: the action stays queued.
	b, _ := s.Enqueue(ctx, Action{Key: "2.host", Kind: ActionTrack})
	if err := s.Complete(ctx, b.ID, Message{State: agent.Tracked, ActivityID: "dave@example.com"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Complete with a bad result = %v", err)
	}
	if err := s.Complete(ctx, b.ID, Message{Key: "3.host", State: agent.Tracked}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Complete with another key = %v", err)
	}
	if _, ok, _ := s.Action(ctx, b.ID); !ok {
		t.Error("a failed Complete removed the action")
	}
	if m, _, _ := s.Message(ctx, "2.host"); m.State != agent.Pending {
		t.Errorf("a failed Complete changed the message: %+v", m)
	}
}

func TestCompleteKeepsPendingWhileOthersQueued(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	tr, _ := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionTrack})
	s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionSetRegarding, Regarding: &agent.RecordRef{Entity: "contact", ID: guidB}})
	if err := s.Complete(ctx, tr.ID, Message{State: agent.Tracked, ActivityID: guidA}); err != nil {
		t.Fatal(err)
	}
	m, _, _ := s.Message(ctx, "1.host")
	if m.State != agent.Pending || m.ActivityID != guidA {
		t.Errorf("message with a queued SetRegarding: %+v", m)
	}
}

func TestTargetChangedInFlight(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	r1 := &agent.RecordRef{Entity: "contact", ID: guidA}
	r2 := &agent.RecordRef{Entity: "account", ID: guidB}
	a, _ := s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionSetRegarding, Regarding: r1})
	due, _ := s.Due(ctx, time.Now(), 10)
	if len(due) != 1 || *due[0].Regarding != *r1 {
		t.Fatalf("Due = %+v", due)
	}
	// The user picks another record while the worker is applying r1.
	s.Enqueue(ctx, Action{Key: "1.host", Kind: ActionSetRegarding, Regarding: r2})
	if err := s.Complete(ctx, a.ID, Message{State: agent.Tracked, ActivityID: guidC, Regarding: r1}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.Due(ctx, time.Now(), 10)
	if len(due) != 1 || due[0].ID != a.ID || *due[0].Regarding != *r2 {
		t.Fatalf("after an in-flight change, Due = %+v; want the row with the new target", due)
	}
	if m, _, _ := s.Message(ctx, "1.host"); m.State != agent.Pending {
		t.Errorf("state %v while the new target is queued", m.State)
	}
	if err := s.Complete(ctx, a.ID, Message{State: agent.Tracked, ActivityID: guidC, Regarding: r2}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("Pending = %d after the second Complete", n)
	}
	if m, _, _ := s.Message(ctx, "1.host"); m.State != agent.Tracked || *m.Regarding != *r2 {
		t.Errorf("final message %+v", m)
	}
}

func TestDueOrderRescheduleFail(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	advance := fakeNow(s, t0)
	var ids []int64
	for i := range 5 {
		a, err := s.Enqueue(ctx, Action{Key: agent.MessageKey(itoa(i) + ".host"), Kind: ActionTrack})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
		advance(time.Second)
	}
	if next, ok, err := s.NextDue(ctx); err != nil || !ok || !next.Equal(t0) {
		t.Errorf("NextDue = %v, %v, %v; want %v", next, ok, err, t0)
	}
	due, err := s.Due(ctx, t0.Add(2*time.Second), 10)
	if err != nil || len(due) != 3 || due[0].ID != ids[0] || due[2].ID != ids[2] {
		t.Fatalf("Due at +2s = %+v, %v", due, err)
	}
	if due, _ := s.Due(ctx, t0.Add(time.Hour), 2); len(due) != 2 || due[0].ID != ids[0] || due[1].ID != ids[1] {
		t.Errorf("Due with limit 2 = %+v", due)
	}

	// The oldest fails for now: it moves behind the others in time but
	// keeps its place in queue order once due again.
	later := t0.Add(10 * time.Minute)
	if err := s.Reschedule(ctx, ids[0], later, 503); err != nil {
		t.Fatal(err)
	}
	a, _, _ := s.Action(ctx, ids[0])
	if a.Attempts != 1 || !a.NextAt.Equal(later) || a.LastError != 503 {
		t.Errorf("after Reschedule: %+v", a)
	}
	s.Reschedule(ctx, ids[0], later, 429)
	if a, _, _ := s.Action(ctx, ids[0]); a.Attempts != 2 || a.LastError != 429 {
		t.Errorf("after second Reschedule: %+v", a)
	}
	if due, _ := s.Due(ctx, t0.Add(time.Minute), 10); len(due) != 4 || due[0].ID != ids[1] {
		t.Errorf("Due after Reschedule = %+v", due)
	}
	if due, _ := s.Due(ctx, later, 10); len(due) != 5 || due[0].ID != ids[0] {
		t.Errorf("Due when the rescheduled one is due again = %+v", due)
	}
	if next, _, _ := s.NextDue(ctx); !next.Equal(t0.Add(time.Second)) {
		t.Errorf("NextDue = %v", next)
	}
	if err := s.Reschedule(ctx, 9999, later, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Reschedule(unknown) = %v", err)
	}
	if err := s.Reschedule(ctx, ids[1], later, -5); !errors.Is(err, ErrInvalid) {
		t.Errorf("Reschedule(negative code) = %v", err)
	}

	if err := s.Fail(ctx, ids[0], Message{State: agent.Tracked, Reason: 42}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Action(ctx, ids[0]); ok {
		t.Error("Fail left the row")
	}
	m, _, _ := s.Message(ctx, "0.host")
	if m.State != agent.Failed || m.Reason != 42 {
		t.Errorf("after Fail: %+v", m)
	}
	if n, _ := s.Pending(ctx); n != 4 {
		t.Errorf("Pending = %d, want 4", n)
	}
	for _, id := range ids[1:] {
		s.Complete(ctx, id, Message{State: agent.Tracked})
	}
	if _, ok, err := s.NextDue(ctx); ok || err != nil {
		t.Errorf("NextDue of an empty outbox = %v, %v", ok, err)
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				// Readers run alongside the writers.
				if i%10 == 0 {
					if _, err := s.Pending(ctx); err != nil {
						errs <- err
						return
					}
				}
				k := agent.MessageKey(fmt.Sprintf("%d.G%dI%d.host", 1700000000+i, g, i))
				if _, err := s.Enqueue(ctx, Action{Key: k, Kind: ActionTrack}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var rows, keys int
	s.db.QueryRow("SELECT count(*), count(DISTINCT idem_key) FROM outbox").Scan(&rows, &keys)
	if rows != 800 || keys != 800 {
		t.Errorf("%d rows with %d distinct idempotency keys, want 800 and 800", rows, keys)
	}
}

// crashChildEnv carries the cache path to the child of TestCrashDurability.
const crashChildEnv = "CRMSYNC_CACHE_CRASH_CHILD"

// TestCrashChild is the child half of TestCrashDurability: it enqueues in a
// loop, printing each id once Enqueue has returned, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashDurability")
	}
	s, err := Open(path, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		a, err := s.Enqueue(ctx, Action{Key: agent.MessageKey(fmt.Sprintf("%d.crash%d.host", 1700000000+i, i)), Kind: ActionTrack})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		// One write per line: the parent sees each id as it is committed.
		os.Stdout.WriteString("ID " + strconv.FormatInt(a.ID, 10) + " " + strconv.Itoa(i) + "\n")
		if i%7 == 0 {
			s.Complete(ctx, a.ID, Message{State: agent.Tracked, ActivityID: guidA})
			os.Stdout.WriteString("DONE " + strconv.FormatInt(a.ID, 10) + "\n")
		}
	}
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1<<16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	// Let it run a while past its first commit, then kill it mid-stride.
	var printed []string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("child exited before enqueueing")
		}
		printed = append(printed, l)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not start enqueueing")
	}
	firstAt := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		printed = append(printed, l)
	}
	cmd.Wait()

	enqueued, completed := map[int64]string{}, map[int64]bool{}
	for _, l := range printed {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "ERR" {
			t.Fatalf("child failed: %s", l)
		}
		if len(f) < 2 {
			continue // a line cut short by the kill
		}
		id, err := strconv.ParseInt(f[1], 10, 64)
		switch {
		case err != nil:
			continue
		case f[0] == "ID" && len(f) == 3:
			enqueued[id] = f[2]
		case f[0] == "DONE":
			completed[id] = true
		}
	}
	if len(enqueued) < 5 {
		t.Fatalf("child committed only %d actions before the kill", len(enqueued))
	}

	reopen := time.Now()
	s := openAt(t, path)
	t.Logf("first commit after %v; reopen took %v", firstAt, time.Since(reopen))
	if s.Rebuilt() {
		t.Fatal("cache was rebuilt after a kill -9")
	}
	var check string
	if err := s.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	for id, i := range enqueued {
		_, queued, err := s.Action(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case completed[id] && queued:
			t.Errorf("action %d was completed but is still queued", id)
		case !completed[id] && !queued:
			// Complete may have committed just before the kill without
			// its line being printed; then the result must be there.
			n, _ := strconv.Atoi(i)
			m, ok, err := s.Message(ctx, agent.MessageKey(fmt.Sprintf("%d.crash%s.host", 1700000000+n, i)))
			if err != nil || !ok || m.State != agent.Tracked || m.ActivityID != guidA {
				t.Errorf("action %d was acknowledged but is lost", id)
			}
		}
	}
	t.Logf("%d actions acknowledged before kill -9, %d completed; all accounted for", len(enqueued), len(completed))
}

func BenchmarkEnqueueComplete(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b)
	b.ResetTimer()
	for i := range b.N {
		a, err := s.Enqueue(ctx, Action{Key: agent.MessageKey(fmt.Sprintf("%d.bench.host", i)), Kind: ActionTrack})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Complete(ctx, a.ID, Message{State: agent.Tracked, ActivityID: guidA}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutMessage(b *testing.B) {
	ctx := context.Background()
	s, _ := openTemp(b)
	h := s.HashMessageID("<bench@example.invalid>")
	b.ResetTimer()
	for i := range b.N {
		m := Message{Key: agent.MessageKey(fmt.Sprintf("%d.bench.host", i)), MsgIDHash: h, State: agent.Tracked,
			ActivityID: guidA, Regarding: &agent.RecordRef{Entity: "contact", ID: guidB}, ReceivedAt: t0}
		if err := s.PutMessage(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecideWritesMessageAndActionTogether(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hash := s.HashMessageID("<decide@example.com>")
	m := Message{Key: "1700000000.M1P1.host", Folder: s.HashFolder(".Sent"), MsgIDHash: hash, Reason: 9, ReceivedAt: time.UnixMilli(1_700_000_000_000)}
	a, err := s.Decide(ctx, m, Action{Key: m.Key, Kind: ActionTrack})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Message(ctx, m.Key)
	if err != nil || !ok || got.State != agent.Pending || got.Folder != s.HashFolder(".Sent") || got.Reason != 9 || !bytes.Equal(got.MsgIDHash, hash) {
		t.Fatalf("message after Decide = %+v, %v, %v", got, ok, err)
	}
	if q, ok, err := s.Action(ctx, a.ID); err != nil || !ok || q.Kind != ActionTrack {
		t.Fatalf("action after Decide = %+v, %v, %v", q, ok, err)
	}
	if _, err := s.Decide(ctx, m, Action{Key: "other.key", Kind: ActionTrack}); err == nil {
		t.Error("Decide with mismatched keys must fail")
	}
}

func TestDecideNewKeepsWhatIsThere(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	m := Message{Key: "1700000000.M2P1.host", Reason: 5, ReceivedAt: time.UnixMilli(1_700_000_000_000)}
	a, queued, err := s.DecideNew(ctx, m, Action{Key: m.Key, Kind: ActionTrack})
	if err != nil || !queued || a.ID == 0 {
		t.Fatalf("first decision: %+v, %v, %v", a, queued, err)
	}
	if got, ok, err := s.Message(ctx, m.Key); err != nil || !ok || got.State != agent.Pending || got.Reason != 5 {
		t.Fatalf("message after DecideNew = %+v, %v, %v", got, ok, err)
	}
	// The action is done, then the user untracked the message: the row
	// says so, and a late automatic decision neither changes it nor
	// queues anything.
	if err := s.Complete(ctx, a.ID, Message{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMessage(ctx, Message{Key: m.Key, State: agent.Untracked, Reason: 14}); err != nil {
		t.Fatal(err)
	}
	if _, queued, err := s.DecideNew(ctx, m, Action{Key: m.Key, Kind: ActionTrack}); err != nil || queued {
		t.Fatalf("decision over an existing row: queued=%v, %v", queued, err)
	}
	if got, _, _ := s.Message(ctx, m.Key); got.State != agent.Untracked || got.Reason != 14 {
		t.Errorf("the existing row was changed: %+v", got)
	}
	if n, err := s.Pending(ctx); err != nil || n != 0 {
		t.Errorf("pending after a refused decision = %d, %v; want 0", n, err)
	}
	if _, _, err := s.DecideNew(ctx, m, Action{Key: "other.key", Kind: ActionTrack}); err == nil {
		t.Error("DecideNew with mismatched keys must fail")
	}
}

// BenchmarkDecision times the write of one decision as the engine makes
// it: a skip is a one-row PutMessages, a track a DecideNew with its action.
func BenchmarkDecision(b *testing.B) {
	writes := map[string]func(context.Context, *Store, Message) error{
		"skip": func(ctx context.Context, s *Store, m Message) error {
			_, err := s.PutMessages(ctx, []Message{m}, true)
			return err
		},
		"track": func(ctx context.Context, s *Store, m Message) error {
			_, _, err := s.DecideNew(ctx, m, Action{Key: m.Key, Kind: ActionTrack})
			return err
		},
	}
	for _, name := range []string{"skip", "track"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := openTemp(b)
			h := s.HashMessageID("<bench@example.invalid>")
			i := 0
			for b.Loop() {
				i++
				m := Message{Key: agent.MessageKey(fmt.Sprintf("%d.bench.host", i)), MsgIDHash: h, Reason: 5, ReceivedAt: t0}
				if err := writes[name](ctx, s, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestActReadsAndWritesInOneTransaction: a user action sees the row as it
// is when it runs, so a column another writer set (the outbox's activity)
// survives; a key without a row starts from fresh.
func TestActReadsAndWritesInOneTransaction(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const act = "9d6c1f7e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
	if err := s.PutMessage(ctx, Message{Key: "k1.host", State: agent.Tracked, ActivityID: act, OwnedByMe: true}); err != nil {
		t.Fatal(err)
	}
	freshCalled := false
	fresh := func() (Message, error) { freshCalled = true; return Message{Key: "k1.host"}, nil }
	m, a, err := s.Act(ctx, "k1.host", fresh, func(m Message, found bool) (Message, *Action, error) {
		if !found || m.ActivityID != act {
			t.Errorf("choose saw %+v (found %v); want the stored row", m, found)
		}
		m.Reason = 14
		return m, &Action{Key: "k1.host", Kind: ActionSetRegarding, Regarding: &agent.RecordRef{Entity: "account", ID: act}}, nil
	})
	if err != nil || a == nil || freshCalled {
		t.Fatalf("Act = %+v, %v (fresh called %v)", a, err, freshCalled)
	}
	got, _, _ := s.Message(ctx, "k1.host")
	if got.ActivityID != act || !got.OwnedByMe || got.State != agent.Pending || got.Reason != 14 || m.State != agent.Pending {
		t.Errorf("after Act: %+v", got)
	}
	_, a, err = s.Act(ctx, "k2.host", func() (Message, error) { return Message{Key: "k2.host", Folder: s.HashFolder(".Sent")}, nil },
		func(m Message, found bool) (Message, *Action, error) {
			if found || m.Folder != s.HashFolder(".Sent") {
				t.Errorf("choose saw %+v (found %v); want fresh", m, found)
			}
			return m, &Action{Key: "k2.host", Kind: ActionTrack}, nil
		})
	if err != nil || a == nil || a.Kind != ActionTrack {
		t.Fatalf("Act on a new key = %+v, %v", a, err)
	}
	if n, _ := s.Pending(ctx); n != 2 {
		t.Errorf("pending = %d, want 2", n)
	}
	if _, a, err := s.Act(ctx, "k3.host", func() (Message, error) { return Message{}, ErrNotFound }, nil); !errors.Is(err, ErrNotFound) || a != nil {
		t.Errorf("Act with fresh failing = %v, %v", a, err)
	}
}

// TestDecideNewAll writes a batch of decisions in one go: rows in runs
// and alone, a track with its action, a key the user wrote meanwhile left
// as it is (in a run, too), and a refused decision failing alone.
func TestDecideNewAll(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for _, k := range []agent.MessageKey{"user.track", "user.row"} {
		if _, err := s.Enqueue(ctx, Action{Key: k, Kind: ActionTrack}); err != nil {
			t.Fatal(err)
		}
	}
	var ds []NewDecision
	add := func(k agent.MessageKey, track bool) {
		d := NewDecision{Message: Message{Key: k, Reason: 5, ReceivedAt: t0}}
		if track {
			d.Action = &Action{Key: k, Kind: ActionTrack}
		}
		ds = append(ds, d)
	}
	add("new.track", true)
	add("user.track", true)
	for i := range 2*insertRows + 3 {
		add(agent.MessageKey(fmt.Sprintf("%d.row.host", i)), false)
	}
	ds[insertRows+10].Message.Key = "user.row" // in the second run
	add("bad key with spaces", false)
	add("last.row.host", false)
	written, refused, err := s.DecideNewAll(ctx, ds)
	if err != nil || len(written) != len(ds) {
		t.Fatalf("DecideNewAll = %v, %v", written, err)
	}
	for i, d := range ds {
		k := d.Message.Key
		wantWritten := k != "user.track" && k != "user.row" && k != "bad key with spaces"
		if written[i] != wantWritten {
			t.Errorf("%s: written %v, want %v", k, written[i], wantWritten)
		}
		if gotRefused := refused != nil && refused[i] != nil; gotRefused != (k == "bad key with spaces") {
			t.Errorf("%s: refused %v", k, refused[i])
		}
		m, found, err := s.Message(ctx, k)
		if k == "bad key with spaces" {
			continue
		}
		switch {
		case err != nil || !found:
			t.Errorf("%s: not stored: %v", k, err)
		case k == "user.track" || k == "user.row" || k == "new.track":
			if m.State != agent.Pending {
				t.Errorf("%s: state %v, want Pending", k, m.State)
			}
		case m.State != agent.Untracked || m.Reason != 5:
			t.Errorf("%s: stored %+v", k, m)
		}
	}
	if n, _ := s.Pending(ctx); n != 3 {
		t.Errorf("pending = %d, want the user's two tracks and new.track", n)
	}
	counts, _ := s.CountByState(ctx)
	if total := counts[agent.Untracked] + counts[agent.Pending]; total != len(ds)-1 {
		t.Errorf("rows = %v, want %d", counts, len(ds)-1)
	}
}
