package imap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
	"crmsync/agent/maildir"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want agent.IMAPAccount
	}{
		{"imaps://alice@mail.contoso.com:993", agent.IMAPAccount{Host: "mail.contoso.com", Port: 993, Security: agent.SecurityTLS, Username: "alice"}},
		{"imaps://alice@mail.contoso.com", agent.IMAPAccount{Host: "mail.contoso.com", Security: agent.SecurityTLS, Username: "alice"}},
		{"imap://alice@127.0.0.1:1143", agent.IMAPAccount{Host: "127.0.0.1", Port: 1143, Security: agent.SecuritySTARTTLS, Username: "alice"}},
		{"IMAP://bob@mail.example.org:143/", agent.IMAPAccount{Host: "mail.example.org", Port: 143, Security: agent.SecuritySTARTTLS, Username: "bob"}},
		{"imaps://alice%40contoso.com@outlook.office365.com:993", agent.IMAPAccount{Host: "outlook.office365.com", Port: 993, Security: agent.SecurityTLS, Username: "alice@contoso.com"}},
		{"imaps://alice@contoso.com@outlook.office365.com", agent.IMAPAccount{Host: "outlook.office365.com", Security: agent.SecurityTLS, Username: "alice@contoso.com"}},
		{"imap://alice@[::1]:143", agent.IMAPAccount{Host: "::1", Port: 143, Security: agent.SecuritySTARTTLS, Username: "alice"}},
	}
	for _, c := range good {
		got, err := ParseURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, says string }{
		{"pop3://alice@mail.example.com", "must start with imaps://"},
		{"mail.example.com", "must start with imaps://"},
		{"imaps://mail.example.com:993", "no user name"},
		{"imaps://alice:secret@mail.example.com", "do not put the password"},
		{"imaps://alice@mail.example.com:99999", "not a port number"},
		{"imaps://alice@mail.example.com:0", "not a port number"},
		{"imaps://alice@mail.example.com/INBOX", "without a path"},
		{"imaps://alice@mail.example.com?x=1", "without a path"},
		{"imaps://", "no server name"},
	}
	for _, c := range bad {
		_, err := ParseURL(c.in)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("ParseURL(%q) = %v; want an error saying %q", c.in, err, c.says)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) repeats the password: %v", c.in, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	ok := Options{Account: agent.IMAPAccount{Host: "mail.example.com", Username: "alice"}, Password: "pw"}
	if _, err := New(ok); err != nil {
		t.Fatalf("New(%+v): %v", ok, err)
	}
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(badCA, []byte("not pem"), 0o600)
	cases := []struct {
		edit func(*Options)
		says string
	}{
		{func(o *Options) { o.Account.Security = agent.SecurityNone }, "refusing to sign in without TLS"},
		{func(o *Options) { o.Account.Host = "" }, "no server name"},
		{func(o *Options) { o.Account.Username = "" }, "no user name"},
		{func(o *Options) { o.Password = "" }, "no password"},
		{func(o *Options) { o.IdleRestart = 30 * time.Minute }, "IDLE must be renewed"},
		{func(o *Options) { o.Account.CAFile = badCA }, "holds no PEM certificate"},
		{func(o *Options) { o.Account.CAFile = badCA + ".missing" }, "read the CA file"},
	}
	for _, c := range cases {
		o := ok
		c.edit(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("New: %v; want an error saying %q", err, c.says)
		}
	}
	for _, host := range []string{"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST.", "::1", "[::1]"} {
		o := ok
		o.Account.Host, o.Account.Security = host, agent.SecurityNone
		if _, err := New(o); err != nil {
			t.Errorf("plaintext to %s refused: %v", host, err)
		}
	}
	for _, host := range []string{"mail.example.com", "10.0.0.1", "localhost.example.com", "::2"} {
		if transport.IsLoopback(host) {
			t.Errorf("IsLoopback(%q)", host)
		}
	}
}

// The key is the documented hash, and nothing but mailbox, UIDVALIDITY
// and UID (and the salt) changes it.
func TestKey(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("salt" + "INBOX/Contoso" + "\x00" + "1700000000" + "\x00" + "42"))
	want := agent.MessageKey(hex.EncodeToString(sum[:16]))
	if got := Key([]byte("salt"), "INBOX/Contoso", 1700000000, 42); got != want {
		t.Errorf("Key = %s, want %s", got, want)
	}
	keys := map[agent.MessageKey]bool{}
	for _, k := range []agent.MessageKey{
		Key([]byte("salt"), "INBOX", 1, 42), Key([]byte("salt"), "INBOX", 2, 42), Key([]byte("salt"), "INBOX", 1, 43),
		Key([]byte("salt"), "Sent", 1, 42), Key([]byte("other"), "INBOX", 1, 42), Key([]byte("salt"), "INBOX", 14, 2),
	} {
		if keys[k] || len(k) != 32 || strings.Trim(string(k), "0123456789abcdef") != "" {
			t.Errorf("key %q is repeated or not 32 lowercase hex digits", k)
		}
		keys[k] = true
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	var b backoff
	for i := range 12 {
		d := b.next()
		base := min(time.Second<<i, time.Minute)
		if d < base*3/4 || d > base*5/4 {
			t.Errorf("wait %d = %s, want within 25%% of %s", i, d, base)
		}
		if i > 8 && d > 75*time.Second {
			t.Errorf("wait %d = %s exceeds the cap", i, d)
		}
	}
	b.reset()
	if d := b.next(); d > 1250*time.Millisecond {
		t.Errorf("after reset: %s", d)
	}
}

func TestEnvCacheBounded(t *testing.T) {
	t.Parallel()
	c := newEnvCache(3)
	for i := range 5 {
		c.put(agent.MessageKey(fmt.Sprint(i)), maildir.Envelope{Subject: fmt.Sprint(i)})
	}
	if c.len() != 3 {
		t.Errorf("len = %d, want 3", c.len())
	}
	if _, ok := c.get("1"); ok {
		t.Error("the oldest entries were not evicted")
	}
	if e, ok := c.get("4"); !ok || e.Subject != "4" {
		t.Error("the newest entry is missing")
	}
	// A key put again keeps its place past the eviction of its old slot.
	c.drop("2")
	c.put("2", maildir.Envelope{Subject: "again"})
	c.put("5", maildir.Envelope{})
	if e, ok := c.get("2"); !ok || e.Subject != "again" {
		t.Errorf("re-put entry evicted with its old slot: %v %v", e, ok)
	}
	if c.len() > 3 {
		t.Errorf("len = %d, want at most 3", c.len())
	}
}

func TestTextPart(t *testing.T) {
	t.Parallel()
	text := func(sub string) *goimap.BodyStructureSinglePart {
		return &goimap.BodyStructureSinglePart{Type: "text", Subtype: sub, Params: map[string]string{"charset": "iso-8859-1"}, Encoding: "QUOTED-PRINTABLE"}
	}
	other := &goimap.BodyStructureSinglePart{Type: "application", Subtype: "pdf", Encoding: "BASE64"}
	multi := func(sub string, cs ...goimap.BodyStructure) *goimap.BodyStructureMultiPart {
		return &goimap.BodyStructureMultiPart{Subtype: sub, Children: cs}
	}
	cases := []struct {
		name string
		bs   goimap.BodyStructure
		path []int
		mt   string
	}{
		{"single text", text("plain"), []int{1}, "text/plain"},
		{"single html", text("html"), []int{1}, "text/html"},
		{"alternative", multi("alternative", text("html"), text("plain")), []int{2}, "text/plain"},
		{"nested", multi("mixed", multi("alternative", text("html"), text("plain")), other), []int{1, 2}, "text/plain"},
		{"html only", multi("mixed", other, multi("related", text("html"))), []int{2, 1}, "text/html"},
		{"no text", multi("mixed", other), nil, ""},
	}
	for _, c := range cases {
		p := findParts(c.bs)
		path, part := p.textPath, p.text
		if !reflect.DeepEqual(path, c.path) || (part == nil) != (c.mt == "") || (part != nil && part.MediaType() != c.mt) {
			t.Errorf("%s: text part = %v %v; want %v %s", c.name, path, part, c.path, c.mt)
		}
		if p.cal != nil {
			t.Errorf("%s: a meeting request found where there is none", c.name)
		}
	}
	invite := multi("mixed", multi("alternative", text("plain"), &goimap.BodyStructureSinglePart{Type: "text", Subtype: "calendar"}), other)
	if p := findParts(invite); !reflect.DeepEqual(p.calPath, []int{1, 2}) || !reflect.DeepEqual(p.textPath, []int{1, 1}) {
		t.Errorf("invitation: text at %v, meeting request at %v; want [1 1] and [1 2]", p.textPath, p.calPath)
	}
	if ct := contentType(text("plain")); ct != "text/plain; charset=iso-8859-1" {
		t.Errorf("contentType = %q", ct)
	}
	for in, want := range map[string]string{"BASE64": "base64", "7BIT": "7bit", "x-uuencode": "", "base64\r\nX-Evil: 1": ""} {
		if got := transferEncoding(in); got != want {
			t.Errorf("transferEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}

// Errors tell a refused login and an untrusted certificate from a drop.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	refused := classifyLogin(&goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeAuthenticationFailed, Text: "Authentication failed."})
	if !errors.Is(refused, ErrLogin) || !strings.HasPrefix(refused.Error(), "the server refused the user name or password") {
		t.Errorf("refused login: %v", refused)
	}
	busy := classifyLogin(&goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeUnavailable, Text: "try later"})
	if errors.Is(busy, ErrLogin) {
		t.Errorf("a server that cannot sign in now is not a refusal: %v", busy)
	}
	dropped := classifyLogin(errors.New("EOF"))
	if errors.Is(dropped, ErrLogin) {
		t.Errorf("a drop is not a refusal: %v", dropped)
	}
	off := offlineError{errors.New("EOF")}
	if !errors.Is(off, ErrOffline) || !errors.Is(off, maildir.ErrSettling) || errors.Is(off, maildir.ErrGone) {
		t.Errorf("offline error kinds: %v", off)
	}
	long := serverSaid(&goimap.Error{Text: strings.Repeat("x", 500) + "\x1b[31m"})
	if len(long.Error()) > 250 || strings.Contains(long.Error(), "\x1b") {
		t.Errorf("server text not bounded and cleaned: %q", long)
	}
}

// CheckAccount, which the settings run before saving, refuses what is not
// a server name, with a sentence that says what to enter.
func TestCheckAccountServerName(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"mail example.com", "mail.example.com/imap", "alice@mail.example.com", "mail.example.com:993", `mail\example`} {
		err := CheckAccount(agent.IMAPAccount{Host: host, Username: "alice"})
		if err == nil || !strings.Contains(err.Error(), "is not a server name") {
			t.Errorf("CheckAccount(%q) = %v; want a refusal saying it is not a server name", host, err)
		}
	}
	for _, host := range []string{"mail.example.com", "10.0.0.1", "::1", "[::1]", "fe80::1"} {
		if err := CheckAccount(agent.IMAPAccount{Host: host, Username: "alice"}); err != nil {
			t.Errorf("CheckAccount(%q) = %v", host, err)
		}
	}
}
