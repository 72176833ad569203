package ui

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the UI on the agent contract: it must never reach
// the engine, the cache, the CRM client, SQLite, fsnotify or the keychain.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"crmsync/agent/engine", "crmsync/agent/cache", "crmsync/agent/crm", "crmsync/agent/maildir",
		"crmsync/agent/outbox", "crmsync/agent/track", "crmsync/agent/conn", "crmsync/app",
		"github.com/mattn/go-sqlite3", "github.com/fsnotify/fsnotify", "github.com/zalando/go-keyring",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("ui imports %s; it may use only fyne, assets and the agent contract", dep)
			}
		}
	}
}
