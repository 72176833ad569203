package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// How long an interactive sign-in may wait for the user. They are far
// longer than a button's call timeout: the user is reading a phone,
// approving a prompt or typing a code.
const (
	browserWait  = 10 * time.Minute
	codeWait     = 15 * time.Minute // unless the prompt says when the code expires
	passwordWait = 2 * time.Minute  // the keychain may ask the user to unlock it
)

// The causes a sign-in's context ends with, told apart when it returns.
var (
	errSignInCancelled = errors.New("sign-in cancelled")
	errSignInTimedOut  = errors.New("sign-in timed out")
)

// interactionRequired is implemented by sign-in errors meaning the
// organisation demands an interactive sign-in (multi-factor
// authentication, consent, a policy), so a password will never be
// accepted. The UI cannot test the sign-in package's sentinel with
// errors.Is without importing it, so it asks the error chain instead.
type interactionRequired interface{ InteractionRequired() bool }

// attempt is one sign-in in progress. Its context ends when the user
// cancels or the wait runs out, and the cause says which.
type attempt struct {
	method agent.SignInMethod
	ctx    context.Context
	cancel context.CancelCauseFunc
	limit  *time.Timer // cancels ctx with errSignInTimedOut
	wait   time.Duration
}

// start runs a sign-in with method. It does not use the UI's call
// timeout: a browser or code sign-in waits for a person, for minutes.
func (s *signInWindow) start(method agent.SignInMethod, noSave bool) {
	if s.run != nil {
		return
	}
	if s.u.stopped != nil {
		s.setError(ErrEngineStopped.Error())
		return
	}
	c, msg := s.credentials(method, noSave)
	if msg != "" {
		s.setError(msg)
		return
	}
	s.last = method
	ctx, cancel := context.WithCancelCause(context.Background())
	run := &attempt{method: method, ctx: ctx, cancel: cancel, wait: s.waitFor(method)}
	run.limit = time.AfterFunc(run.wait, func() { cancel(errSignInTimedOut) })
	c.Prompt = func(p agent.SignInPrompt) { s.u.post(func() { s.prompted(run, p) }) }
	s.run = run
	s.setBusy(true)
	if method == agent.SignInPassword {
		s.say("Signing in…", widget.MediumImportance)
	} else {
		s.setError("")
		s.wait.begin(method)
		s.showWait(true)
	}
	go func() {
		err := s.u.be.SignIn(ctx, c)
		run.limit.Stop()
		s.u.post(func() { s.finished(run, err) })
	}()
}

func (s *signInWindow) waitFor(m agent.SignInMethod) time.Duration {
	switch m {
	case agent.SignInBrowser:
		return browserWait
	case agent.SignInDeviceCode:
		return codeWait
	}
	return passwordWait
}

// prompted shows what the running sign-in asks the user to do. A code
// lasts until it expires, so the wait is bounded by that instead.
func (s *signInWindow) prompted(run *attempt, p agent.SignInPrompt) {
	if run != s.run {
		return // cancelled meanwhile
	}
	if run.method == agent.SignInDeviceCode && !p.Expires.IsZero() {
		run.wait = time.Until(p.Expires)
		run.limit.Reset(run.wait)
	}
	s.wait.prompted(p)
}

// finished applies a sign-in's result, unless the user gave up on it.
func (s *signInWindow) finished(run *attempt, err error) {
	if run != s.run {
		return
	}
	timedOut := errors.Is(context.Cause(run.ctx), errSignInTimedOut)
	run.cancel(nil)
	s.run = nil
	s.setBusy(false)
	s.showWait(false)
	s.offerNoSave(errors.Is(err, agent.ErrKeychainUnavailable))
	var ir interactionRequired
	switch {
	case err == nil:
		s.setError("")
		s.password.SetText("")
		s.hide()
		return
	case timedOut:
		s.setError(timeoutMessage(run.method, run.wait))
	case errors.As(err, &ir) && ir.InteractionRequired():
		s.setError("Your organisation requires browser sign-in. Use 'Sign in with browser' or 'Sign in with a code'.")
		s.password.SetText("")
		s.more.Close(0)
		s.w.Canvas().Focus(s.browser)
	default:
		s.setError(signInMessage(err))
	}
}

// cancel gives up the sign-in in progress and brings the form back at once;
// its late result is ignored.
func (s *signInWindow) cancel() {
	if s.run == nil {
		return
	}
	s.run.limit.Stop()
	s.run.cancel(errSignInCancelled)
	s.run = nil
	s.setBusy(false)
	s.showWait(false)
	s.setError("")
}

// setBusy keeps a second sign-in from starting while one runs.
func (s *signInWindow) setBusy(busy bool) {
	for _, b := range []*widget.Button{s.browser, s.code, s.submit, s.noSave} {
		if busy {
			b.Disable()
		} else {
			b.Enable()
		}
	}
}

// showWait swaps the form for the waiting panel, or back.
func (s *signInWindow) showWait(on bool) {
	if on {
		s.form.Hide()
		s.wait.box.Show()
		return
	}
	s.wait.stop()
	s.wait.box.Hide()
	s.form.Show()
}

// timeoutMessage says which wait ran out and what to do next.
func timeoutMessage(m agent.SignInMethod, wait time.Duration) string {
	switch m {
	case agent.SignInBrowser:
		return fmt.Sprintf("The browser sign-in was not finished within %s. Sign in again when you are ready.", minutes(wait))
	case agent.SignInDeviceCode:
		return "The code expired before the sign-in finished. Choose 'Sign in with a code' to get a new one."
	}
	return fmt.Sprintf("The sign-in did not finish within %s. Check the address and the network, then try again.", minutes(wait))
}

// minutes words a wait the way a person would say it.
func minutes(d time.Duration) string {
	if d < 2*time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Round(time.Second)/time.Second))
	}
	return fmt.Sprintf("%d minutes", int(d.Round(time.Minute)/time.Minute))
}

// signInMessage is the sign-in form's sentence for a failure: specific,
// and saying what to do.
func signInMessage(err error) string {
	var um interface{ UserMessage() string }
	switch {
	case errors.Is(err, agent.ErrKeychainUnavailable):
		return "Your sign-in cannot be saved: " + strings.TrimPrefix(err.Error(), agent.ErrKeychainUnavailable.Error()+": ") +
			". You can sign in without saving; you will be asked again next time."
	case errors.Is(err, agent.ErrNotPermitted):
		return "Signed in, but " + err.Error() + "."
	case strings.Contains(err.Error(), "https is required"):
		return "This address uses http. Use https: only a CRM on this computer may use http."
	case errors.As(err, &um):
		return um.UserMessage()
	}
	// Drop a "crm: invalid address: " style prefix; the rest is a sentence.
	msg := err.Error()
	for _, p := range []string{"crm: invalid address: ", "crm: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
