package control

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
)

func TestSyncCommand(t *testing.T) {
	be := &recBackend{sync: agent.SyncReport{
		Started: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 12, 2, 10, 0, 2, 0, time.UTC),
		Kinds: []agent.SyncKind{
			{Kind: "contacts", Kept: 12, ToItems: agent.SyncCount{Created: 12}},
			{Kind: "appointments", Kept: 4, ToCRM: agent.SyncCount{Updated: 1}, Conflicts: 1},
		},
		Notices: []string{"Subject of \"Review\" was changed both in the CRM and in your calendar; the CRM's value was kept."},
	}}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	rep, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kinds) != 2 || rep.Kinds[0].ToItems.Created != 12 || rep.Kinds[1].Conflicts != 1 || len(rep.Notices) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	var b strings.Builder
	if err := FormatSyncReport(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"contacts", "12 kept in step", "to your address book: 12 created, 0 updated, 0 deleted",
		"to the CRM: nothing", "to the CRM: 0 created, 1 updated, 0 deleted", "1 conflicting edits", "the CRM's value was kept"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}

	be.mu.Lock()
	be.err, be.sync = errors.New("the address book and calendar are not set up"), agent.SyncReport{}
	be.mu.Unlock()
	if _, err := c.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "not set up") {
		t.Fatalf("err = %v, want the backend's sentence", err)
	}
}

func TestOutboxCommands(t *testing.T) {
	when := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	be := &recBackend{outbox: agent.OutgoingReport{Enabled: true, Why: "crmsync sends your CRM email through smtps://alice@mail.example.com:465.",
		Items: []agent.OutgoingItem{{ID: "0a1b2c3d-0000-4000-8000-000000000001", Subject: "Quote for 250 laptops", State: "failed", Modified: when}}}}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	rep, err := c.Outbox(context.Background())
	if err != nil || !rep.Enabled || len(rep.Items) != 1 || rep.Items[0].State != "failed" {
		t.Fatalf("Outbox = %+v, %v", rep, err)
	}
	var b strings.Builder
	if err := FormatOutbox(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"smtps://alice@mail.example.com:465", "0a1b2c3d-0000-4000-8000-000000000001", "failed", "Quote for 250 laptops", "crmsync outbox retry ID"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if err := c.RetryEmail(context.Background(), "0a1b2c3d-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	last := be.calls[len(be.calls)-1]
	be.mu.Unlock()
	if last.Method != "RetryEmail" || last.ID != "0a1b2c3d-0000-4000-8000-000000000001" {
		t.Fatalf("last call = %+v", last)
	}
}
