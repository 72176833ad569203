package agenttest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"crmsync/agent"
)

// TestMail records the call as "TestMail URL password=B" (whether a
// password was given, never the password) and returns MailReportValue.
func (f *FakeBackend) TestMail(_ context.Context, a agent.IMAPAccount, password string) (agent.MailReport, error) {
	err := f.record("TestMail %s password=%v", a.URL(), password != "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.MailReportValue, err
}

// SaveMailPassword records the call as "SaveMailPassword URL"; the
// password itself is kept in MailPassword so a test can check it without
// it ever reaching the call log.
func (f *FakeBackend) SaveMailPassword(_ context.Context, a agent.IMAPAccount, password string) error {
	err := f.record("SaveMailPassword %s", a.URL())
	if err == nil {
		f.mu.Lock()
		f.MailPassword = password
		f.mu.Unlock()
	}
	return err
}

// MailFolders returns MailFoldersValue.
func (f *FakeBackend) MailFolders(context.Context) ([]string, error) {
	err := f.record("MailFolders")
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.MailFoldersValue...), err
}

// FolderRules returns RulesValue.
func (f *FakeBackend) FolderRules(context.Context) ([]agent.FolderRule, error) {
	err := f.record("FolderRules")
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.FolderRule(nil), f.RulesValue...), err
}

// AddFolderRule records "AddFolderRule FOLDER ENTITY:ID" and, unless it
// is scripted to fail, puts the rule into RulesValue, replacing the
// folder's rule as the CRM does. A 26th rule fails as the CRM would.
func (f *FakeBackend) AddFolderRule(_ context.Context, folder string, r agent.RecordRef) (agent.FolderRule, error) {
	if err := f.record("AddFolderRule %s %s:%s", folder, r.Entity, r.ID); err != nil {
		return agent.FolderRule{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rule := agent.FolderRule{ID: fmt.Sprintf("rule-%d", len(f.calls)), Folder: folder, Regarding: r}
	if i := slices.IndexFunc(f.RulesValue, func(x agent.FolderRule) bool { return x.Folder == folder }); i >= 0 {
		rule.ID = f.RulesValue[i].ID
		f.RulesValue[i] = rule
		return rule, nil
	}
	if len(f.RulesValue) >= agent.MaxFolderRules {
		return agent.FolderRule{}, fmt.Errorf("the CRM allows at most %d folder rules", agent.MaxFolderRules)
	}
	f.RulesValue = append(f.RulesValue, rule)
	return rule, nil
}

// RemoveFolderRule records "RemoveFolderRule FOLDER" and drops the
// folder's rule from RulesValue.
func (f *FakeBackend) RemoveFolderRule(_ context.Context, folder string) error {
	if err := f.record("RemoveFolderRule %s", folder); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.RulesValue = slices.DeleteFunc(f.RulesValue, func(x agent.FolderRule) bool { return x.Folder == folder })
	return nil
}

// Sender records "Sender KEY" and returns SenderValue[KEY] (nil: the CRM
// has no record of the sender). SenderBlock, when set, holds the answer
// until it is closed or ctx ends, for tests of a lookup overtaken by the
// next selection.
func (f *FakeBackend) Sender(ctx context.Context, k agent.MessageKey) (*agent.Person, error) {
	err := f.record("Sender %s", k)
	f.mu.Lock()
	block := f.SenderBlock
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.SenderValue[k]; p != nil {
		c := *p
		return &c, nil
	}
	return nil, nil
}

// AddContact records "AddContact KEY" or "AddContact KEY ENTITY:ID" and
// returns a contact made from the message's From (as Items holds it),
// which later Sender calls for KEY return too.
func (f *FakeBackend) AddContact(_ context.Context, k agent.MessageKey, account *agent.RecordRef) (agent.Person, error) {
	var err error
	if account != nil {
		err = f.record("AddContact %s %s:%s", k, account.Entity, account.ID)
	} else {
		err = f.record("AddContact %s", k)
	}
	if err != nil {
		return agent.Person{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var from string
	for _, it := range f.Items {
		if it.Key == k {
			from = it.From
		}
	}
	name, email := splitFrom(from)
	id := fmt.Sprintf("00000000-0000-0000-0000-%012d", len(f.calls))
	p := agent.Person{Ref: agent.RecordRef{Entity: "contact", ID: id, Name: name}, Email: email,
		WebURL: "https://org.crm.dynamics.com/main.aspx?pagetype=entityrecord&etn=contact&id=" + id}
	if account != nil {
		p.Company = account.Name
	}
	if f.SenderValue == nil {
		f.SenderValue = map[agent.MessageKey]*agent.Person{}
	}
	c := p
	f.SenderValue[k] = &c
	return p, nil
}

// splitFrom splits "Name <addr>" into its name and address.
func splitFrom(from string) (name, email string) {
	i, j := strings.LastIndexByte(from, '<'), strings.LastIndexByte(from, '>')
	if i < 0 || j < i {
		return from, from
	}
	name = strings.Trim(strings.TrimSpace(from[:i]), `"`)
	email = from[i+1 : j]
	if name == "" {
		name = email
	}
	return name, email
}
