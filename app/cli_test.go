package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/control"
)

// lockedBuffer is an io.Writer safe for the server goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb lockedBuffer
	code = Main(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{[]string{"help"}, ExitOK, "", "crmsync localcrm serve"},
		{[]string{"--help"}, ExitOK, "", "Usage:"},
		{[]string{"agent", "--crm", "http://127.0.0.1:1"}, ExitUsage, "missing --maildir DIR", ""},
		{[]string{"agent", "--crm", "http://127.0.0.1:1", "--maildir", ".", "--password-stdin"}, ExitUsage, "missing --user EMAIL (with --password-stdin)", ""},
		{[]string{"agent", "--crm", "http://127.0.0.1:1", "--maildir", ".", "--browser", "--device-code"}, ExitUsage, "choose one way to sign in", ""},
		{[]string{"signout", "--data", "/nonexistent/crmsync"}, ExitOK, "", "No saved sign-in to delete."},
		{[]string{"agent", "--crm", "http://crm.example.com", "--user", "a@b.example", "--maildir", "."}, ExitUsage, "https is required", ""},
		{[]string{"agent", "--crm", "https://crm.example.com", "--user", "a@b.example", "--maildir", "/nonexistent/mail"}, ExitUsage, "missing cur/, new/, tmp/", ""},
		{[]string{"status", "--data", "/nonexistent/crmsync"}, ExitFailure, "no crmsync agent is running", ""},
		{[]string{"untrack"}, ExitUsage, "usage: crmsync status", ""},
		{[]string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`, ""},
		{[]string{"--nope"}, ExitUsage, "unknown option --nope", ""},
		{[]string{"localcrm"}, ExitUsage, "usage: crmsync localcrm serve", ""},
		{[]string{"localcrm", "serve"}, ExitUsage, "--data DIR is required", ""},
		{[]string{"localcrm", "serve", "--data", "x", "extra"}, ExitUsage, `unexpected argument "extra"`, ""},
		{[]string{"localcrm", "serve", "--bogus"}, ExitUsage, "flag provided but not defined", ""},
		{[]string{"localcrm", "serve", "--data", "x", "--app", "marketing"}, ExitUsage, `--app must be all, sales, service or none, not "marketing"`, ""},
		{[]string{"localcrm", "serve", "--data", "x", "--limit-window", "10ms"}, ExitUsage, "--limit-window at least 1s", ""},
	}
	for _, tt := range tests {
		code, out, errs := run(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.stderr) || !strings.Contains(out, tt.stdout) {
			t.Errorf("crmsync %v = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, errs, tt.code, tt.stdout, tt.stderr)
		}
	}
}

func TestLocalCRMRefusesRemoteListen(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8555", ":8555", "192.0.2.1:8555"} {
		code, _, errs := run(t, "localcrm", "serve", "--listen", listen, "--data", t.TempDir())
		if code != ExitFailure || !strings.Contains(errs, "loopback") {
			t.Errorf("listen %s: exit %d, %q; want a refusal that explains loopback", listen, code, errs)
		}
	}
	code, _, errs := run(t, "localcrm", "serve", "--listen", "0.0.0.0:8555", "--allow-remote", "--data", t.TempDir())
	if code != ExitFailure || !strings.Contains(errs, "tls") && !strings.Contains(errs, "TLS") {
		t.Errorf("--allow-remote without TLS: exit %d, %q; want a refusal naming TLS", code, errs)
	}
}

// serveLocalCRM runs "crmsync localcrm serve" on a loopback port with its
// data in dir and further args, as a user would, until the test ends, and
// returns its URL.
func serveLocalCRM(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"localcrm", "serve", "--listen", "127.0.0.1:0", "--data", dir}, args...),
			Stdio{In: strings.NewReader(""), Out: pw, Err: &errb})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != ExitOK {
				t.Errorf("serve exited %d after cancel: %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10 s of cancel")
		}
	})
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no ready line; stderr: %s", errb.String())
	}
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(lines.Text())
	if base == "" {
		t.Fatalf("ready line %q names no loopback URL", lines.Text())
	}
	return base
}

// TestLocalCRMServeDemo starts "crmsync localcrm serve --seed demo" as a
// user would and speaks raw HTTP to it, checking the shapes Dataverse
// documents.
func TestLocalCRMServeDemo(t *testing.T) {
	dir := t.TempDir()
	base := serveLocalCRM(t, dir, "--seed", "demo")
	api := base + "/api/data/v9.2/"

	token := func(user, pw string) string {
		resp, err := http.PostForm(base+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"},
			"client_id": {"crmsync"}, "username": {user}, "password": {pw}, "scope": {base + "/user_impersonation offline_access"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken, RefreshToken, TokenType string
			ExpiresIn                            int `json:"expires_in"`
		}
		var raw map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &raw)
		tok.AccessToken, _ = raw["access_token"].(string)
		tok.TokenType, _ = raw["token_type"].(string)
		tok.RefreshToken, _ = raw["refresh_token"].(string)
		if resp.StatusCode != 200 || tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || raw["expires_in"] == nil {
			t.Fatalf("token for %s: %d %s", user, resp.StatusCode, b)
		}
		return tok.AccessToken
	}
	call := func(tok, method, path, body string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("OData-MaxVersion", "4.0")
		req.Header.Set("OData-Version", "4.0")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
			}
		}
		return resp, m
	}
	alice, bob := token("alice@demo.local", "demo-alice"), token("bob@demo.local", "demo-bob")

	resp, who := call(alice, "GET", "WhoAmI()", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || who["UserId"] == nil {
		t.Fatalf("WhoAmI: %d %v", resp.StatusCode, who)
	}
	if resp, _ := call("bogus", "GET", "WhoAmI()", ""); resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("bad token: %d %q; want 401 with WWW-Authenticate: Bearer", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, contacts := call(alice, "GET", "contacts?$select=fullname,emailaddress1&$top=2", "")
	rows, _ := contacts["value"].([]any)
	if resp.StatusCode != 200 || len(rows) != 2 || contacts["@odata.context"] == nil {
		t.Fatalf("contacts query: %d %v", resp.StatusCode, contacts)
	}
	contactID, _ := rows[0].(map[string]any)["contactid"].(string)

	// The sender of an email can be a user or a queue only (the targets
	// of "from" in Microsoft's email reference): a contact goes by address.
	sender := func(party string) string {
		return `{"subject":"Quote","description":"Hello","messageid":"<demo-1@example.com>","directioncode":false,` +
			`"regardingobjectid_contact_email@odata.bind":"/contacts(` + contactID + `)",` +
			`"email_activity_parties":[` + party + `,` +
			`{"addressused":"someone@unknown.example","participationtypemask":2}]}`
	}
	if resp, e := call(alice, "POST", "emails", sender(`{"partyid_contact@odata.bind":"/contacts(`+contactID+`)","participationtypemask":1}`)); resp.StatusCode != 400 ||
		!strings.Contains(fmt.Sprint(e["error"]), "sender of an email can be a user or a queue") {
		t.Errorf("a contact as sender: %d %v; want 400 saying a sender is a user or a queue", resp.StatusCode, e)
	}
	resp, _ = call(alice, "POST", "emails", sender(`{"addressused":"maria.campbell@contoso.example","participationtypemask":1}`))
	entity := resp.Header.Get("OData-EntityId")
	if resp.StatusCode != 204 || !regexp.MustCompile(`^`+regexp.QuoteMeta(api)+`emails\([0-9a-f-]{36}\)$`).MatchString(entity) {
		t.Fatalf("create email: %d, OData-EntityId %q", resp.StatusCode, entity)
	}
	emailPath := strings.TrimPrefix(entity, api)
	resp, got := call(alice, "GET", emailPath+"?$select=subject,_regardingobjectid_value&$expand=email_activity_parties($select=participationtypemask,addressused)", "")
	parties, _ := got["email_activity_parties"].([]any)
	if resp.StatusCode != 200 || got["_regardingobjectid_value"] != contactID || len(parties) != 2 {
		t.Errorf("read back: %d %v", resp.StatusCode, got)
	}
	if resp, e := call(bob, "DELETE", emailPath, ""); resp.StatusCode != 403 || e["error"] == nil {
		t.Errorf("bob deleting alice's email: %d %v; want 403 with an OData error", resp.StatusCode, e)
	}
	if resp, e := call(bob, "GET", emailPath+"?$select=subject", ""); resp.StatusCode != 200 || e["subject"] != "Quote" {
		t.Errorf("bob reading alice's email: %d %v", resp.StatusCode, e)
	}
	if resp, e := call(alice, "POST", "emails", `{"subject": "broken`); resp.StatusCode != 400 || e["error"] == nil {
		t.Errorf("malformed JSON: %d %v; want 400 with an OData error", resp.StatusCode, e)
	}

	// The store is a real file in --data, private to the user.
	var dbs []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Mode().Perm()&0o077 != 0 {
			dbs = append(dbs, p+" "+fi.Mode().String())
		}
		return nil
	})
	if len(dbs) > 0 {
		t.Errorf("files readable by others in the data directory: %v", dbs)
	}
}

// TestLocalCRMServeLimitsAndApp: --limit-requests and --limit-window set
// the service protection a user meets, and --app which optional tables
// exist; a missing table answers as Dataverse answers an unknown one.
func TestLocalCRMServeLimitsAndApp(t *testing.T) {
	base := serveLocalCRM(t, t.TempDir(), "--seed", "demo", "--app", "none", "--limit-requests", "3", "--limit-window", "1m")
	resp, err := http.PostForm(base+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {"crmsync"},
		"username": {"alice@demo.local"}, "password": {"demo-alice"}, "scope": {base + "/user_impersonation"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+"/api/data/v9.2/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := get("opportunities?$select=name"); resp.StatusCode != 404 || !strings.Contains(body, "0x80060888") ||
		!strings.Contains(body, "Resource not found for the segment 'opportunities'") {
		t.Errorf("opportunities with --app none: %d %s; want Dataverse's 404 for an unknown entity set", resp.StatusCode, body)
	}
	for i, want := range []string{"1", "0"} {
		resp, body := get("contacts?$select=fullname&$top=1")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+2, resp.StatusCode, body)
		}
		if got := resp.Header.Get("x-ms-ratelimit-burst-remaining-xrm-requests"); got != want {
			t.Errorf("request %d: burst remaining %q, want %q", i+2, got, want)
		}
	}
	resp, body := get("contacts?$select=fullname&$top=1")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "Number of requests exceeded the limit of 3 over time window of 60 seconds.") {
		t.Errorf("fourth request in the window: %d, Retry-After %q, %s; want 429 with Dataverse's message", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
}

func TestIsGUIFlag(t *testing.T) {
	for arg, want := range map[string]bool{"--data": true, "-data": true, "--data=/x": true, "-v": true,
		"--demo": false, "--help": false, "--database": false, "data": false, "status": false} {
		if got := isGUIFlag(arg); got != want {
			t.Errorf("isGUIFlag(%q) = %v, want %v", arg, got, want)
		}
	}
}

func TestGUIWithoutDisplayExplains(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	code, _, errs := run(t, "--demo", "--data", t.TempDir())
	if code != ExitFailure || !strings.Contains(errs, "no graphical display") || !strings.Contains(errs, "crmsync agent") {
		t.Errorf("--demo without a display: exit %d, %q", code, errs)
	}
}

func TestFoldersCLIUsage(t *testing.T) {
	const id = "6f1c3e0a-8d3b-4c6e-9a57-2a4c1d1e0b11"
	nowhere := "/nonexistent/crmsync"
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"folders", "--data", nowhere}, ExitFailure, "crmsync folders: no crmsync agent is running"},
		{[]string{"folders", "add", "INBOX/Contoso", "account:" + id, "--data", nowhere}, ExitFailure, "crmsync folders add: no crmsync agent is running"},
		{[]string{"folders", "remove", "--data", nowhere, "INBOX/Contoso"}, ExitFailure, "crmsync folders remove: no crmsync agent is running"},
		{[]string{"folders", "add", "Kunden/Müller GmbH", "case:{" + id + "}", "--data", nowhere}, ExitFailure, "no crmsync agent is running"},
		{[]string{"folders", "--data", nowhere, "--", "remove", "-Archive"}, ExitFailure, "no crmsync agent is running"},
		{[]string{"folders", "-h"}, ExitOK, "-data"},
		{[]string{"folders", "list"}, ExitUsage, `unknown sub-command "list"`},
		{[]string{"folders", "frob", "x"}, ExitUsage, "usage: crmsync folders [add FOLDER ENTITY:GUID | remove FOLDER]"},
		{[]string{"folders", "add"}, ExitUsage, "usage: crmsync folders"},
		{[]string{"folders", "add", "INBOX"}, ExitUsage, "usage: crmsync folders"},
		{[]string{"folders", "add", "Big", "deal", "account:" + id}, ExitUsage, "quote a folder name that contains spaces"},
		{[]string{"folders", "remove"}, ExitUsage, "usage: crmsync folders"},
		{[]string{"folders", "remove", "Big", "deal"}, ExitUsage, "too many arguments"},
		{[]string{"folders", "--bogus"}, ExitUsage, "flag provided but not defined"},
		{[]string{"folders", "-n", "3"}, ExitUsage, "flag provided but not defined"},
		{[]string{"folders", "add", "", "account:" + id}, ExitUsage, "crmsync folders add: a folder name is required"},
		{[]string{"folders", "remove", "IN\x1bBOX"}, ExitUsage, "contains a control character"},
		{[]string{"folders", "remove", "bad\xffname"}, ExitUsage, "not valid UTF-8"},
		{[]string{"folders", "remove", strings.Repeat("f", 1001)}, ExitUsage, "folder name is too long (1001 bytes; at most 1000)"},
		{[]string{"folders", "add", "INBOX", "lead:" + id}, ExitUsage, `crmsync folders add: "lead" cannot be a regarding record`},
		{[]string{"folders", "add", "INBOX", id}, ExitUsage, "is not ENTITY:GUID"},
		{[]string{"folders", "add", "INBOX", "contact:1234"}, ExitUsage, `"1234" is not a record id`},
	}
	for _, tt := range tests {
		code, _, errs := run(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.stderr) {
			t.Errorf("crmsync %q = %d, stderr %q; want %d, %q", tt.args, code, errs, tt.code, tt.stderr)
		}
	}
	if _, out, _ := run(t, "help"); !strings.Contains(out, "crmsync folders [add FOLDER ENTITY:GUID | remove FOLDER]") {
		t.Errorf("help does not show the folders command:\n%s", out)
	}
}

// folderAgent is an agent whose folder rules live in memory. The folder
// commands use nothing else of the backend, so the rest stays nil.
type folderAgent struct {
	control.Backend
	mu    sync.Mutex
	rules []agent.FolderRule
	names map[string]string // record id → the name the CRM would fill in
	err   error             // returned by every folder method when set
}

func (f *folderAgent) FolderRules(ctx context.Context) ([]agent.FolderRule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]agent.FolderRule(nil), f.rules...), f.err
}

func (f *folderAgent) AddFolderRule(ctx context.Context, folder string, r agent.RecordRef) (agent.FolderRule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return agent.FolderRule{}, f.err
	}
	r.Name = f.names[r.ID]
	rule := agent.FolderRule{ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", len(f.rules)+1), Folder: folder, Regarding: r}
	f.rules = append(f.rules, rule)
	return rule, nil
}

func (f *folderAgent) RemoveFolderRule(ctx context.Context, folder string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for i, r := range f.rules {
		if r.Folder == folder {
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no folder rule for %q", folder)
}

// serveFolders runs a control socket for be in a fresh data directory
// and returns the directory. The directory is made under the system's
// temporary directory, since t.TempDir can exceed a socket address's
// 108 bytes.
func serveFolders(t *testing.T, be control.Backend) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := control.Listen(filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.NewServer(ln, be, nil).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control server: %v", err)
		}
		ln.Close()
	})
	return dir
}

func TestFoldersCLI(t *testing.T) {
	const contoso, deal = "6f1c3e0a-8d3b-4c6e-9a57-2a4c1d1e0b11", "0b8e2a44-51c9-4f0e-8c1d-7d3e9a6b2c55"
	be := &folderAgent{names: map[string]string{contoso: "Müller GmbH"}}
	data := serveFolders(t, be)
	step := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errs := run(t, append(args, "--data", data)...)
		if code != want {
			t.Fatalf("crmsync %q = %d, stdout %q, stderr %q; want %d", args, code, out, errs, want)
		}
		return out, errs
	}

	if out, _ := step(ExitOK, "folders"); out != "No folder rules; add one with: crmsync folders add FOLDER ENTITY:GUID\n0 of 25 rules\n" {
		t.Errorf("no rules:\n%s", out)
	}
	out, _ := step(ExitOK, "folders", "add", "INBOX/Kunden/Müller GmbH", "Account:"+strings.ToUpper(contoso))
	if want := `mapped folder "INBOX/Kunden/Müller GmbH" to account "Müller GmbH" (rule 00000000-0000-0000-0000-000000000001)`; !strings.HasPrefix(out, want) {
		t.Errorf("add printed %q; want it to start with %q", out, want)
	}
	// A record whose name the CRM does not give is named by its id.
	out, _ = step(ExitOK, "folders", "add", ".Projects.Big deal", "opportunity:"+deal)
	if !strings.Contains(out, `to opportunity `+deal+` (rule`) {
		t.Errorf("add without a name printed %q", out)
	}
	out, _ = step(ExitOK, "folders")
	want := "" +
		"FOLDER                    TYPE         RECORD                                RULE\n" +
		"INBOX/Kunden/Müller GmbH  account      Müller GmbH                           00000000-0000-0000-0000-000000000001\n" +
		".Projects.Big deal        opportunity  " + deal + "  00000000-0000-0000-0000-000000000002\n" +
		"2 of 25 rules\n"
	if out != want {
		t.Errorf("folders printed:\n%s\nwant:\n%s", out, want)
	}
	out, _ = step(ExitOK, "folders", "remove", "INBOX/Kunden/Müller GmbH")
	if out != "removed the rule for folder \"INBOX/Kunden/Müller GmbH\"; mail already tracked through it stays tracked\n" {
		t.Errorf("remove printed %q", out)
	}
	if _, errs := step(ExitFailure, "folders", "remove", "INBOX/Kunden/Müller GmbH"); errs != "crmsync folders remove: no folder rule for \"INBOX/Kunden/Müller GmbH\"\n" {
		t.Errorf("removing a missing rule printed %q", errs)
	}

	// The agent's refusals are printed as it words them.
	for _, err := range []error{errors.New("the CRM refused: at most 25 folder rules"), agent.ErrNotAvailable} {
		be.mu.Lock()
		be.err = err
		be.mu.Unlock()
		for _, args := range [][]string{{"folders"}, {"folders", "add", "INBOX", "contact:" + contoso}, {"folders", "remove", "INBOX"}} {
			_, errs := step(ExitFailure, args...)
			if want := "crmsync " + strings.Join(args[:min(len(args), 2)], " ") + ": " + err.Error() + "\n"; errs != want {
				t.Errorf("crmsync %q printed %q; want %q", args, errs, want)
			}
		}
	}
}

func TestCtlParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		data string
		code int
		ok   bool
	}{
		{nil, nil, "", ExitOK, true},
		{[]string{"add", "INBOX", "--data", "d", "contact:x"}, []string{"add", "INBOX", "contact:x"}, "d", ExitOK, true},
		{[]string{"--data=d", "remove", "--", "-Archive"}, []string{"remove", "-Archive"}, "d", ExitOK, true},
		{[]string{"remove", "--", "--data", "x"}, []string{"remove", "--data", "x"}, "", ExitOK, true},
		{[]string{"remove", "-x"}, nil, "", ExitUsage, false},
		{[]string{"-h"}, nil, "", ExitOK, false},
	}
	for _, tt := range tests {
		fs := newFlagSet("folders", Stdio{Out: io.Discard, Err: io.Discard})
		data := fs.String("data", "", "")
		pos, code, ok := parseArgs(fs, tt.args)
		if fmt.Sprint(pos) != fmt.Sprint(tt.pos) || *data != tt.data || code != tt.code || ok != tt.ok {
			t.Errorf("parseArgs(%q) = %q (data %q), %d, %v; want %q (data %q), %d, %v", tt.args, pos, *data, code, ok, tt.pos, tt.data, tt.code, tt.ok)
		}
	}
}
