package engine

import (
	"context"
	"strings"
	"testing"

	"crmsync/agent"
)

// TestSenderAndAddContact looks up a known sender's CRM record live, adds
// an unknown sender as a contact of an account, and checks the address
// that left the device is on record in "What was sent".
func TestSenderAndAddContact(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	h.deliver(k(1), "Maria Campbell <maria.campbell@contoso.example>", "Quote", "snd-1@contoso.example")
	h.deliver(k(2), "Sam Stranger <sam.stranger@unknown.example>", "Hello", "snd-2@unknown.example")
	waitFor(t, "both decided", func() bool { return message(t, e, k(1)).Reason != 0 && message(t, e, k(2)).Reason != 0 })
	ctx := context.Background()

	p, err := e.Sender(ctx, k(1))
	if err != nil || p == nil {
		t.Fatalf("Sender = %v, %v", p, err)
	}
	if p.Ref.Entity != "contact" || p.Ref.Name != "Maria Campbell" || p.Company != "Contoso Ltd" ||
		p.JobTitle != "Purchasing Manager" || p.Owner != "Alice Martin" || !strings.Contains(p.WebURL, p.Ref.ID) {
		t.Fatalf("Sender = %+v", *p)
	}
	if p, err := e.Sender(ctx, k(2)); err != nil || p != nil {
		t.Fatalf("Sender of a stranger = %v, %v; want nil", p, err)
	}

	acct := record(t, e, "account", "Tailspin Toys")
	added, err := e.AddContact(ctx, k(2), &acct)
	if err != nil {
		t.Fatal(err)
	}
	if added.Ref.Entity != "contact" || added.Ref.Name != "Sam Stranger" || added.Company != "Tailspin Toys" {
		t.Fatalf("AddContact = %+v", added)
	}
	p, err = e.Sender(ctx, k(2))
	if err != nil || p == nil || p.Ref.ID != added.Ref.ID {
		t.Fatalf("Sender after adding = %v, %v; want the new contact", p, err)
	}
	found := false
	for _, d := range e.Disclosures(10) {
		if d.Key == k(2) && strings.Contains(d.Purpose, "contact") {
			found = true
		}
	}
	if !found {
		t.Fatalf("What was sent does not list the new contact: %+v", e.Disclosures(10))
	}
	if _, err := e.AddContact(ctx, k(2), &agent.RecordRef{Entity: "contact", ID: added.Ref.ID}); err == nil {
		t.Fatal("a contact as the company was accepted")
	}
}
