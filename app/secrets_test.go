package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"crmsync/agent"
)

// sameCreds compares the fields that are kept; Prompt (a func) is never.
func sameCreds(a, b agent.Credentials) bool {
	a.Prompt, b.Prompt = nil, nil
	return a.CRMURL == b.CRMURL && a.Username == b.Username && a.Secret == b.Secret && a.RefreshToken == b.RefreshToken &&
		a.Authority == b.Authority && a.TenantID == b.TenantID && a.ClientID == b.ClientID && a.UserObjectID == b.UserObjectID &&
		a.Method == b.Method && a.NoSave == b.NoSave
}

// These tests use the real Secret Service of the session bus the test run
// provides (make test starts gnome-keyring under dbus-run-session).

func requireSessionBus(t *testing.T) {
	t.Helper()
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		t.Fatal("no session bus: run the tests with make test, which starts dbus-run-session and gnome-keyring")
	}
}

func TestKeychainRoundTrip(t *testing.T) {
	requireSessionBus(t)
	ctx := context.Background()
	service := "crmsync-test-" + t.Name()
	account := [2]string{"http://127.0.0.1:8555", "alice@demo.local"}
	k := &Keychain{Service: service, Account: func() (string, string) { return account[0], account[1] }}
	t.Cleanup(func() { k.Delete(ctx) })

	if _, err := k.Load(ctx); !errors.Is(err, agent.ErrNoCredentials) {
		t.Fatalf("Load before Save: %v, want ErrNoCredentials", err)
	}
	c := agent.Credentials{CRMURL: account[0], Username: account[1], RefreshToken: "rt-alice-1",
		Authority: "http://127.0.0.1:8555/tenant", TenantID: "tenant", ClientID: "client", UserObjectID: "oid-alice",
		Secret: "demo-alice", Method: agent.SignInPassword}
	if err := k.Save(ctx, c); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := k.Load(ctx)
	want := agent.Credentials{CRMURL: account[0], Username: account[1], RefreshToken: "rt-alice-1",
		Authority: c.Authority, TenantID: c.TenantID, ClientID: c.ClientID, UserObjectID: c.UserObjectID}
	if err != nil || !sameCreds(got, want) {
		t.Fatalf("Load = %+v, %v; want %+v (and never the password)", got, err, want)
	}
	// A second account does not overwrite the first.
	bob := &Keychain{Service: service, Account: func() (string, string) { return account[0], "bob@demo.local" }}
	if err := bob.Save(ctx, agent.Credentials{CRMURL: account[0], Username: "bob@demo.local", RefreshToken: "rt-bob"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Delete(ctx) })
	if got, _ := k.Load(ctx); got.RefreshToken != "rt-alice-1" {
		t.Errorf("alice's refresh token after bob saved = %q", got.RefreshToken)
	}
	if err := k.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Load(ctx); !errors.Is(err, agent.ErrNoCredentials) {
		t.Errorf("Load after Delete: %v, want ErrNoCredentials", err)
	}
	if err := k.Delete(ctx); err != nil {
		t.Errorf("Delete of nothing: %v", err)
	}
	if err := k.Save(ctx, agent.Credentials{CRMURL: account[0], Username: account[1], Secret: "demo-alice"}); err == nil {
		t.Error("Save of a password without a refresh token must fail: a password is never stored")
	}
	// An entry an older version wrote holds a bare password: it comes back
	// as Secret, once, for the agent to exchange for a refresh token.
	if err := keyring.Set(service, entryUser(account[0], account[1]), "demo-alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Load(ctx); err != nil || got.Secret != "demo-alice" || got.RefreshToken != "" {
		t.Errorf("Load of an old entry = %+v, %v", got, err)
	}
	none := &Keychain{Service: service}
	if _, err := none.Load(ctx); !errors.Is(err, agent.ErrNoCredentials) {
		t.Errorf("Load with no account: %v", err)
	}
}

// TestKeychainUnavailable runs a child process on a bus with no Secret
// Service, and one with no bus at all, and checks the user is told so.
func TestKeychainUnavailable(t *testing.T) {
	if os.Getenv("CRMSYNC_KEYCHAIN_CHILD") == "1" {
		k := &Keychain{Service: "crmsync-test-unavailable", Account: func() (string, string) { return "http://127.0.0.1:1", "x@y" }}
		err := k.Save(context.Background(), agent.Credentials{CRMURL: "http://127.0.0.1:1", Username: "x@y", RefreshToken: "s3cret-value"})
		fmt.Printf("RESULT unavailable=%v msg=%s\n", errors.Is(err, ErrKeychainUnavailable), KeychainUserMessage(err))
		return
	}
	if _, err := exec.LookPath("dbus-run-session"); err != nil {
		t.Fatal("dbus-run-session is missing: make test installs the dbus package")
	}
	child := func(name string, args []string, env ...string) string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), append([]string{"CRMSYNC_KEYCHAIN_CHILD=1"}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	self := []string{os.Args[0], "-test.run=^TestKeychainUnavailable$", "-test.count=1"}
	// A bus configuration with no service directories: nothing can be
	// activated on it, so org.freedesktop.secrets is unknown.
	conf := filepath.Join(t.TempDir(), "bare-session.conf")
	err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=`+os.TempDir()+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		// A bus where nothing provides org.freedesktop.secrets.
		{"bus without Secret Service", append([]string{"dbus-run-session", "--config-file=" + conf, "--"}, self...), nil, "no Secret Service"},
		// A fresh bus that starts gnome-keyring on demand, locked, with no
		// one to type the password.
		{"locked keychain", append([]string{"dbus-run-session", "--"}, self...), nil, "locked"},
		// A bus address that leads nowhere.
		{"no session bus", self, []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/crmsync-bus"}, "session bus"},
	}
	for _, c := range cases {
		out := child(c.name, c.args, c.env...)
		if !strings.Contains(out, "RESULT unavailable=true") || !strings.Contains(out, c.want) || !strings.Contains(out, "sign in without saving") {
			t.Errorf("%s: %q; want unavailable, %q and the offer to sign in without saving", c.name, out, c.want)
		}
		if strings.Contains(out, "s3cret-value") {
			t.Errorf("%s: the message leaks the password: %q", c.name, out)
		}
	}
}
