//go:build unix

package control

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"crmsync/agent"
)

func TestFolderRulesRoundTrip(t *testing.T) {
	be := &recBackend{
		rules: []agent.FolderRule{
			{ID: guid2, Folder: "INBOX/Kunden/Müller GmbH", Regarding: agent.RecordRef{Entity: "account", ID: guid1, Name: "Müller GmbH"}},
			{ID: guid1, Folder: ".Projects.Big deal", Regarding: agent.RecordRef{Entity: "opportunity", ID: guid2}},
		},
		rule: agent.FolderRule{ID: guid2, Folder: "INBOX/Contoso", Regarding: agent.RecordRef{Entity: "incident", ID: guid1, Name: "Printer on fire"}},
	}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	ctx := ctxT(t)

	rules, err := c.FolderRules(ctx)
	if err != nil || !reflect.DeepEqual(rules, be.rules) {
		t.Errorf("FolderRules = %+v, %v;\nwant %+v", rules, err, be.rules)
	}
	// An upper-case GUID is accepted and reaches the engine in canonical form.
	rule, err := c.AddFolderRule(ctx, "INBOX/Contoso", agent.RecordRef{Entity: "incident", ID: strings.ToUpper(guid1)})
	if err != nil || rule != be.rule {
		t.Errorf("AddFolderRule = %+v, %v; want %+v", rule, err, be.rule)
	}
	if err := c.RemoveFolderRule(ctx, "Archiv/2024 (alt)"); err != nil {
		t.Errorf("RemoveFolderRule: %v", err)
	}
	want := []call{
		{Method: "FolderRules"},
		{Method: "AddFolderRule", Folder: "INBOX/Contoso", Ref: &agent.RecordRef{Entity: "incident", ID: guid1}},
		{Method: "RemoveFolderRule", Folder: "Archiv/2024 (alt)"},
	}
	if got := be.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("backend calls:\n got %+v\nwant %+v", got, want)
	}

	// No rules is an empty list, not null.
	be.mu.Lock()
	be.rules = nil
	be.mu.Unlock()
	resp := dialRaw(t, ts.path).send(`{"v":1,"cmd":"folders"}`)
	if !resp.OK || string(resp.Result) != "[]" {
		t.Errorf("folders with no rules: %+v; want an empty list", resp)
	}
}

func TestFolderBadRequests(t *testing.T) {
	long := strings.Repeat("f", MaxFolderBytes+1)
	tests := []struct {
		line, text string
	}{
		{`{"v":1,"cmd":"folders","folder":"INBOX"}`, `"folders" does not take "folder"`},
		{`{"v":1,"cmd":"folders","entity":"contact"}`, `"folders" does not take "entity"`},
		{`{"v":1,"cmd":"removefolder","folder":"INBOX","id":"` + guid1 + `"}`, `"removefolder" does not take "id"`},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","key":"k","entity":"contact","id":"` + guid1 + `"}`, `"addfolder" does not take "key"`},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","regarding":{"entity":"contact","id":"` + guid1 + `"}}`, `"addfolder" does not take "regarding"`},
		{`{"v":1,"cmd":"track","key":"k","folder":"INBOX"}`, `"track" does not take "folder"`},
		{`{"v":1,"cmd":"removefolder"}`, "a folder name is required"},
		{`{"v":1,"cmd":"removefolder","folder":"   "}`, "a folder name is required"},
		{`{"v":1,"cmd":"addfolder","entity":"contact","id":"` + guid1 + `"}`, "a folder name is required"},
		{`{"v":1,"cmd":"removefolder","folder":"` + long + `"}`, "folder name is too long (1001 bytes; at most 1000)"},
		{`{"v":1,"cmd":"removefolder","folder":"IN\u0000BOX"}`, "contains a control character"},
		{`{"v":1,"cmd":"removefolder","folder":"INBOX\nfoo"}`, "contains a control character"},
		{`{"v":1,"cmd":"removefolder","folder":"a\u009bb"}`, "contains a control character"},
		{`{"v":1,"cmd":"removefolder","folder":"bad \ud800 half"}`, "not valid UTF-8"},
		{`{"v":1,"cmd":"removefolder","folder":"INBOX/../../etc"}`, `must not contain a ".." step`},
		{`{"v":1,"cmd":"removefolder","folder":".."}`, `must not contain a ".." step`},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX"}`, "needs an entity"},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","entity":"lead","id":"` + guid1 + `"}`, `"lead" cannot be a regarding record`},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","entity":"case","id":"` + guid1 + `"}`, `"case" cannot be a regarding record`},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","entity":"contact"}`, "needs an id"},
		{`{"v":1,"cmd":"addfolder","folder":"INBOX","entity":"contact","id":"{` + guid1 + `}"}`, "is not a record id"},
		{`{"v":1,"cmd":"addfolder","folder":"IN\tBOX","entity":"contact","id":"` + guid1 + `"}`, "contains a control character"},
	}
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	c := dialRaw(t, ts.path)
	for _, tt := range tests {
		resp := c.send(tt.line)
		if resp.OK || resp.Code != CodeBadRequest || !strings.Contains(resp.Error, tt.text) {
			t.Errorf("%.80s\n got %+v\nwant bad_request containing %q", tt.line, resp, tt.text)
		}
	}
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("bad requests reached the backend: %+v", calls)
	}
}

func TestValidateFolder(t *testing.T) {
	for _, f := range []string{"INBOX", "INBOX/Contoso", ".Sent", ".Projects.Big deal", "Archiv/2024 (alt)",
		"Входящие/Клиенты", "客户", "a..b", "...", " leading space", strings.Repeat("ü", MaxFolderBytes/2)} {
		if err := ValidateFolder(f); err != nil {
			t.Errorf("ValidateFolder(%q) = %v", f, err)
		}
	}
	for _, f := range []string{"", " ", "\t", "a\x00b", "a\x7fb", "a\rb", "\xff\xfe", "a\uFFFDb", ".", "./x", "x/..",
		strings.Repeat("f", MaxFolderBytes+1)} {
		if err := ValidateFolder(f); err == nil {
			t.Errorf("ValidateFolder(%q) accepted", f)
		}
	}
}

// TestFolderClientRefusesLocally: a name the agent would refuse never
// leaves the client, in particular text that JSON would change on the way.
func TestFolderClientRefusesLocally(t *testing.T) {
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	ref := agent.RecordRef{Entity: "contact", ID: guid1}
	if _, err := c.AddFolderRule(ctxT(t), "bad\xffname", ref); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Errorf("AddFolderRule with invalid UTF-8 = %v", err)
	}
	if err := c.RemoveFolderRule(ctxT(t), ""); err == nil || !strings.Contains(err.Error(), "folder name is required") {
		t.Errorf("RemoveFolderRule with no name = %v", err)
	}
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %+v", calls)
	}
}

func TestFolderErrorsReachClient(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     string
		msg      string
		sentinel error
	}{
		{"limit", errors.New("the CRM refused: at most 25 folder rules"), CodeFailed, "the CRM refused: at most 25 folder rules", nil},
		{"not available", agent.ErrNotAvailable, CodeUnavailable, "not available yet", agent.ErrNotAvailable},
		{"no rule", fmt.Errorf("no rule for folder %q: %w", "INBOX/x", errNotFound{}), CodeNotFound, `no rule for folder "INBOX/x": not found`, nil},
		{"temporary", fmt.Errorf("engine: %w", tempErr{}), CodeUnavailable, "engine: the CRM is not reachable right now", nil},
	}
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	c := dial(t, ts.path)
	ref := agent.RecordRef{Entity: "account", ID: guid1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be.mu.Lock()
			be.err = tt.err
			be.mu.Unlock()
			_, errList := c.FolderRules(ctxT(t))
			_, errAdd := c.AddFolderRule(ctxT(t), "INBOX/x", ref)
			errRemove := c.RemoveFolderRule(ctxT(t), "INBOX/x")
			for i, err := range []error{errList, errAdd, errRemove} {
				var re *RemoteError
				if !errors.As(err, &re) || re.Code != tt.code || err.Error() != tt.msg {
					t.Errorf("call %d: error = %#v; want code %q message %q", i, err, tt.code, tt.msg)
				}
				if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
					t.Errorf("call %d: errors.Is(%v, %v) = false", i, err, tt.sentinel)
				}
			}
		})
	}
}

// errNotFound is an engine failure that marks itself as not found.
type errNotFound struct{}

func (errNotFound) Error() string  { return "not found" }
func (errNotFound) NotFound() bool { return true }

func TestFormatFolderRules(t *testing.T) {
	var buf bytes.Buffer
	err := FormatFolderRules(&buf, []agent.FolderRule{
		{ID: guid2, Folder: "INBOX/Kunden/Müller GmbH", Regarding: agent.RecordRef{Entity: "account", ID: guid1, Name: "Müller GmbH"}},
		{ID: guid1, Folder: ".Projects.Big deal", Regarding: agent.RecordRef{Entity: "opportunity", ID: guid2}},
		{ID: guid1, Folder: "Evil\u202e", Regarding: agent.RecordRef{Entity: "contact", ID: guid2, Name: "\x1b[31mred\x1b[0m"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	buf.WriteString("--- none\n")
	if err := FormatFolderRules(&buf, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "folders.golden", buf.Bytes())
}
