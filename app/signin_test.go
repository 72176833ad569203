package app

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"crmsync/agent"
	"crmsync/agent/signin/signintest"
)

// interactiveAgent is "crmsync agent" started in-process with a browser
// opener the test provides.
func interactiveAgent(t *testing.T, f agentFlags) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		err := serveAgent(ctx, f, agent.IMAPAccount{}, agent.RecordSync{}, agent.SMTPAccount{}, stdinSecrets{}, newLogger(a.errb, false), a.out, a.errb)
		code := ExitOK
		if err != nil && ctx.Err() == nil {
			a.errb.Write([]byte("crmsync agent: " + agentErrorText(err) + "\n"))
			code = ExitFailure
		}
		a.done <- code
	}()
	t.Cleanup(a.stop)
	return a
}

// signedInAs waits until the agent says whom it signed in as.
func signedInAs(t *testing.T, a *runningAgent, user string) {
	t.Helper()
	want := "crmsync agent: signed in as " + user + ";"
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(a.out.String(), want) {
		if strings.Contains(a.errb.String(), "crmsync agent: ") || time.Now().After(deadline) {
			t.Fatalf("the agent did not say %q\nstdout: %s\nstderr: %s", want, a.out.String(), a.errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// savedRefreshToken reads the keychain entry the agent wrote for its account.
func savedRefreshToken(t *testing.T, data string) string {
	t.Helper()
	cfg := NewConfig(filepath.Join(data, "settings.json"))
	crmURL, user := cfg.Account()
	if crmURL == "" || user == "" {
		t.Fatal("the settings name no signed-in account")
	}
	v, err := keyring.Get(AppID, entryUser(crmURL, user))
	if err != nil {
		t.Fatalf("keychain entry of %s: %v", user, err)
	}
	m := regexp.MustCompile(`"refresh_token":"([^"]+)"`).FindStringSubmatch(v)
	if m == nil {
		t.Fatal("the keychain entry holds no refresh token")
	}
	if strings.Contains(v, "demo-") {
		t.Error("the keychain entry holds a password")
	}
	return m[1]
}

// assertNowhere checks that no file under dir, no log line and no
// environment variable holds any of the secrets.
func assertNowhere(t *testing.T, dir string, logs string, secrets ...string) {
	t.Helper()
	env := strings.Join(os.Environ(), "\n")
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("the agent's output holds a secret")
		}
		if strings.Contains(env, s) {
			t.Errorf("the environment holds a secret")
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				t.Errorf("%s holds a secret", filepath.Base(p))
			}
		}
		return nil
	})
}

// TestBrowserSignInRealChromium signs in with the browser flow in a real
// headless Chromium, then restarts the agent, which signs in from the
// real keychain with no prompt; a revoked grant then asks for sign-in.
func TestBrowserSignInRealChromium(t *testing.T) {
	requireSessionBus(t)
	crmSrv, crmURL := seededCRM(t)
	mdir, data := newMaildir(t), shortDir(t)
	opener := signintest.Chromium(t, "alice@demo.local", "demo-alice")
	var opened string
	a := interactiveAgent(t, agentFlags{crmURL: crmURL, maildir: mdir, data: data, sent: ".Sent", browser: true,
		open: func(u string) error { opened = u; return opener(u) }})
	signedInAs(t, a, "alice@demo.local")
	if !strings.Contains(a.errb.String(), "Opening "+opened+" in your browser") || opened == "" {
		t.Errorf("stderr does not say which page it opened: %q", a.errb.String())
	}
	if !strings.Contains(opened, "code_challenge_method=S256") || !strings.Contains(opened, "redirect_uri=http%3A%2F%2Flocalhost%3A") {
		t.Errorf("the sign-in page was not asked for PKCE with a loopback redirect: %s", opened)
	}
	rt := savedRefreshToken(t, data)
	a.stop()
	first := a.out.String() + a.errb.String()

	// A restart signs in from the keychain: no browser, no prompt.
	b := startSaved(t, crmURL, mdir, data)
	signedInAs(t, b, "alice@demo.local")
	if strings.Contains(b.errb.String(), "Opening") || strings.Contains(b.errb.String(), "To sign in") {
		t.Errorf("the restart prompted: %q", b.errb.String())
	}
	rt2 := savedRefreshToken(t, data)
	if rt2 == rt {
		t.Error("the rotated refresh token was not saved")
	}
	assertNowhere(t, data, first+b.out.String()+b.errb.String(), rt, rt2, "demo-alice")

	// The administrator revokes the grant: the next request is refused,
	// and the agent asks for sign-in instead of retrying for ever.
	if err := crmSrv.RevokeTokens("alice@demo.local"); err != nil {
		t.Fatal(err)
	}
	deliver(t, mdir, "", key(1), message("maria.campbell@contoso.example", "alice@demo.local", "Revoked", "revoked-1@x", time.Now(), "hello"))
	waitStatus(t, data, "NeedsSignIn")
	b.stop()

	// Sign out deletes the saved sign-in; the next start without a
	// sign-in option says what to do.
	if code, out, errs := runIn(t, "", "signout", "--data", data); code != ExitOK || !strings.Contains(out, "Signed out") {
		t.Fatalf("signout: %d %q %q", code, out, errs)
	}
	code, _, errs := runIn(t, "", "agent", "--crm", crmURL, "--maildir", mdir, "--data", data)
	if code != ExitFailure || !strings.Contains(errs, "--browser or --device-code") {
		t.Errorf("start after sign-out: exit %d, %q", code, errs)
	}
}

// startSaved starts "crmsync agent" with no sign-in option.
func startSaved(t *testing.T, crmURL, mdir, data string) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
	go func() {
		a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--maildir", mdir, "--data", data}, Stdio{In: strings.NewReader(""), Out: a.out, Err: a.errb})
	}()
	t.Cleanup(a.stop)
	return a
}

// waitStatus waits until "crmsync status" reports state.
func waitStatus(t *testing.T, data, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		_, out, _ = runIn(t, "", "status", "--data", data)
		if strings.Contains(out, state) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("status never said %s; last: %q", state, out)
}

// TestDeviceCodeSignIn signs dave (whose organisation requires MFA) in
// with a code entered on the verification page, after his password was
// refused with a sentence that points to the browser.
func TestDeviceCodeSignIn(t *testing.T) {
	requireSessionBus(t)
	_, crmURL := seededCRM(t)
	mdir := newMaildir(t)

	code, _, errs := runIn(t, "demo-dave\n", "agent", "--crm", crmURL, "--user", "dave@demo.local", "--maildir", mdir,
		"--data", shortDir(t), "--password-stdin")
	if code != ExitFailure || !strings.Contains(strings.ToLower(errs), "browser") || strings.Contains(errs, "demo-dave") {
		t.Errorf("dave's password: exit %d, %q; want a refusal that points to browser sign-in", code, errs)
	}

	for _, user := range []string{"dave@demo.local", "alice@demo.local"} {
		data := shortDir(t)
		ctx, cancel := context.WithCancel(context.Background())
		a := &runningAgent{cancel: cancel, done: make(chan int, 1), out: &lockedBuffer{}, errb: &lockedBuffer{}}
		go func() {
			a.done <- Main(ctx, []string{"agent", "--crm", crmURL, "--maildir", mdir, "--data", data, "--device-code"},
				Stdio{In: strings.NewReader(""), Out: a.out, Err: a.errb})
		}()
		re := regexp.MustCompile(`To sign in, open (\S+) and enter the code (\S+)\n`)
		var m []string
		waitFor(t, "the device code prompt", func() bool { m = re.FindStringSubmatch(a.errb.String()); return m != nil })
		if err := signintest.HTTPDeviceCode(t, m[1], m[2], user, "demo-"+strings.TrimSuffix(user, "@demo.local")); err != nil {
			t.Fatalf("%s: verification page: %v", user, err)
		}
		signedInAs(t, a, user)
		rt := savedRefreshToken(t, data)
		a.stop()
		assertNowhere(t, data, a.out.String()+a.errb.String(), rt)
		assertNowhere(t, data, "", m[2]) // the user code is shown, but never kept
	}
}
