package control

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"crmsync/agent"
)

// goldenEnv, when set to 1, rewrites the golden files instead of comparing.
const goldenEnv = "CRMSYNC_UPDATE_GOLDEN"

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv(goldenEnv) == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with %s=1 to create it)", err, goldenEnv)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestFormatStatus(t *testing.T) {
	when := time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)
	var buf bytes.Buffer
	err := FormatStatus(&buf, agent.Status{
		State: agent.StateBackoff, Since: when, LastSuccess: when.Add(-time.Hour), NextRetry: when.Add(2 * time.Minute),
		User: "Alice Example", Pending: 3, ScanDone: 10, ScanTotal: 40,
		Warnings: []agent.Warning{
			{Title: "CRM unreachable", Text: "the agent retries\nby itself", Severity: agent.SeverityWarning},
			{Title: "Signed out", Severity: agent.SeverityError},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	buf.WriteString("--- signed out, idle\n")
	if err := FormatStatus(&buf, agent.Status{State: agent.StateNeedsSignIn}); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.golden", buf.Bytes())
}

func TestFormatItems(t *testing.T) {
	when := time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)
	var buf bytes.Buffer
	err := FormatItems(&buf, []agent.Item{
		{Key: "1710408360.M1P2.host", From: "Bob Example <bob@demo.local>", Subject: "Quote for Q2", Received: when,
			Track: agent.Tracked, Regarding: &agent.RecordRef{Entity: "account", ID: guid1, Name: "Contoso"}, Reason: "sender is in the CRM"},
		{Key: "1710408361.M2P2.host", Subject: "\x1b[31mred\x1b[0m\ttab\u202eevil", Received: when.Add(time.Minute),
			Track: agent.Pending, Regarding: &agent.RecordRef{Entity: "contact", ID: guid2}},
		{Key: "k3", Track: agent.Failed, Reason: "The CRM refused the request: \x07bell"},
	})
	if err != nil {
		t.Fatal(err)
	}
	buf.WriteString("--- none\n")
	if err := FormatItems(&buf, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "items.golden", buf.Bytes())
}
