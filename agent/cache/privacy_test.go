package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
)

// Display data of the kind the agent handles in memory. None of it may ever
// reach the cache files.
var secrets = []string{
	"erin.mcallister@northwind-example.com",
	"Erin McAllister",
	"Renewal quote for Northwind Traders Q3",
	"Northwind Traders",
	"CAFEBABE.1700000000.7781@mail.northwind-example.com", // a Message-ID
	"Dear Erin, please find the quote attached",
}

func TestNothingButIDsAtRest(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	msgID := "<" + secrets[4] + ">"

	// Ordinary use: every value is an ID, a hash, a code or a time. The
	// Regarding name comes along, as it does from the CRM, and is dropped.
	reg := &agent.RecordRef{Entity: "account", ID: guidB, Name: secrets[3]}
	for i := range 50 {
		m := Message{Key: agent.MessageKey("1700000" + itoa(i) + ".M1P2Q3.host"), Folder: s.HashFolder(".Sent"),
			MsgIDHash: s.HashMessageID(msgID), State: agent.Tracked, Reason: 3, ActivityID: guidA,
			Regarding: reg, OwnedByMe: true, ReceivedAt: time.Now()}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		a, err := s.Enqueue(ctx, Action{Key: agent.MessageKey("1800000" + itoa(i) + ".host"), Kind: ActionTrack, Regarding: reg})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			s.Reschedule(ctx, a.ID, time.Now().Add(time.Minute), 17)
		}
	}
	if err := s.Set(ctx, "user_id", []byte(guidC)); err != nil {
		t.Fatal(err)
	}

	// Mistakes: display data where an ID belongs is refused.
	for _, m := range []Message{
		{Key: "1.host", ActivityID: secrets[0]},
		{Key: agent.MessageKey(secrets[2])},
		{Key: agent.MessageKey(secrets[0])},
		{Key: agent.MessageKey(secrets[4])},
		{Key: "1.host", Folder: "." + secrets[0]},
		{Key: "1.host", MsgIDHash: []byte(secrets[4])[:32]},
		{Key: "1.host", Regarding: &agent.RecordRef{Entity: secrets[3], ID: guidA}},
		{Key: "1.host", Regarding: &agent.RecordRef{Entity: "contact", ID: secrets[1]}},
	} {
		if err := s.PutMessage(ctx, m); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutMessage(%+v) = %v, want ErrInvalid", m, err)
		}
	}
	for _, a := range []Action{
		{Key: agent.MessageKey(secrets[2]), Kind: ActionTrack},
		{Key: "1.host", Kind: ActionSetRegarding, Regarding: &agent.RecordRef{Entity: "contact", ID: secrets[0]}},
		{Key: "1.host", Kind: ActionTrack, IdemKey: secrets[1]},
	} {
		if _, err := s.Enqueue(ctx, a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", a, err)
		}
	}
	for _, k := range []string{secrets[0], secrets[1]} {
		if err := s.Set(ctx, k, []byte(guidA)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Set(%q) = %v, want ErrInvalid", k, err)
		}
	}

	assertAbsent := func(when string) {
		t.Helper()
		found := 0
		for _, suffix := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			found++
			for _, sec := range secrets {
				for _, form := range []string{sec, strings.ToLower(sec), strings.ToUpper(sec)} {
					if bytes.Contains(data, []byte(form)) {
						t.Errorf("%s: %q found in cache.db%s", when, form, suffix)
					}
				}
			}
			// The hash is stored, not the ID.
			if suffix == "" || suffix == "-wal" {
				if bytes.Contains(data, s.HashMessageID(msgID)) {
					found += 10
				}
			}
		}
		if found < 11 {
			t.Errorf("%s: the Message-ID hash was not found in the files; is the test reading the right ones?", when)
		}
	}
	// While open, most of the data sits in the WAL; after Close it is in
	// the database file.
	assertAbsent("while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertAbsent("after close")
}

// TestFolderNamesRewrittenAsHashes opens a cache in which an older version
// kept folder names and checks they are replaced by their salted hashes,
// that the rows keep everything else, and that a second open finds
// nothing to do.
func TestFolderNamesRewrittenAsHashes(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	if err := s.PutMessage(ctx, Message{Key: "1.host", MsgIDHash: s.HashMessageID("<a@x>"), State: agent.Tracked, ActivityID: guidA}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMessage(ctx, Message{Key: "2.host"}); err != nil {
		t.Fatal(err)
	}
	want := s.HashFolder(".Contoso deal")
	s.Close()
	db := raw(t, path)
	if _, err := db.Exec("UPDATE messages SET folder = '.Contoso deal' WHERE key = '1.host'"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openAt(t, path)
	m, ok, err := s.Message(ctx, "1.host")
	if err != nil || !ok {
		t.Fatalf("Message = %v, %v", ok, err)
	}
	if m.Folder != want || m.ActivityID != guidA || m.State != agent.Tracked {
		t.Fatalf("after reopening: %+v, want folder %s and the rest kept", m, want)
	}
	if m2, _, _ := s.Message(ctx, "2.host"); m2.Folder != "" {
		t.Fatalf("the inbox row's folder = %q, want empty", m2.Folder)
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Contoso")) {
		t.Fatal("the folder name is still in the cache file")
	}
}

func TestHashFolder(t *testing.T) {
	s, _ := openTemp(t)
	if s.HashFolder("") != "" || s.HashFolder("INBOX") != "" || s.HashFolder("Inbox") != "" {
		t.Fatal("the inbox must hash to the empty folder")
	}
	a, b := s.HashFolder("INBOX/Contoso"), s.HashFolder(".Contoso")
	if !isFolderHash(a) || !isFolderHash(b) || a == b {
		t.Fatalf("HashFolder = %q, %q", a, b)
	}
	if s.HashFolder("INBOX/Contoso") != a {
		t.Fatal("HashFolder is not stable")
	}
}
