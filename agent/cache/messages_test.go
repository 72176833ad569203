package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
)

func TestPutAndReadMessage(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	m := Message{
		Key:        "1700000000.M5P6Q7.host,S=1234",
		Folder:     s.HashFolder(".Sent Items"),
		MsgIDHash:  s.HashMessageID("<m1@example.invalid>"),
		State:      agent.Tracked,
		Reason:     12,
		ActivityID: strings.ToUpper(guidA),
		Regarding:  &agent.RecordRef{Entity: "account", ID: guidB, Name: "shown, never stored"},
		OwnedByMe:  true,
		ReceivedAt: time.UnixMilli(1700000000123),
		UpdatedAt:  time.UnixMilli(1700000000456),
	}
	if err := s.PutMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Message(ctx, m.Key)
	if err != nil || !ok {
		t.Fatalf("Message = %v, %v", ok, err)
	}
	want := m
	want.ActivityID = guidA // stored in lower case
	want.Regarding = &agent.RecordRef{Entity: "account", ID: guidB}
	if got.Key != want.Key || got.Folder != want.Folder || !bytes.Equal(got.MsgIDHash, want.MsgIDHash) ||
		got.State != want.State || got.Reason != want.Reason || got.ActivityID != want.ActivityID ||
		*got.Regarding != *want.Regarding || got.OwnedByMe != want.OwnedByMe ||
		!got.ReceivedAt.Equal(want.ReceivedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// Upsert replaces every column.
	m2 := Message{Key: m.Key, State: agent.Untracked}
	if err := s.PutMessage(ctx, m2); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Message(ctx, m.Key)
	if got.ActivityID != "" || got.Regarding != nil || got.MsgIDHash != nil || got.UpdatedAt.IsZero() {
		t.Errorf("after upsert: %+v", got)
	}

	if _, ok, err := s.Message(ctx, "1.none.host"); ok || err != nil {
		t.Errorf("missing message = %v, %v", ok, err)
	}
}

func TestHashMessageID(t *testing.T) {
	s, _ := openTemp(t)
	other, _ := openTemp(t)
	a := s.HashMessageID("<abc@example.invalid>")
	if len(a) != HashSize {
		t.Fatalf("hash length %d", len(a))
	}
	for _, same := range []string{"abc@example.invalid", "  <abc@example.invalid>\r\n", "< abc@example.invalid >"} {
		if !bytes.Equal(s.HashMessageID(same), a) {
			t.Errorf("HashMessageID(%q) differs from the bracketed form", same)
		}
	}
	if bytes.Equal(s.HashMessageID("<abd@example.invalid>"), a) {
		t.Error("different IDs hash alike")
	}
	if bytes.Equal(other.HashMessageID("<abc@example.invalid>"), a) {
		t.Error("two caches share a salt: the hash is a global lookup key")
	}
	if s.HashMessageID(" <> ") != nil {
		t.Error("an empty ID should hash to nil")
	}
}

func TestMessageByHashAndAnyTracked(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	h := func(id string) []byte { return s.HashMessageID(id) }
	put := func(m Message) {
		t.Helper()
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	put(Message{Key: "1.inbox.host", MsgIDHash: h("shared@x"), State: agent.Untracked, UpdatedAt: time.UnixMilli(5000)})
	put(Message{Key: "1.sent.host", Folder: s.HashFolder(".Sent"), MsgIDHash: h("shared@x"), State: agent.Tracked, ActivityID: guidA,
		UpdatedAt: time.UnixMilli(1000)})
	put(Message{Key: "2.host", MsgIDHash: h("untracked@x"), State: agent.Untracked})
	put(Message{Key: "3.host", MsgIDHash: h("failed@x"), State: agent.Failed})
	put(Message{Key: "4.host", MsgIDHash: h("untrack-pending@x"), State: agent.Tracked, ActivityID: guidB})
	put(Message{Key: "5.host", MsgIDHash: h("track-pending@x")})
	if _, err := s.Enqueue(ctx, Action{Key: "4.host", Kind: ActionUntrack}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, Action{Key: "5.host", Kind: ActionTrack}); err != nil {
		t.Fatal(err)
	}

	got, ok, err := s.MessageByHash(ctx, h("<shared@x>"))
	if err != nil || !ok || got.Key != "1.sent.host" {
		t.Errorf("MessageByHash prefers the tracked copy: got %q, %v, %v", got.Key, ok, err)
	}
	if _, ok, _ := s.MessageByHash(ctx, h("nobody@x")); ok {
		t.Error("MessageByHash found an unknown hash")
	}

	for _, c := range []struct {
		ids  []string
		want bool
	}{
		{nil, false},
		{[]string{"untracked@x", "failed@x", "nobody@x"}, false},
		{[]string{"nobody@x", "shared@x"}, true},
		{[]string{"untrack-pending@x"}, false},
		{[]string{"track-pending@x"}, true},
	} {
		var hs [][]byte
		for _, id := range c.ids {
			hs = append(hs, h(id))
		}
		if got, err := s.AnyTracked(ctx, hs); err != nil || got != c.want {
			t.Errorf("AnyTracked(%v) = %v, %v; want %v", c.ids, got, err, c.want)
		}
	}
	// Many hashes cross the chunk size; the tracked one is last.
	var many [][]byte
	for i := range 3*hashChunk + 7 {
		many = append(many, h(itoa(i)+"@nowhere"))
	}
	many = append(many, h("shared@x"))
	if got, err := s.AnyTracked(ctx, many); err != nil || !got {
		t.Errorf("AnyTracked over chunks = %v, %v", got, err)
	}
	if _, err := s.AnyTracked(ctx, [][]byte{[]byte("short")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AnyTracked(bad hash) = %v", err)
	}
}

func TestRecentCountForgetDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	for i, st := range []agent.TrackState{agent.Tracked, agent.Tracked, agent.Untracked, agent.Failed, agent.Pending} {
		m := Message{Key: agent.MessageKey("17000000" + itoa(i) + ".host"), State: st, ReceivedAt: time.UnixMilli(int64(1000 * (i + 1)))}
		if st == agent.Tracked {
			m.ActivityID = []string{guidA, guidB}[i]
			m.Regarding = &agent.RecordRef{Entity: "contact", ID: guidC}
			m.OwnedByMe = true
		}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	recent, err := s.RecentMessages(ctx, 3)
	if err != nil || len(recent) != 3 || recent[0].Key != "170000004.host" || recent[2].Key != "170000002.host" {
		t.Errorf("RecentMessages = %v, %v", recent, err)
	}
	counts, err := s.CountByState(ctx)
	if err != nil || counts[agent.Tracked] != 2 || counts[agent.Failed] != 1 || counts[agent.Pending] != 1 || len(counts) != 4 {
		t.Errorf("CountByState = %v, %v", counts, err)
	}
	ids, err := s.TrackedActivityIDs(ctx)
	if err != nil || strings.Join(ids, ",") != guidA+","+guidB {
		t.Errorf("TrackedActivityIDs = %v, %v", ids, err)
	}

	if keys, err := s.ForgetActivity(ctx, strings.ToUpper(guidA), 19); err != nil || len(keys) != 1 || keys[0] != "170000000.host" {
		t.Fatalf("ForgetActivity = %v, %v; want the one message linked to it", keys, err)
	}
	m, _, _ := s.Message(ctx, "170000000.host")
	if m.State != agent.Untracked || m.ActivityID != "" || m.Regarding != nil || m.OwnedByMe || m.Reason != 19 {
		t.Errorf("after ForgetActivity: %+v", m)
	}
	if keys, err := s.ForgetActivity(ctx, guidC, 19); err != nil || len(keys) != 0 {
		t.Errorf("ForgetActivity of an unknown activity = %v", err)
	}
	if _, err := s.ForgetActivity(ctx, "not-a-guid", 19); !errors.Is(err, ErrInvalid) {
		t.Errorf("ForgetActivity(bad) = %v", err)
	}

	if err := s.DeleteMessage(ctx, "170000001.host"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Message(ctx, "170000001.host"); ok {
		t.Error("DeleteMessage left the row")
	}
	if _, err := s.RecentMessages(ctx, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("RecentMessages(0) = %v", err)
	}
}

func TestKV(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, ok, err := s.Get(ctx, "user_id"); ok || err != nil {
		t.Errorf("Get of unset key = %v, %v", ok, err)
	}
	for _, v := range [][]byte{[]byte(guidA), []byte(guidB), nil} {
		if err := s.Set(ctx, "user_id", v); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Get(ctx, "user_id")
		if err != nil || !ok || !bytes.Equal(got, v) {
			t.Errorf("Get = %q, %v, %v; want %q", got, ok, err, v)
		}
	}
	for _, bad := range []struct {
		k string
		v []byte
	}{
		{"", nil},
		{"User Name", nil},
		{"alice@example.com", nil},
		{saltKey, make([]byte, 32)},
		{"cursor", make([]byte, maxValue+1)},
	} {
		if err := s.Set(ctx, bad.k, bad.v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%q, %d bytes) = %v, want ErrInvalid", bad.k, len(bad.v), err)
		}
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	ok := Message{Key: "1700000000.M1P2Q3.host", State: agent.Tracked, ActivityID: guidA}
	long := strings.Repeat("k", 256)
	cases := []struct {
		name string
		edit func(m *Message)
	}{
		{"empty key", func(m *Message) { m.Key = "" }},
		{"key with slash", func(m *Message) { m.Key = "cur/1.host" }},
		{"key with NUL", func(m *Message) { m.Key = "1\x00host" }},
		{"key too long", func(m *Message) { m.Key = agent.MessageKey(long) }},
		{"hidden key", func(m *Message) { m.Key = ".1.host" }},
		{"subject as key", func(m *Message) { m.Key = "Re: contract renewal" }},
		{"address as key", func(m *Message) { m.Key = "bob@example.com" }},
		{"tab in key", func(m *Message) { m.Key = "1\thost" }},
		{"folder without dot", func(m *Message) { m.Folder = "Sent" }},
		{"folder with slash", func(m *Message) { m.Folder = ".a/b" }},
		{"address as folder", func(m *Message) { m.Folder = ".bob@example.com" }},
		{"folder newline", func(m *Message) { m.Folder = ".a\nb" }},
		{"short hash", func(m *Message) { m.MsgIDHash = []byte{1, 2, 3} }},
		{"raw message ID as hash", func(m *Message) { m.MsgIDHash = []byte("<m1@example.invalid>") }},
		{"state", func(m *Message) { m.State = 9 }},
		{"negative reason", func(m *Message) { m.Reason = -1 }},
		{"huge reason", func(m *Message) { m.Reason = MaxCode + 1 }},
		{"address as activity", func(m *Message) { m.ActivityID = "bob@example.com" }},
		{"braced activity", func(m *Message) { m.ActivityID = "{" + guidA + "}" }},
		{"activity with junk", func(m *Message) { m.ActivityID = guidA[:35] + "g" }},
		{"bad entity", func(m *Message) { m.Regarding = &agent.RecordRef{Entity: "systemuser", ID: guidB} }},
		{"name as entity", func(m *Message) { m.Regarding = &agent.RecordRef{Entity: "Bob Smith", ID: guidB} }},
		{"regarding without ID", func(m *Message) { m.Regarding = &agent.RecordRef{Entity: "contact"} }},
		{"name as regarding ID", func(m *Message) { m.Regarding = &agent.RecordRef{Entity: "contact", ID: "Bob Smith"} }},
	}
	for _, c := range cases {
		m := ok
		c.edit(&m)
		err := s.PutMessage(ctx, m)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: PutMessage = %v, want ErrInvalid", c.name, err)
			continue
		}
		// Errors end up in logs; they must not carry the refused value.
		for _, leak := range []string{"bob@example.com", "Bob Smith", "contract renewal", "m1@example.invalid"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: error quotes the refused value: %v", c.name, err)
			}
		}
	}
	if n, _ := s.CountByState(ctx); len(n) != 0 {
		t.Errorf("refused writes left rows: %v", n)
	}
	if err := s.PutMessage(ctx, ok); err != nil {
		t.Errorf("valid message refused: %v", err)
	}
	// Key shapes that real Maildir tools write are accepted.
	for _, k := range []string{"1700000000.M20046P1234Q5R0123456789abcdef.host.example", "1700000000.R123.host,U=5,FMD5=abc",
		"1700000000_0.1234.host,U=7", "1700000000.M1P2.host\\057name\\072x"} {
		if err := s.PutMessage(ctx, Message{Key: agent.MessageKey(k)}); err != nil {
			t.Errorf("key %q refused: %v", k, err)
		}
	}
	if _, err := os.Stat(s.Path()); err != nil {
		t.Fatal(err)
	}
}

func TestPutMessagesBatchKeepsExisting(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	user := Message{Key: "1700000000.user.host", State: agent.Pending, Reason: 14}
	if err := s.PutMessage(ctx, user); err != nil {
		t.Fatal(err)
	}
	var batch []Message
	for i := range 300 {
		batch = append(batch, Message{Key: agent.MessageKey(fmt.Sprintf("1700000%03d.M%dP1.host", i, i)), State: agent.Untracked, Reason: 11})
	}
	batch = append(batch, Message{Key: user.Key, State: agent.Untracked, Reason: 11})
	kept, err := s.PutMessages(ctx, batch, true)
	if err != nil || len(kept) != 1 || kept[0] != user.Key {
		t.Fatalf("PutMessages kept %v, %v; want the user's row", kept, err)
	}
	counts, err := s.CountByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[agent.Untracked] != 300 || counts[agent.Pending] != 1 {
		t.Errorf("after the batch: %v; want 300 untracked and the user's pending row untouched", counts)
	}
	if _, err := s.PutMessages(ctx, []Message{{Key: "bad key with spaces"}}, true); err == nil {
		t.Error("a batch with a non-ID key must be refused")
	}
}
