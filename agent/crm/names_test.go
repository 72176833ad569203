package crm

import (
	"strings"
	"testing"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

func TestRecordNames(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	c := f.alice()
	ctx := ctxT(t)
	contact := firstContact(t, f, c)
	accounts, err := c.Search(ctx, "a", 3)
	if err != nil {
		t.Fatal(err)
	}
	var acct agent.RecordRef
	for _, r := range accounts {
		if r.Entity == "account" {
			acct = r
		}
	}
	if acct.ID == "" {
		t.Fatal("the seed has no account with an a in its name")
	}
	gone := "00000000-0000-0000-0000-000000000001"
	refs := []agent.RecordRef{
		{Entity: "contact", ID: strings.ToUpper(contact.id)},
		{Entity: "contact", ID: contact.id}, // asked twice, fetched once
		{Entity: "account", ID: acct.ID},
		{Entity: "account", ID: gone},
		{Entity: "contact", ID: "not a guid"},
	}
	before := countHits(f, "POST", "$batch")
	names, err := c.RecordNames(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if names[contact.id] != contact.name || names[acct.ID] != acct.Name {
		t.Fatalf("RecordNames = %v; want %s=%q and %s=%q", names, contact.id, contact.name, acct.ID, acct.Name)
	}
	if _, ok := names[gone]; ok || len(names) != 2 {
		t.Fatalf("RecordNames = %v; want just the two records that exist", names)
	}
	if n := countHits(f, "POST", "$batch") - before; n != 1 {
		t.Fatalf("RecordNames sent %d batches, want 1", n)
	}
	if names, err := c.RecordNames(ctx, nil); err != nil || len(names) != 0 {
		t.Fatalf("RecordNames(nil) = %v, %v", names, err)
	}
}
