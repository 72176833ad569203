package crm

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// myMailbox returns the signed-in user's mailbox, found as the agent
// finds it.
func myMailbox(t *testing.T, c *HTTPClient) string {
	t.Helper()
	me, err := c.WhoAmI(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := c.Mailbox(ctxT(t), me.UserID)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func TestMailboxAndDelivery(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice, bob := f.alice(), f.bob()
	ctx := ctxT(t)
	aliceBox, bobBox := myMailbox(t, alice), myMailbox(t, bob)
	for user, got := range map[string]string{"alice@demo.local": aliceBox, "bob@demo.local": bobBox} {
		if want, _ := f.crm.MailboxID(user); got != want {
			t.Errorf("%s: mailbox %s, want %s", user, got, want)
		}
	}
	if d, err := alice.MailboxDelivery(ctx, aliceBox); err != nil || d != DeliveryOutlook {
		t.Fatalf("alice's delivery: %d %v", d, err)
	}
	if d, err := bob.MailboxDelivery(ctx, bobBox); err != nil || d != DeliveryServerSideSync {
		t.Fatalf("bob's delivery: %d %v", d, err)
	}
	// Any user may find a colleague's mailbox, but not read it.
	bobID, _ := f.crm.UserID("bob@demo.local")
	if mb, err := alice.Mailbox(ctx, bobID); err != nil || mb != bobBox {
		t.Fatalf("bob's mailbox found by alice: %s %v", mb, err)
	}
	_, err := alice.MailboxDelivery(ctx, bobBox)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(UserMessage(err), "does not permit") {
		t.Fatalf("bob's mailbox read by alice: %v", err)
	}
	if _, err := alice.Mailbox(ctx, "not-a-guid"); KindOf(err) != KindBadRequest {
		t.Fatalf("bad user id: %v", err)
	}
}

func TestFolderRulesAddListDelete(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice := f.alice()
	ctx := ctxT(t)
	box := myMailbox(t, alice)
	contoso := agent.RecordRef{Entity: "account", ID: localcrm.DemoID("account", "Contoso Ltd")}
	maria := agent.RecordRef{Entity: "contact", ID: localcrm.DemoID("contact", "maria.campbell@contoso.example")}

	if rules, err := alice.FolderRules(ctx, box); err != nil || len(rules) != 0 {
		t.Fatalf("no rules yet: %v %v", rules, err)
	}
	// Quotes and wildcard characters travel as they are.
	id1, err := alice.AddFolderRule(ctx, box, "INBOX/O'Brien & Co_%", `Q'4 "deals"`, contoso)
	if err != nil || !IsGUID(id1) {
		t.Fatalf("add: %q %v", id1, err)
	}
	id2, err := alice.AddFolderRule(ctx, box, "INBOX/Maria", "Maria", maria)
	if err != nil {
		t.Fatal(err)
	}
	id3, err := alice.AddFolderRule(ctx, box, "INBOX/Unmapped", "Unmapped", agent.RecordRef{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := alice.FolderRules(ctx, box)
	if err != nil {
		t.Fatal(err)
	}
	want := []FolderRule{
		{ID: id1, FolderID: "INBOX/O'Brien & Co_%", FolderName: `Q'4 "deals"`, Regarding: agent.RecordRef{Entity: "account", ID: contoso.ID, Name: "Contoso Ltd"}},
		{ID: id2, FolderID: "INBOX/Maria", FolderName: "Maria", Regarding: agent.RecordRef{Entity: "contact", ID: maria.ID, Name: "Maria Campbell"}},
		{ID: id3, FolderID: "INBOX/Unmapped", FolderName: "Unmapped"},
	}
	if fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Fatalf("rules:\n got %+v\nwant %+v", rules, want)
	}

	if err := alice.DeleteFolderRule(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if err := alice.DeleteFolderRule(ctx, id2); err != nil {
		t.Fatalf("a rule already gone counts as deleted: %v", err)
	}
	if rules, _ := alice.FolderRules(ctx, box); len(rules) != 2 || rules[0].ID != id1 || rules[1].ID != id3 {
		t.Fatalf("after delete: %+v", rules)
	}
	if err := alice.DeleteFolderRule(ctx, "{"+id1+"}"); KindOf(err) != KindBadRequest {
		t.Fatalf("braced id: %v", err)
	}
}

func TestFolderRuleRefusals(t *testing.T) {
	f := newFixture(t, localcrm.Options{})
	alice, bob := f.alice(), f.bob()
	ctx := ctxT(t)
	box, bobBox := myMailbox(t, alice), myMailbox(t, bob)
	contoso := agent.RecordRef{Entity: "account", ID: localcrm.DemoID("account", "Contoso Ltd")}

	for i := range agent.MaxFolderRules {
		if _, err := alice.AddFolderRule(ctx, box, fmt.Sprintf("INBOX/%02d", i), "", contoso); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	_, err := alice.AddFolderRule(ctx, box, "INBOX/26", "", contoso)
	if KindOf(err) != KindBadRequest || !strings.Contains(UserMessage(err), "at most 25") ||
		!strings.HasPrefix(UserMessage(err), "The CRM refused the folder rule: ") {
		t.Fatalf("26th rule: %v / %q", err, UserMessage(err))
	}
	_, err = alice.AddFolderRule(ctx, box, "INBOX/00", "", contoso)
	if !errors.Is(err, ErrConflict) || !strings.Contains(UserMessage(err), "already exists") ||
		strings.Contains(UserMessage(err), "changed by someone else") {
		t.Fatalf("duplicate: %v / %q", err, UserMessage(err))
	}

	// Another user's mailbox: refused on write, empty on read.
	_, err = alice.AddFolderRule(ctx, bobBox, "INBOX/bob", "", contoso)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(UserMessage(err), "another user") {
		t.Fatalf("bob's mailbox: %v / %q", err, UserMessage(err))
	}
	bobRule, err := bob.AddFolderRule(ctx, bobBox, "INBOX/bob", "", agent.RecordRef{})
	if err != nil {
		t.Fatal(err)
	}
	if rules, err := alice.FolderRules(ctx, bobBox); err != nil || len(rules) != 0 {
		t.Fatalf("alice lists bob's rules: %v %v", rules, err)
	}
	if err := alice.DeleteFolderRule(ctx, bobRule); !errors.Is(err, ErrForbidden) {
		t.Fatalf("alice deletes bob's rule: %v", err)
	}

	// Refused before anything is sent.
	if _, err := alice.AddFolderRule(ctx, box, strings.Repeat("x", 121), "", contoso); KindOf(err) != KindBadRequest {
		t.Fatalf("long folder id: %v", err)
	}
	if _, err := alice.AddFolderRule(ctx, box, "INBOX/q", "", agent.RecordRef{Entity: "systemuser", ID: bobBox}); KindOf(err) != KindBadRequest {
		t.Fatalf("regarding a user: %v", err)
	}
}
