package ui

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// signInWarning is the Warning code the engine gives the reason a user
// must sign in again (an expired or revoked sign-in).
const signInWarning = "signin"

// signInWindow signs the user in the way their organisation requires: in
// the browser, with a code entered on another device, or, where allowed,
// with a password. Only the keychain ever keeps what the sign-in returns.
type signInWindow struct {
	u *UI
	w fyne.Window // nil until first shown

	// The form.
	form      *fyne.Container
	reason    *widget.Label // why the user must sign in again; hidden when there is no reason
	crm       *widget.Entry
	user      *widget.Entry // optional hint for browser and code; required for the password
	browser   *widget.Button
	code      *widget.Button
	remember  *widget.Check
	errText   *widget.Label  // the last failure, or progress of a password sign-in; hidden when empty
	noSave    *widget.Button // offered when the keychain is unavailable
	noSaveRow *fyne.Container
	more      *widget.Accordion // "Use a password instead" and "Advanced"
	password  *widget.Entry
	submit    *widget.Button // signs in with the password
	clientID  *widget.Entry

	wait *waitPanel // shown instead of the form while a browser or code sign-in runs

	run  *attempt           // the sign-in in progress; nil when idle
	last agent.SignInMethod // the method of the last attempt, retried by noSave

	// shown says the window is on screen; dismissed says the user closed it
	// (or signed in) during this NeedsSignIn spell, so status updates must
	// not bring it back until the state leaves NeedsSignIn.
	shown, dismissed bool
	reasonText       string // the reason from the latest NeedsSignIn status
}

func (s *signInWindow) build() {
	s.w = s.u.window("Sign in to your CRM", fyne.NewSize(500, 360))
	s.w.SetCloseIntercept(s.close)

	s.reason = widget.NewLabel("")
	s.reason.Wrapping = fyne.TextWrapWord
	s.reason.Importance = widget.WarningImportance
	s.reason.TextStyle.Bold = true

	s.crm = widget.NewEntry()
	s.crm.SetPlaceHolder("https://yourorg.crm.dynamics.com")
	s.crm.SetText(s.u.o.DefaultCRM)
	set := s.u.be.Settings()
	if set.CRMURL != "" {
		s.crm.SetText(set.CRMURL)
	}
	s.user = widget.NewEntry()
	s.user.SetPlaceHolder("you@company.com")
	s.crm.OnSubmitted = func(string) { s.submitDefault() }
	s.user.OnSubmitted = s.crm.OnSubmitted
	email := widget.NewFormItem("Email", s.user)
	email.HintText = "Optional; a password sign-in needs it."
	fields := widget.NewForm(widget.NewFormItem("CRM address", s.crm), email)

	s.browser = widget.NewButton("Sign in with browser", func() { s.start(agent.SignInBrowser, false) })
	s.browser.Importance = widget.HighImportance
	s.code = widget.NewButton("Sign in with a code", func() { s.start(agent.SignInDeviceCode, false) })
	s.remember = widget.NewCheck("Remember me (saved in the system keychain)", nil)
	s.remember.SetChecked(true)

	s.errText = widget.NewLabel("")
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Importance = widget.DangerImportance
	s.errText.Hide()
	s.noSave = widget.NewButton("Sign in without saving", func() { s.start(s.last, true) })
	s.noSaveRow = container.NewHBox(s.noSave)
	s.offerNoSave(false)

	s.password = widget.NewPasswordEntry()
	s.password.OnSubmitted = func(string) { s.start(agent.SignInPassword, false) }
	s.submit = widget.NewButton("Sign in with password", func() { s.start(agent.SignInPassword, false) })
	pwNote := widget.NewLabel("Only where your organisation allows it; most require the browser.")
	pwNote.Wrapping = fyne.TextWrapWord
	pwNote.Importance = widget.LowImportance
	pw := container.NewVBox(pwNote, widget.NewForm(widget.NewFormItem("Password", s.password)),
		container.NewHBox(s.submit))

	s.clientID = widget.NewEntry()
	s.clientID.SetPlaceHolder("default: Microsoft's development client ID")
	s.clientID.SetText(set.ClientID)
	client := widget.NewFormItem("Client ID", s.clientID)
	client.HintText = "Only if your administrator gave you one."
	s.more = widget.NewAccordion(
		widget.NewAccordionItem("Use a password instead", pw),
		widget.NewAccordionItem("Advanced", widget.NewForm(client)),
	)
	s.more.MultiOpen = true

	buttons := container.NewGridWithColumns(2, s.browser, s.code)
	s.form = container.NewVBox(s.reason, fields, buttons, s.remember, s.errText, s.noSaveRow, s.more)
	s.wait = newWaitPanel(s)
	s.w.SetContent(container.NewPadded(container.NewStack(s.form, s.wait.box)))
	s.showReason()
}

// submitDefault is Enter in the address or email field: the browser,
// unless the user has typed a password.
func (s *signInWindow) submitDefault() {
	if s.password.Text != "" {
		s.start(agent.SignInPassword, false)
		return
	}
	s.start(agent.SignInBrowser, false)
}

// show brings the window up, building it on first use.
func (s *signInWindow) show() {
	if s.w == nil {
		s.build()
	}
	s.shown = true
	s.w.Show()
	s.w.RequestFocus()
}

// open is the user asking for the window (the tray's "Sign in…"): it
// shows even if they closed it before.
func (s *signInWindow) open() {
	s.dismissed = false
	s.show()
}

// close is the window's close button: it gives up any sign-in in progress
// and keeps the window closed for the rest of this NeedsSignIn spell.
func (s *signInWindow) close() {
	s.cancel()
	s.hide()
}

// hide takes the window down and keeps it down while the state stays
// NeedsSignIn.
func (s *signInWindow) hide() {
	s.dismissed = true
	s.shown = false
	if s.w != nil {
		s.w.Hide()
	}
}

// follow derives the window from the state rather than from transitions:
// whenever nobody is signed in and the user has not closed the window in
// this spell, it is on screen, whichever state came before.
func (s *signInWindow) follow(st agent.Status) {
	if st.State != agent.StateNeedsSignIn {
		s.dismissed = false
		return
	}
	s.reasonText = ""
	for _, w := range st.Warnings {
		if w.Code == signInWarning && w.Text != "" {
			s.reasonText = w.Text
			break
		}
	}
	if s.w != nil {
		s.showReason()
	}
	if !s.dismissed && !s.shown {
		s.show()
	}
}

func (s *signInWindow) showReason() {
	s.reason.SetText(s.reasonText)
	s.reason.Hidden = s.reasonText == ""
	s.form.Refresh()
}

// setError shows msg below the sign-in buttons; an empty msg clears it.
func (s *signInWindow) setError(msg string) { s.say(msg, widget.DangerImportance) }

// say shows msg below the sign-in buttons with the given weight.
func (s *signInWindow) say(msg string, imp widget.Importance) {
	s.errText.Importance = imp
	s.errText.SetText(msg)
	s.errText.Hidden = msg == ""
	s.form.Refresh()
}

// offerNoSave shows or hides "Sign in without saving" with its row, so a
// hidden row leaves no gap.
func (s *signInWindow) offerNoSave(on bool) {
	s.noSave.Hidden = !on
	s.noSaveRow.Hidden = !on
}

// credentials reads the form for method; msg says what is missing.
func (s *signInWindow) credentials(method agent.SignInMethod, noSave bool) (c agent.Credentials, msg string) {
	c = agent.Credentials{
		CRMURL: strings.TrimSpace(s.crm.Text), Username: strings.TrimSpace(s.user.Text),
		Method: method, ClientID: strings.TrimSpace(s.clientID.Text), NoSave: noSave || !s.remember.Checked,
	}
	if method == agent.SignInPassword {
		c.Secret = s.password.Text
	}
	return c, missingField(c)
}

func missingField(c agent.Credentials) string {
	switch {
	case c.CRMURL == "":
		return "Enter your CRM address, for example https://yourorg.crm.dynamics.com."
	case c.Method != agent.SignInPassword:
		return ""
	case c.Username == "":
		return "Enter the email address you sign in to the CRM with."
	case c.Secret == "":
		return "Enter your password."
	}
	return ""
}
