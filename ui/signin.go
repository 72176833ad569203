package ui

import (
	"context"
	"errors"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// signInWindow asks for the CRM address, email and password once; the
// password goes to the keychain, never to a file.
type signInWindow struct {
	u        *UI
	w        fyne.Window
	crm      *widget.Entry
	user     *widget.Entry
	password *widget.Entry
	remember *widget.Check
	errText  *widget.Label
	submit   *widget.Button
	noSave   *widget.Button // offered when the keychain is unavailable
	busy     bool
}

func (s *signInWindow) build() {
	s.w = s.u.window("Sign in to your CRM", fyne.NewSize(460, 300))
	s.crm = widget.NewEntry()
	s.crm.SetPlaceHolder("https://yourorg.crm.dynamics.com")
	s.crm.SetText(s.u.o.DefaultCRM)
	if cur := s.u.be.Settings().CRMURL; cur != "" {
		s.crm.SetText(cur)
	}
	s.user = widget.NewEntry()
	s.user.SetPlaceHolder("you@company.com")
	s.password = widget.NewPasswordEntry()
	s.remember = widget.NewCheck("Remember me (saved in the system keychain)", nil)
	s.remember.SetChecked(true)
	s.errText = widget.NewLabel("")
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Importance = widget.DangerImportance
	s.submit = widget.NewButton("Sign in", func() { s.send(false) })
	s.submit.Importance = widget.HighImportance
	s.noSave = widget.NewButton("Sign in without saving", func() { s.send(true) })
	s.noSave.Hide()
	for _, e := range []*widget.Entry{s.crm, s.user, s.password} {
		e.OnSubmitted = func(string) { s.send(false) }
	}
	form := widget.NewForm(
		widget.NewFormItem("CRM address", s.crm),
		widget.NewFormItem("Email", s.user),
		widget.NewFormItem("Password", s.password),
	)
	s.w.SetContent(container.NewVBox(form, s.remember, s.errText, container.NewHBox(s.submit, s.noSave)))
}

func (s *signInWindow) show() {
	if s.w == nil {
		s.build()
	}
	s.w.Show()
	s.w.RequestFocus()
}

// send signs in; the form stays open with a specific message on failure.
func (s *signInWindow) send(noSave bool) {
	if s.busy {
		return
	}
	c := agent.Credentials{CRMURL: strings.TrimSpace(s.crm.Text), Username: strings.TrimSpace(s.user.Text),
		Secret: s.password.Text, NoSave: noSave || !s.remember.Checked}
	if msg := missingField(c); msg != "" {
		s.errText.SetText(msg)
		return
	}
	s.busy = true
	s.submit.Disable()
	s.errText.SetText("Signing in…")
	s.u.call(func(ctx context.Context) error { return s.u.be.SignIn(ctx, c) }, func(err error) {
		s.busy = false
		s.submit.Enable()
		if err != nil {
			s.errText.SetText(signInMessage(err))
			if errors.Is(err, agent.ErrKeychainUnavailable) {
				s.noSave.Show()
			}
			return
		}
		s.errText.SetText("")
		s.password.SetText("")
		s.noSave.Hide()
		s.w.Hide()
	})
}

func missingField(c agent.Credentials) string {
	switch {
	case c.CRMURL == "":
		return "Enter your CRM address, for example https://yourorg.crm.dynamics.com."
	case c.Username == "":
		return "Enter the email address you sign in to the CRM with."
	case c.Secret == "":
		return "Enter your password."
	}
	return ""
}

// signInMessage is the sign-in form's sentence for a failure: specific,
// and saying what to do.
func signInMessage(err error) string {
	var um interface{ UserMessage() string }
	switch {
	case errors.Is(err, agent.ErrKeychainUnavailable):
		return "Your password cannot be saved: " + strings.TrimPrefix(err.Error(), agent.ErrKeychainUnavailable.Error()+": ") +
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
