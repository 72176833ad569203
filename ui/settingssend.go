package ui

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// smtpSecurityChoices word agent.Security for the outgoing mail server,
// indexed by its value.
var smtpSecurityChoices = []string{"TLS (port 465)", "STARTTLS (port 587)", "None (this computer only)"}

// Sentences of the "Send email" tab that tests and the screenshot read.
const (
	sendIntro = "Email written in the CRM (or sent by a workflow on your behalf) waits in Pending Send until " +
		"your client sends it. When your CRM administrator has set your mailbox to have a client application " +
		"deliver outgoing email, crmsync sends it through your own mail server, keeps a copy in your Sent folder, " +
		"and marks it Sent in the CRM."
	outboxEmpty     = "No email waiting, failed or sent in the last week."
	failedHint      = "Why it failed is in a note on the email in the CRM."
	noMailSent      = "Test connection signs in only: it sends no mail."
	userNameHint    = "Empty: no sign-in, for a server on this computer only."
	savedSMTPHint   = "Saved in the keychain. Type a new one only to replace it."
	noSMTPLoginHint = "Not used without a user name."
)

// sendSection is the settings' "Send email" tab: the outgoing mail
// server (SMTP) the CRM's email is sent through, with its own Save, Test
// connection and Stop sending; what the CRM administrator set; and the
// outbox, where a failed email can be sent again. Its password goes to
// the keychain and is never shown back.
type sendSection struct {
	s *settingsWindow

	host, port, user, password, caFile *widget.Entry
	security                           *widget.Select
	form                               *widget.Form
	passwordItem                       *widget.FormItem

	test, save, stop, refresh *widget.Button
	message                   *widget.Label   // what Save or Stop sending did, or what to correct
	testResult                *fyne.Container // one row per step of the last test
	testLines                 []string

	adminIcon *widget.Icon
	admin     *widget.Label // what the CRM administrator set, or why it cannot be read

	outbox      *fyne.Container // one row per email, newest first
	failedHint  *widget.Label   // beside the outbox's title while an email failed
	outboxLines []string        // those rows' words
	retry       map[string]*widget.Button
	outboxSeq   int // drops an outbox answer a newer request overtook

	stopDlg *actionDialog // the Stop sending confirmation shown last
	scroll  *container.Scroll
}

func newSendSection(s *settingsWindow) *sendSection {
	x := &sendSection{s: s, retry: map[string]*widget.Button{}}
	x.host = widget.NewEntry()
	x.host.SetPlaceHolder("mail.example.com")
	x.port = widget.NewEntry()
	x.security = widget.NewSelect(smtpSecurityChoices, func(string) { x.showDefaultPort() })
	x.user = widget.NewEntry()
	x.user.SetPlaceHolder("you@example.com")
	x.user.OnChanged = func(string) { x.showPasswordHint() }
	x.password = widget.NewPasswordEntry()
	x.caFile = widget.NewEntry()
	x.caFile.SetPlaceHolder("Optional: PEM file of a private certificate authority")
	chooseCA := widget.NewButton("Choose…", func() {
		dialog.ShowFileOpen(func(f fyne.URIReadCloser, err error) {
			if err == nil && f != nil {
				x.caFile.SetText(f.URI().Path())
				f.Close()
			}
		}, s.w)
	})

	// The port shares the server's row, narrow: it is mostly left empty.
	portBox := container.NewGridWrap(fyne.NewSize(170, x.port.MinSize().Height), x.port)
	server := widget.NewFormItem("Server", container.NewBorder(nil, nil, nil,
		container.NewHBox(widget.NewLabel("Port"), portBox), x.host))
	user := widget.NewFormItem("User name", x.user)
	user.HintText = userNameHint
	x.passwordItem = widget.NewFormItem("Password", x.password)
	x.passwordItem.HintText = newPasswordHint // the form makes a hint line only for a hint it starts with
	x.form = widget.NewForm(server, widget.NewFormItem("Security", x.security), user, x.passwordItem,
		widget.NewFormItem("CA file", container.NewBorder(nil, nil, nil, chooseCA, x.caFile)))

	x.test = widget.NewButtonWithIcon("Test connection", theme.MediaPlayIcon(), x.runTest)
	x.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), x.send)
	x.save.Importance = widget.HighImportance
	x.stop = widget.NewButtonWithIcon("Stop sending", theme.CancelIcon(), x.confirmStop)
	x.refresh = widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), x.loadOutbox)
	x.message = wrapped()
	x.message.Hide()
	x.testResult = container.NewVBox()
	x.adminIcon = widget.NewIcon(theme.InfoIcon())
	x.admin = wrapped()
	x.outbox = container.NewVBox()
	return x
}

func (x *sendSection) content() fyne.CanvasObject {
	intro := wrapped()
	intro.SetText(sendIntro)
	sendsNothing := wrapped()
	sendsNothing.SetText(noMailSent)
	sendsNothing.Importance = widget.LowImportance
	x.failedHint = wrapped()
	x.failedHint.SetText(failedHint)
	x.failedHint.Importance = widget.LowImportance
	x.failedHint.Hide()
	outboxHead := container.NewBorder(nil, nil, bold("Outbox"), x.refresh, x.failedHint)
	x.scroll = container.NewVScroll(container.NewVBox(
		bold("Send email from the CRM"), intro,
		container.NewBorder(nil, nil, container.NewCenter(x.adminIcon), nil, x.admin),
		widget.NewSeparator(), x.form,
		container.NewBorder(nil, nil, container.NewHBox(x.test, x.save, x.stop), nil, sendsNothing),
		x.message, x.testResult,
		widget.NewSeparator(), outboxHead, x.outbox))
	return x.scroll
}

// relayout lays the tab out again after a part showed, hid or grew.
func (x *sendSection) relayout() {
	if x.scroll != nil {
		x.scroll.Content.Refresh()
		x.scroll.Refresh()
	}
}

// showDefaultPort puts the chosen security's usual port in the empty
// port field's placeholder, so "empty" visibly means something.
func (x *sendSection) showDefaultPort() {
	a := agent.SMTPAccount{Host: "x", Security: x.securityValue()}
	u := a.URL()
	x.port.SetPlaceHolder(u[strings.LastIndexByte(u, ':')+1:] + " (the usual port)")
}

func (x *sendSection) securityValue() agent.Security {
	if i := slices.Index(smtpSecurityChoices, x.security.Selected); i >= 0 {
		return agent.Security(i)
	}
	return agent.SecurityTLS
}

// showPasswordHint says what the password field holds: nothing yet, the
// keychain's, or nothing needed without a user name.
func (x *sendSection) showPasswordHint() {
	cur := x.s.u.be.Settings().SMTP
	hint := newPasswordHint
	switch {
	case strings.TrimSpace(x.user.Text) == "":
		hint = noSMTPLoginHint
	case !cur.IsZero() && cur.Username != "":
		hint = savedSMTPHint
	}
	if hint != x.passwordItem.HintText {
		x.passwordItem.HintText = hint
		x.form.Refresh()
	}
}

// load fills the tab from st; the password field stays empty.
func (x *sendSection) load(st agent.Settings) {
	a := st.SMTP
	x.host.SetText(a.Host)
	x.port.SetText("")
	if a.Port != 0 {
		x.port.SetText(strconv.Itoa(a.Port))
	}
	x.security.SetSelectedIndex(int(a.Security))
	x.user.SetText(a.Username)
	x.caFile.SetText(a.CAFile)
	x.password.SetText("")
	x.password.SetPlaceHolder("")
	if !a.IsZero() && a.Username != "" {
		x.password.SetPlaceHolder("Saved in the system keychain")
	}
	x.showPasswordHint()
	setEnabled(x.stop, !a.IsZero())
	x.say("", widget.MediumImportance)
	x.setTest(nil)
}

// say shows text below the buttons; "" hides the line.
func (x *sendSection) say(text string, imp widget.Importance) {
	x.message.Importance = imp
	x.message.SetText(text)
	x.message.Hidden = text == ""
	x.message.Refresh()
	x.relayout()
}

// loopback reports whether host is this computer.
func loopback(host string) bool {
	h := strings.ToLower(strings.Trim(host, "[]"))
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// account reads the server from the form, or says what is wrong.
func (x *sendSection) account() (agent.SMTPAccount, string) {
	a := agent.SMTPAccount{
		Host:     strings.TrimSpace(x.host.Text),
		Security: x.securityValue(),
		Username: strings.TrimSpace(x.user.Text),
		CAFile:   strings.TrimSpace(x.caFile.Text),
	}
	if loopback(a.Host) {
		a.Host = strings.Trim(a.Host, "[]")
	}
	switch {
	case a.Host == "":
		return a, "Type the server of your outgoing mail, such as mail.example.com."
	case strings.ContainsAny(a.Host, " /") || (strings.Contains(a.Host, ":") && net.ParseIP(a.Host) == nil):
		return a, "The server is a name such as mail.example.com, without smtps:// or a port."
	}
	if p := strings.TrimSpace(x.port.Text); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return a, "The port must be a number from 1 to 65535, or empty for the usual one."
		}
		a.Port = n
	}
	if !loopback(a.Host) {
		switch {
		case a.Security == agent.SecurityNone && a.Username != "":
			return a, "With the security None, your user name and password would cross the network unprotected: " +
				"choose TLS or STARTTLS for " + a.Host + ". None is for a server on this computer only."
		case a.Security == agent.SecurityNone:
			return a, "The security None is for a server on this computer only: choose TLS or STARTTLS for " + a.Host + "."
		case a.Username == "":
			return a, "Type the user name you sign in to " + a.Host + " with. No sign-in is for a server on this computer only."
		}
	}
	return a, ""
}

// send saves the password first, to the keychain (so the engine finds it
// when it sends), then the settings.
func (x *sendSection) send() {
	a, msg := x.account()
	if msg != "" {
		x.say(msg, widget.DangerImportance)
		return
	}
	password := x.password.Text
	if a.Username == "" {
		password = "" // no sign-in: nothing to keep
	}
	if cur := x.s.u.be.Settings().SMTP; password == "" && a.Username != "" && (cur.IsZero() || cur.URL() != a.URL()) {
		x.say("Type the password of "+a.URL()+"; it is saved in the system keychain.", widget.DangerImportance)
		return
	}
	x.save.Disable()
	x.say("Saving…", widget.MediumImportance)
	var st agent.Settings
	x.s.u.call(func(ctx context.Context) (err error) {
		if password != "" {
			if err := x.s.u.be.SaveSMTPPassword(ctx, a, password); err != nil {
				return fmt.Errorf("the password was not saved in the system keychain, so nothing was changed: %w", err)
			}
		}
		st, err = x.s.u.be.UpdateSettings(ctx, agent.SettingsPatch{SMTP: &a})
		return err
	}, func(err error) {
		x.save.Enable()
		if err != nil {
			x.say(err.Error(), widget.DangerImportance)
			return
		}
		x.load(st)
		x.say("Saved. crmsync sends the CRM's email through "+a.URL()+" when your CRM administrator lets it.", widget.SuccessImportance)
		x.loadOutbox()
	})
}

// confirmStop asks before clearing the server: the user must know where
// the CRM's email goes then.
func (x *sendSection) confirmStop() {
	text := wrapped()
	text.SetText("crmsync will stop sending the email written in the CRM. That email then waits in Pending Send " +
		"in the CRM until a mail server is set here again. Email already sent is not changed.")
	x.stopDlg = newActionDialog("Stop sending?", "Stop sending", text, x.s.w, fyne.NewSize(460, 240), x.stopSending)
	x.stopDlg.d.Show()
}

// stopSending saves a zero SMTPAccount.
func (x *sendSection) stopSending() {
	if x.stopDlg != nil {
		x.stopDlg.d.Hide()
	}
	x.stop.Disable()
	var st agent.Settings
	x.s.u.call(func(ctx context.Context) (err error) {
		st, err = x.s.u.be.UpdateSettings(ctx, agent.SettingsPatch{SMTP: &agent.SMTPAccount{}})
		return err
	}, func(err error) {
		if err != nil {
			x.stop.Enable()
			x.say("Sending was not stopped: "+err.Error(), widget.DangerImportance)
			return
		}
		x.load(st)
		x.say("Stopped. The CRM's email now waits in Pending Send.", widget.MediumImportance)
		x.loadOutbox()
	})
}

// runTest tries the server as typed, with the typed password or, when
// the field is empty, the one in the keychain. It sends no mail.
func (x *sendSection) runTest() {
	a, msg := x.account()
	if msg != "" {
		x.setTest([]testLine{{mark: markFail, text: msg}})
		return
	}
	x.say("", widget.MediumImportance)
	password := x.password.Text
	if a.Username == "" {
		password = ""
	}
	x.test.Disable()
	x.setTest([]testLine{{mark: markWait, text: "Testing " + a.URL() + "… No mail is sent."}})
	var steps []agent.CheckStep
	x.s.u.call(func(ctx context.Context) (err error) { steps, err = x.s.u.be.TestSMTP(ctx, a, password); return err }, func(err error) {
		x.test.Enable()
		if err != nil {
			x.setTest([]testLine{{mark: markFail, text: "The test could not run: " + err.Error()}})
			return
		}
		lines := davTestLines(steps)
		lines[len(lines)-1].text += " No mail was sent."
		x.setTest(lines)
	})
}

// setTest shows lines as the test's result, one row per line.
func (x *sendSection) setTest(lines []testLine) {
	x.testLines = x.testLines[:0]
	x.testResult.Objects = rowsOf(lines, &x.testLines)
	x.testResult.Refresh()
	x.relayout()
}

// loadOutbox reads, live from the CRM, what the administrator set and
// the outbox, off the Fyne goroutine.
func (x *sendSection) loadOutbox() {
	x.outboxSeq++
	seq := x.outboxSeq
	x.setAdmin(theme.ViewRefreshIcon(), "Reading from the CRM what your administrator set…", widget.MediumImportance)
	x.refresh.Disable()
	var rep agent.OutgoingReport
	x.s.u.call(func(ctx context.Context) (err error) { rep, err = x.s.u.be.Outbox(ctx); return err }, func(err error) {
		if seq != x.outboxSeq {
			return // a newer request's answer counts
		}
		x.refresh.Enable()
		switch {
		case err != nil && rep.Why != "":
			// What the administrator set was read; the list was not.
			x.showAdmin(rep)
			x.setOutbox(nil, "The outbox could not be read from the CRM: "+err.Error())
		case err != nil:
			x.setAdmin(theme.NewErrorThemedResource(theme.WarningIcon()),
				"What your CRM administrator set could not be read from the CRM: "+err.Error(), widget.DangerImportance)
			x.setOutbox(nil, "The outbox could not be read.")
		default:
			x.showAdmin(rep)
			x.setOutbox(rep.Items, outboxEmpty)
		}
	})
}

// adminSet is the administrator's line when crmsync may send; the
// engine's Why then says which server it sends through.
const adminSet = "Your CRM administrator has set your mailbox to have a client application deliver outgoing email."

// showAdmin shows what the administrator set: a check when crmsync may
// send, else the engine's sentence saying what is set or missing.
func (x *sendSection) showAdmin(rep agent.OutgoingReport) {
	why := strings.TrimSpace(rep.Why)
	if rep.Enabled {
		x.setAdmin(theme.NewSuccessThemedResource(theme.ConfirmIcon()), strings.TrimSpace(adminSet+" "+why), widget.MediumImportance)
		return
	}
	if why == "" {
		why = "Your CRM administrator has not set your mailbox's outgoing email to be delivered by a client application, so crmsync sends none of it."
	}
	x.setAdmin(theme.NewWarningThemedResource(theme.InfoIcon()), why, widget.WarningImportance)
}

// setAdmin shows the administrator's line.
func (x *sendSection) setAdmin(icon fyne.Resource, text string, imp widget.Importance) {
	x.adminIcon.SetResource(icon)
	x.admin.Importance = imp
	x.admin.SetText(text)
	x.relayout()
}

// outboxState words an email's state and names its icon. A function, not
// a table: the theme's icons may be asked for only once the app runs.
func outboxState(state string) (word string, icon fyne.Resource, ok bool) {
	switch state {
	case "pending":
		return "Waiting to be sent", theme.HistoryIcon(), true
	case "sending":
		return "Sending", theme.NewPrimaryThemedResource(theme.MailSendIcon()), true
	case "failed":
		return "Failed", theme.NewErrorThemedResource(theme.ErrorIcon()), true
	case "sent":
		return "Sent", theme.NewSuccessThemedResource(theme.ConfirmIcon()), true
	}
	return "", nil, false
}

// outboxLine is an email's row in words: subject, then state and time.
func outboxLine(it agent.OutgoingItem, now time.Time) (subject, state string) {
	subject = strings.TrimSpace(it.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	word := it.State
	if w, _, ok := outboxState(it.State); ok {
		word = w
	}
	return subject, word + " · " + shortTime(it.Modified, now)
}

// setOutbox lists items newest first, or says empty when there are none.
func (x *sendSection) setOutbox(items []agent.OutgoingItem, empty string) {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b agent.OutgoingItem) int { return b.Modified.Compare(a.Modified) })
	x.outboxLines = x.outboxLines[:0]
	clear(x.retry)
	var rows []fyne.CanvasObject
	now := time.Now()
	failed := false
	for _, it := range items {
		subject, state := outboxLine(it, now)
		x.outboxLines = append(x.outboxLines, subject+" — "+state)
		icon := theme.MailComposeIcon()
		if _, ic, ok := outboxState(it.State); ok {
			icon = ic
		}
		title := wrapped()
		title.SetText(subject)
		when := widget.NewLabel(state)
		right := container.NewHBox(when)
		if it.State == "failed" {
			failed = true
			when.Importance = widget.DangerImportance
			id := it.ID
			b := widget.NewButtonWithIcon("Send again", theme.MailSendIcon(), func() { x.retryEmail(id) })
			x.retry[id] = b
			right.Add(b)
		}
		rows = append(rows, container.NewBorder(nil, nil, container.NewCenter(widget.NewIcon(icon)), right, title))
	}
	x.failedHint.Hidden = !failed
	if failed {
		x.outboxLines = append(x.outboxLines, failedHint)
	}
	if len(rows) == 0 {
		l := wrapped()
		l.SetText(empty)
		rows = append(rows, l)
		x.outboxLines = append(x.outboxLines, empty)
	}
	x.outbox.Objects = rows
	x.outbox.Refresh()
	x.relayout()
}

// retryEmail puts a failed email back in Pending Send, then reads the
// outbox again.
func (x *sendSection) retryEmail(id string) {
	if b := x.retry[id]; b != nil {
		b.Disable()
	}
	x.s.u.call(func(ctx context.Context) error { return x.s.u.be.RetryEmail(ctx, id) }, func(err error) {
		if err != nil {
			if b := x.retry[id]; b != nil {
				b.Enable()
			}
			x.say("The email was not sent again: "+err.Error(), widget.DangerImportance)
			return
		}
		x.loadOutbox()
	})
}
