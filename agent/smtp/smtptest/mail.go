package smtptest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Delivered returns the messages in the sink (new/ and cur/), as the
// delivery agent wrote them, oldest first.
func (s *Server) Delivered(t testing.TB) [][]byte {
	t.Helper()
	msgs, err := s.delivered()
	if err != nil {
		t.Fatalf("smtptest: read the sink: %v", err)
	}
	return msgs
}

// WaitDelivered waits until at least n messages are in the sink and
// returns them all, oldest first; it fails the test after within.
// Delivery is asynchronous: Postfix queues a message before its
// delivery agent writes it.
func (s *Server) WaitDelivered(t testing.TB, n int, within time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msgs, err := s.delivered()
		if err != nil {
			t.Fatalf("smtptest: read the sink: %v", err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtptest: %d of %d messages delivered within %s\npostfix log:\n%s", len(msgs), n, within, s.tailLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// delivered reads the sink. A sink not made yet holds nothing: the
// delivery agent creates it with the first message.
func (s *Server) delivered() ([][]byte, error) {
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.Sink, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			files = append(files, file{filepath.Join(s.Sink, sub, e.Name()), info.ModTime()})
		}
	}
	// Maildir names start with the delivery time in seconds; the
	// modification time orders within a second.
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.Before(files[j].mod)
		}
		return files[i].path < files[j].path
	})
	msgs := make([][]byte, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
	return msgs, nil
}
