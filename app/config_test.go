package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"crmsync/agent"
)

// TestConfigOneWriter has the engine's Save and the keychain's SetAccount
// write the settings file at the same time. Each writer's values only go
// forward, so the file must never show an older value of either after a
// newer one, and must end with the last of both.
func TestConfigOneWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	cfg := NewConfig(path)
	const n = 200
	const crmURL = "https://org.crm.dynamics.com"
	var writers sync.WaitGroup
	writers.Add(2)
	go func() {
		defer writers.Done()
		for i := range n {
			s := agent.Settings{ConnectionEnabled: true, CRMURL: crmURL, MaildirPath: "/home/a/Maildir",
				ExcludedAddresses: []string{fmt.Sprintf("save-%d@x.example", i)}, AutoTrack: agent.AutoTrackScope(i % 3)}
			if err := cfg.Save(s); err != nil {
				t.Errorf("Save %d: %v", i, err)
				return
			}
		}
	}()
	go func() {
		defer writers.Done()
		for i := range n {
			if err := cfg.SetAccount(crmURL, fmt.Sprintf("user-%d@x.example", i)); err != nil {
				t.Errorf("SetAccount %d: %v", i, err)
				return
			}
		}
	}()

	// A reader of the file, as the next start would be: the counters of
	// both writers only go up.
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		lastSave, lastUser := -1, -1
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			var f configFile
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("a reader saw a half-written file: %v\n%s", err, b)
				return
			}
			save, user := counter(f.ExcludedAddresses, "save-"), counter([]string{f.Username}, "user-")
			if save < lastSave || user < lastUser {
				t.Errorf("the file went back: save %d after %d, user %d after %d", save, lastSave, user, lastUser)
				return
			}
			lastSave, lastUser = save, user
		}
	}()
	writers.Wait()
	close(stop)
	<-readerDone

	want := fmt.Sprintf("save-%d@x.example", n-1)
	wantUser := fmt.Sprintf("user-%d@x.example", n-1)
	for name, c := range map[string]*Config{"the writer": cfg, "a fresh reader": NewConfig(path)} {
		s, err := c.Load()
		if err != nil {
			t.Fatalf("%s: Load: %v", name, err)
		}
		gotURL, gotUser := c.Account()
		if !slices.Equal(s.ExcludedAddresses, []string{want}) || s.MaildirPath != "/home/a/Maildir" || gotUser != wantUser || gotURL != crmURL {
			t.Errorf("%s: settings %v, account %s %s; want the last of both: %s, %s", name, s.ExcludedAddresses, gotURL, gotUser, want, wantUser)
		}
	}
}

// counter reads the number in the first value with prefix, or -1.
func counter(vals []string, prefix string) int {
	for _, v := range vals {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			num, _, _ := strings.Cut(rest, "@")
			if i, err := strconv.Atoi(num); err == nil {
				return i
			}
		}
	}
	return -1
}

// TestConfigKeepsDamagedFile proves a write never replaces a settings file
// the user was told to fix.
func TestConfigKeepsDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(path)
	if _, err := cfg.Load(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Load of a damaged file: %v", err)
	}
	if err := cfg.SetAccount("https://org.example", "a@b"); err == nil {
		t.Error("SetAccount replaced a damaged file")
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Errorf("the damaged file was changed: %q", b)
	}
}
