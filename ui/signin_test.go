package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

// drain runs the updates other goroutines queued for the Fyne goroutine,
// here the test's goroutine.
func (u *UI) drain() {
	for {
		select {
		case fn := <-u.queued:
			fn()
		default:
			return
		}
	}
}

// settle runs queued updates until cond holds.
func settle(t *testing.T, u *UI, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		u.drain()
		if cond() {
			return
		}
		select {
		case fn := <-u.queued:
			fn()
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; calls: %q", what, u.be.(*agenttest.FakeBackend).Calls())
		}
	}
}

// newSignInUI builds a signed-out UI whose settings carry a client ID.
func newSignInUI(t *testing.T) (*UI, *agenttest.FakeBackend, fyne.App) {
	t.Helper()
	a := test.NewTempApp(t)
	be := agenttest.New(agent.StateNeedsSignIn)
	be.SettingsValue.ClientID = "11111111-2222-3333-4444-555555555555"
	u := New(a, be, Options{Tray: true})
	u.inline = true
	return u, be, a
}

// interactionErr is what the sign-in returns when the organisation demands
// multi-factor authentication.
type interactionErr struct{}

func (interactionErr) Error() string             { return "crm: sign in: HTTP 400: AADSTS50076" }
func (interactionErr) InteractionRequired() bool { return true }

// userErr carries a CRM user message, as the engine's CRM errors do.
type userErr struct{ msg string }

func (e userErr) Error() string       { return "crm: sign in: HTTP 400: invalid_grant" }
func (e userErr) UserMessage() string { return e.msg }

func TestSignInWindowTitle(t *testing.T) {
	u, _, _ := newSignInUI(t)
	if u.signIn.w == nil || !strings.Contains(u.signIn.w.Title(), "Sign in") {
		t.Fatal("a signed-out UI must show a window titled Sign in")
	}
	if got := u.signIn.clientID.Text; got != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("client ID not prefilled from the settings: %q", got)
	}
}

func TestSignInBrowser(t *testing.T) {
	u, be, a := newSignInUI(t)
	s := u.signIn
	s.crm.SetText("")
	test.Tap(s.browser)
	if !strings.Contains(s.errText.Text, "Enter your CRM address") {
		t.Errorf("empty address: %q", s.errText.Text)
	}
	test.Type(s.crm, "https://org.crm.dynamics.com")
	test.Type(s.user, "alice@contoso.com")
	test.Tap(s.browser)
	settle(t, u, "the browser prompt", func() bool { return s.wait.linkRows[0].Visible() })
	if !hasCall(be, "SignIn https://org.crm.dynamics.com alice@contoso.com method=browser nosave=false client=11111111-2222-3333-4444-555555555555") {
		t.Errorf("calls: %q", be.Calls())
	}
	if s.form.Visible() || !s.wait.box.Visible() || s.wait.title.Text != "Continue in your browser…" {
		t.Errorf("waiting panel: form=%v wait=%v title %q", s.form.Visible(), s.wait.box.Visible(), s.wait.title.Text)
	}
	if s.wait.link.URL.String() != be.BrowserPrompt.URL || s.wait.link.Text != be.BrowserPrompt.URL {
		t.Errorf("the opened URL is not shown: %q", s.wait.link.Text)
	}
	test.Tap(s.wait.copyLink)
	if got := a.Clipboard().Content(); got != be.BrowserPrompt.URL {
		t.Errorf("Copy link put %q on the clipboard", got)
	}
	test.Tap(s.wait.cancel)
	if !s.form.Visible() || s.wait.box.Visible() || s.browser.Disabled() || s.code.Disabled() || s.run != nil {
		t.Error("after Cancel the form must be back and usable")
	}
	settle(t, u, "the backend to see the cancel", func() bool { return hasCall(be, "SignIn cancelled") })

	// A second try that succeeds closes the window.
	test.Tap(s.browser)
	settle(t, u, "the second prompt", func() bool { return s.wait.linkRows[0].Visible() })
	be.FinishSignIn(nil)
	settle(t, u, "the window to close", func() bool { return !s.shown })
	if !s.form.Visible() || s.errText.Visible() {
		t.Error("the form must be ready for next time")
	}
}

func TestSignInCode(t *testing.T) {
	u, be, a := newSignInUI(t)
	s := u.signIn
	test.Type(s.crm, "https://org.crm.dynamics.com")
	test.Tap(s.code)
	settle(t, u, "the code", func() bool { return s.wait.codeRows[0].Visible() })
	if !hasCall(be, "SignIn https://org.crm.dynamics.com  method=device-code nosave=false client=11111111-2222-3333-4444-555555555555") {
		t.Errorf("calls: %q", be.Calls())
	}
	if s.wait.code.Text != "FGKDW3MPB" || s.wait.text.Text != "On any device, open https://microsoft.com/devicelogin and enter the code FGKDW3MPB." {
		t.Errorf("code panel: %q / %q", s.wait.code.Text, s.wait.text.Text)
	}
	if s.wait.title.Text != "Sign in with a code" || !s.wait.codeRows[1].Visible() || !s.wait.expiry.Visible() {
		t.Errorf("code panel: title %q, open=%v expiry=%v", s.wait.title.Text, s.wait.codeRows[1].Visible(), s.wait.expiry.Visible())
	}
	if w := s.run.wait; w > 15*time.Minute || w < 14*time.Minute {
		t.Errorf("the wait follows the code's expiry (15 min), got %v", w)
	}
	test.Tap(s.wait.copyCode)
	if got := a.Clipboard().Content(); got != "FGKDW3MPB" {
		t.Errorf("Copy code put %q on the clipboard", got)
	}
	test.Tap(s.wait.openPage)
	test.Tap(s.wait.cancel)
	settle(t, u, "the backend to see the cancel", func() bool { return hasCall(be, "SignIn cancelled") })

	// A code that expires ends the wait with a sentence saying what to do.
	be.CodePrompt.Expires = time.Now().Add(50 * time.Millisecond)
	test.Tap(s.code)
	settle(t, u, "the expiry", func() bool { return strings.Contains(s.errText.Text, "The code expired") })
	if !s.form.Visible() || s.code.Disabled() {
		t.Error("after the code expired the form must be back and usable")
	}
}

func TestSignInPassword(t *testing.T) {
	u, be, _ := newSignInUI(t)
	s := u.signIn
	s.crm.SetText("")
	test.Tap(s.submit)
	if !strings.Contains(s.errText.Text, "Enter your CRM address") {
		t.Errorf("empty address: %q", s.errText.Text)
	}
	test.Type(s.crm, "https://org.crm.dynamics.com")
	test.Tap(s.submit)
	if !strings.Contains(s.errText.Text, "Enter the email") {
		t.Errorf("empty email: %q", s.errText.Text)
	}
	test.Type(s.user, "alice@demo.local")
	test.Tap(s.submit)
	if !strings.Contains(s.errText.Text, "Enter your password") {
		t.Errorf("empty password: %q", s.errText.Text)
	}
	test.Type(s.password, "secret")

	cases := []struct {
		err  error
		want string
	}{
		{userErr{"The user name or password is incorrect; check them and try again."}, "password is incorrect"},
		{userErr{"The CRM cannot be reached; check the network."}, "cannot be reached"},
		{errors.New("crm: https required: the CRM address http://crm.example.com uses http; https is required for any CRM that is not on this computer"), "Use https"},
		{fmt.Errorf("sign in: %w", interactionErr{}), "Your organisation requires browser sign-in."},
		{fmt.Errorf("keychain: save: %w: no Secret Service (such as GNOME Keyring or KeePassXC) is running", agent.ErrKeychainUnavailable), "sign in without saving"},
		{agent.ErrNotPermitted, "prvSyncToOutlook"},
	}
	for _, c := range cases {
		be.SetError("SignIn", c.err)
		test.Type(s.password, "secret")
		s.password.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn}) // Enter submits
		settle(t, u, "the error for "+c.want, func() bool { return strings.Contains(s.errText.Text, c.want) })
		if wantNoSave := errors.Is(c.err, agent.ErrKeychainUnavailable); s.noSave.Visible() != wantNoSave {
			t.Errorf("%s: Sign in without saving shown=%v", c.want, s.noSave.Visible())
		}
	}

	be.SetError("SignIn", fmt.Errorf("keychain: save: %w: locked", agent.ErrKeychainUnavailable))
	test.Tap(s.submit)
	settle(t, u, "the keychain error", func() bool { return s.noSave.Visible() && !s.noSave.Disabled() })
	be.SetError("SignIn", nil)
	test.Tap(s.noSave)
	settle(t, u, "the window to close", func() bool { return !s.shown })
	if !hasCall(be, "SignIn https://org.crm.dynamics.com alice@demo.local method=password nosave=true client=11111111-2222-3333-4444-555555555555") {
		t.Errorf("calls: %q", be.Calls())
	}
	if s.password.Text != "" {
		t.Error("the password must be cleared after signing in")
	}
	for _, c := range be.Calls() {
		if strings.Contains(c, "secret") {
			t.Errorf("the password reached a recorded call: %s", c)
		}
	}
}

// TestSignInWithoutSavingRetriesTheMethod checks that the keychain fallback
// repeats the browser sign-in rather than switching to the password.
func TestSignInWithoutSavingRetriesTheMethod(t *testing.T) {
	u, be, _ := newSignInUI(t)
	s := u.signIn
	test.Type(s.crm, "https://org.crm.dynamics.com")
	s.remember.SetChecked(false)
	be.SetError("SignIn", fmt.Errorf("keychain: %w", agent.ErrKeychainUnavailable))
	test.Tap(s.browser)
	settle(t, u, "the keychain error", func() bool { return s.noSave.Visible() })
	if !hasCall(be, "SignIn https://org.crm.dynamics.com  method=browser nosave=true client=11111111-2222-3333-4444-555555555555") {
		t.Errorf("Remember me unticked must not save: %q", be.Calls())
	}
	be.SetError("SignIn", nil)
	s.remember.SetChecked(true)
	test.Tap(s.noSave)
	settle(t, u, "the retry's prompt", func() bool { return s.wait.linkRows[0].Visible() })
	be.FinishSignIn(nil)
	settle(t, u, "the window to close", func() bool { return !s.shown })
	if n := len(be.Calls()); be.Calls()[n-1] != "SignIn https://org.crm.dynamics.com  method=browser nosave=true client=11111111-2222-3333-4444-555555555555" {
		t.Errorf("the retry must use the browser without saving: %q", be.Calls())
	}
}

// TestSignInFollowsState checks that the sign-in window is derived from the
// state: shown on entering NeedsSignIn from any state (Starting too), kept
// closed once the user closed it, and shown again on the next spell.
func TestSignInFollowsState(t *testing.T) {
	for _, tray := range []bool{true, false} {
		t.Run(fmt.Sprintf("tray=%v", tray), func(t *testing.T) {
			a := test.NewTempApp(t)
			be := agenttest.New(agent.StateStarting)
			u := New(a, be, Options{Tray: tray})
			u.inline = true
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			u.Start(ctx)
			emit := func(st agent.Status) {
				be.Emit(agent.Event{Status: &st})
				settle(t, u, "the status "+st.State.String(), func() bool { return u.status.State == st.State })
			}
			u.drain()
			if u.signIn.shown {
				t.Fatal("the sign-in window must wait while the agent starts")
			}
			emit(agent.Status{State: agent.StateNeedsSignIn})
			if !u.signIn.shown {
				t.Fatal("entering NeedsSignIn from Starting must show the sign-in window")
			}
			if !offersSignIn(u) {
				t.Error("a signed-out UI must offer Sign in…")
			}
			u.signIn.close()
			emit(agent.Status{State: agent.StateNeedsSignIn, Pending: 1})
			if u.signIn.shown {
				t.Error("a closed sign-in window must stay closed while still signed out")
			}
			emit(agent.Status{State: agent.StateOnline})
			expired := "Your sign-in has expired or was revoked; sign in again."
			emit(agent.Status{State: agent.StateNeedsSignIn, Warnings: []agent.Warning{
				{Code: "storage", Text: "Decisions cannot be saved."},
				{Code: signInWarning, Title: "Sign-in needed", Text: expired, Severity: agent.SeverityError},
			}})
			if !u.signIn.shown || u.signIn.reason.Text != expired || !u.signIn.reason.Visible() {
				t.Errorf("re-entering NeedsSignIn must show the window with the reason: shown=%v reason %q", u.signIn.shown, u.signIn.reason.Text)
			}
			u.signIn.close()
			u.tray.signInOut.Action()
			if !u.signIn.shown {
				t.Error("Sign in… must reopen a closed sign-in window")
			}
		})
	}
}

// offersSignIn says whether the tray menu, and the main window when there
// is no tray, offer "Sign in…".
func offersSignIn(u *UI) bool {
	if u.tray.signInOut.Label != "Sign in…" || u.tray.signInOut.Disabled {
		return false
	}
	if u.main == nil {
		return true
	}
	found := false
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch o := o.(type) {
		case *widget.Button:
			found = found || (o.Text == "Sign in…" && !o.Disabled())
		case *fyne.Container:
			for _, c := range o.Objects {
				walk(c)
			}
		case *container.Scroll:
			walk(o.Content)
		}
	}
	walk(u.main.Content())
	return found
}
