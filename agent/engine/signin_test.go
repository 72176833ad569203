package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// saved returns what the engine left in the keychain.
func (h *harness) saved() agent.Credentials {
	h.t.Helper()
	c, err := h.secrets.Load(context.Background())
	if err != nil {
		h.t.Fatalf("nothing saved: %v", err)
	}
	return c
}

// TestSignInKeepsOnlyARefreshToken: a password sign-in saves the refresh
// token and the account's identifiers, never the password, and a restart
// signs in with it alone, saving the token the service rotated to.
func TestSignInKeepsOnlyARefreshToken(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	c := h.saved()
	alice := mustUserID(h, "alice@demo.local")
	switch {
	case c.Secret != "":
		t.Error("the password was saved")
	case c.RefreshToken == "":
		t.Error("no refresh token was saved")
	case c.Username != "alice@demo.local" || c.UserObjectID != alice || c.TenantID != localcrm.TenantID:
		t.Errorf("saved identifiers = user %q oid %q tenant %q; want alice, %s, %s", c.Username, c.UserObjectID, c.TenantID, alice, localcrm.TenantID)
	case !strings.HasPrefix(c.Authority, h.url+"/"):
		t.Errorf("saved authority %q is not the local CRM's", c.Authority)
	}
	e.stop()

	// The restart goes from Starting to Online without ever saying
	// NeedsSignIn, which would open the sign-in window for nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var events <-chan agent.Event
	h.beforeRun = func(e *Engine) { events = e.Subscribe(ctx) }
	e = h.start()
	var states []string
	for done := false; !done; {
		select {
		case ev := <-events:
			if ev.Status != nil && (len(states) == 0 || states[len(states)-1] != ev.Status.State.String()) {
				states = append(states, ev.Status.State.String())
				done = ev.Status.State == agent.StateOnline
			}
		case <-ctx.Done():
			t.Fatalf("not online within 10 s; states %v", states)
		}
	}
	if got := strings.Join(states, " "); got != "Starting Connecting Online" {
		t.Errorf("states on a restart with a saved sign-in = %q, want \"Starting Connecting Online\"", got)
	}
	if got := h.saved().RefreshToken; got == c.RefreshToken || got == "" {
		t.Error("the rotated refresh token was not saved")
	}
	if e.SignedInAs() != "alice@demo.local" {
		t.Errorf("SignedInAs = %q", e.SignedInAs())
	}
}

// TestOldSavedPasswordIsReplaced: an entry written by an older version
// holds a password; the first start exchanges it for a refresh token.
func TestOldSavedPasswordIsReplaced(t *testing.T) {
	h := newHarness(t)
	if err := h.secrets.Save(context.Background(), agent.Credentials{CRMURL: h.url, Username: "alice@demo.local", Secret: "demo-alice"}); err != nil {
		t.Fatal(err)
	}
	e := h.start()
	waitFor(t, "online from the old saved password", func() bool { return e.Status().State == agent.StateOnline })
	if c := h.saved(); c.Secret != "" || c.RefreshToken == "" {
		t.Errorf("after the exchange the keychain holds a password (%v) or no refresh token (%v)", c.Secret != "", c.RefreshToken == "")
	}
}

// TestRevokedGrantAsksForSignIn: when the administrator revokes the
// sign-in, the agent moves to NeedsSignIn and says what to do, instead of
// backing off and retrying for ever.
func TestRevokedGrantAsksForSignIn(t *testing.T) {
	h := newHarness(t)
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	if err := h.crm.RevokeTokens("alice@demo.local"); err != nil {
		t.Fatal(err)
	}
	e.conn.ProbeNow(context.Background())
	waitFor(t, "NeedsSignIn", func() bool { return e.Status().State == agent.StateNeedsSignIn })
	var text string
	for _, w := range e.Status().Warnings {
		if w.Code == "signin" {
			text = w.Text
		}
	}
	if !strings.Contains(text, "sign in again") {
		t.Errorf("the sign-in warning says %q; want it to say to sign in again", text)
	}
}

// TestSignInWithoutKeychainKeepsTheSession: a sign-in that cannot be
// saved (no keychain) is not thrown away: the user is signed in for this
// session and told so.
func TestSignInWithoutKeychainKeepsTheSession(t *testing.T) {
	h := newHarness(t)
	h.secrets.SaveErr = fmt.Errorf("keychain: save: %w: the keychain is locked; unlock it and try again", agent.ErrKeychainUnavailable)
	e := h.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := e.Subscribe(ctx)
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "online", func() bool { return e.Status().State == agent.StateOnline })
	for {
		select {
		case ev := <-events:
			if ev.Notice != nil && ev.Notice.Title == "Signed in for this session only" {
				if !strings.Contains(ev.Notice.Text, "the keychain is locked") {
					t.Errorf("the notice does not say why: %q", ev.Notice.Text)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no notice that the sign-in is for this session only")
		}
	}
}
