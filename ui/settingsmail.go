package ui

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// The two kinds of mail account, as the choice words them.
const (
	kindMaildir = "Maildir folder"
	kindIMAP    = "IMAP account"
)

// securityChoices word agent.Security, indexed by its value.
var securityChoices = []string{"TLS", "STARTTLS", "None (this computer only)"}

// mailSection is the settings' "Mail account" tab: a Maildir on this
// computer, or an IMAP account with its password in the keychain and a
// connection test that says which step fails.
type mailSection struct {
	s    *settingsWindow
	kind *widget.RadioGroup

	maildir    *widget.Entry
	folders    *widget.Entry
	maildirBox *fyne.Container

	host, port, user *widget.Entry
	security         *widget.Select
	password         *widget.Entry // never filled from the keychain: a saved password is not shown back
	caFile           *widget.Entry
	test             *widget.Button
	testResult       *fyne.Container // one row per step of the last test
	testLines        []string        // those rows' words
	imapBox          *fyne.Container
	scroll           *container.Scroll // the tab; laid out again when parts show or hide
}

func newMailSection(s *settingsWindow) *mailSection {
	m := &mailSection{s: s}
	m.kind = widget.NewRadioGroup([]string{kindMaildir, kindIMAP}, func(string) { m.showKind() })
	m.kind.Horizontal = true
	m.kind.Required = true

	m.maildir = widget.NewEntry()
	m.maildir.SetPlaceHolder("~/Maildir")
	browse := widget.NewButton("Choose…", func() {
		dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
			if err == nil && dir != nil {
				m.maildir.SetText(dir.Path())
			}
		}, s.w)
	})
	m.folders = widget.NewEntry()
	m.folders.SetPlaceHolder(".Sent, .Archive")
	also := widget.NewFormItem("Also watch", m.folders)
	also.HintText = "Maildir++ folders besides the inbox, separated by commas."
	m.maildirBox = container.NewVBox(widget.NewForm(
		widget.NewFormItem("Mail folder", container.NewBorder(nil, nil, nil, browse, m.maildir)), also))

	m.host = widget.NewEntry()
	m.host.SetPlaceHolder("mail.example.com")
	m.port = widget.NewEntry()
	m.security = widget.NewSelect(securityChoices, func(string) { m.showDefaultPort() })
	m.user = widget.NewEntry()
	m.user.SetPlaceHolder("you@example.com")
	m.password = widget.NewPasswordEntry()
	m.caFile = widget.NewEntry()
	m.caFile.SetPlaceHolder("Optional: PEM file of a private certificate authority")
	chooseCA := widget.NewButton("Choose…", func() {
		dialog.ShowFileOpen(func(f fyne.URIReadCloser, err error) {
			if err == nil && f != nil {
				m.caFile.SetText(f.URI().Path())
				f.Close()
			}
		}, s.w)
	})
	port := widget.NewFormItem("Port", m.port)
	security := widget.NewFormItem("Security", m.security)
	password := widget.NewFormItem("Password", m.password)
	password.HintText = "Saved in the system keychain on Save; never shown again."
	m.test = widget.NewButtonWithIcon("Test connection", theme.MediaPlayIcon(), m.runTest)
	m.testResult = container.NewVBox()
	testResult := m.testResult
	m.imapBox = container.NewVBox(widget.NewForm(
		widget.NewFormItem("Server", m.host), port, security,
		widget.NewFormItem("User name", m.user), password,
		widget.NewFormItem("CA bundle", container.NewBorder(nil, nil, nil, chooseCA, m.caFile)),
	), container.NewHBox(m.test), testResult)
	return m
}

func (m *mailSection) content() fyne.CanvasObject {
	intro := wrapped()
	intro.SetText("Where crmsync reads your mail. Only the headers a decision needs are read; " +
		"a message's body is read only when it is tracked.")
	m.scroll = container.NewVScroll(container.NewVBox(intro, m.kind, m.maildirBox, m.imapBox))
	return m.scroll
}

// relayout lays the tab out again after a part showed, hid or grew.
func (m *mailSection) relayout() {
	if m.scroll != nil {
		m.scroll.Content.Refresh()
		m.scroll.Refresh()
	}
}

// imap reports whether the IMAP account is chosen.
func (m *mailSection) imap() bool { return m.kind.Selected == kindIMAP }

func (m *mailSection) showKind() {
	if m.imap() {
		m.maildirBox.Hide()
		m.imapBox.Show()
	} else {
		m.imapBox.Hide()
		m.maildirBox.Show()
	}
	m.relayout()
}

// showDefaultPort puts the chosen security's usual port in the empty
// port field's placeholder, so "empty" visibly means something.
func (m *mailSection) showDefaultPort() {
	a := agent.IMAPAccount{Host: "x", Security: m.securityValue()}
	_, port, _ := strings.Cut(a.Addr(), ":")
	m.port.SetPlaceHolder(port + " (the usual port)")
}

func (m *mailSection) securityValue() agent.Security {
	if i := slices.Index(securityChoices, m.security.Selected); i >= 0 {
		return agent.Security(i)
	}
	return agent.SecurityTLS
}

// load fills the tab from st; the password field stays empty.
func (m *mailSection) load(st agent.Settings) {
	m.maildir.SetText(st.MaildirPath)
	m.folders.SetText(strings.Join(st.Folders, ", "))
	a := st.IMAP
	m.host.SetText(a.Host)
	m.port.SetText("")
	if a.Port != 0 {
		m.port.SetText(strconv.Itoa(a.Port))
	}
	m.security.SetSelectedIndex(int(a.Security))
	m.user.SetText(a.Username)
	m.caFile.SetText(a.CAFile)
	m.password.SetText("")
	m.password.SetPlaceHolder("")
	if !a.IsZero() {
		m.password.SetPlaceHolder("Saved in the system keychain")
	}
	m.setTest(nil)
	if a.IsZero() {
		m.kind.SetSelected(kindMaildir)
	} else {
		m.kind.SetSelected(kindIMAP)
	}
	m.showKind()
}

// account reads the IMAP account from the form, or says what is wrong.
func (m *mailSection) account() (agent.IMAPAccount, string) {
	a := agent.IMAPAccount{
		Host:     strings.TrimSpace(m.host.Text),
		Security: m.securityValue(),
		Username: strings.TrimSpace(m.user.Text),
		CAFile:   strings.TrimSpace(m.caFile.Text),
	}
	if p := strings.TrimSpace(m.port.Text); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return a, "The port must be a number from 1 to 65535, or empty for the usual one."
		}
		a.Port = n
	}
	switch {
	case a.Host == "":
		return a, "Type the IMAP server's name, such as mail.example.com."
	case strings.ContainsAny(a.Host, " /:"):
		return a, "The server is a name such as mail.example.com, without imaps:// or a port."
	case a.Username == "":
		return a, "Type the user name you sign in to your mail with."
	}
	return a, ""
}

// patch adds the tab's changes to p, relative to cur.
func (m *mailSection) patch(cur agent.Settings, p *agent.SettingsPatch) string {
	if m.imap() {
		a, msg := m.account()
		if msg != "" {
			return msg
		}
		if a != cur.IMAP {
			p.IMAP = &a
		}
		return ""
	}
	d := strings.TrimSpace(m.maildir.Text)
	if d == "" && (!cur.IMAP.IsZero() || cur.MaildirPath != "") {
		return "Choose the Maildir folder to watch, such as ~/Maildir."
	}
	if !cur.IMAP.IsZero() {
		// Back to the Maildir: a zero account, and the folder to use.
		p.IMAP = &agent.IMAPAccount{}
		p.MaildirPath = &d
	} else if d != cur.MaildirPath {
		p.MaildirPath = &d
	}
	if f := splitList(m.folders.Text); !slices.Equal(f, cur.Folders) {
		p.Folders = &f
	}
	return ""
}

// runTest tries the account as typed, with the typed password or, when
// the field is empty, the one in the keychain.
func (m *mailSection) runTest() {
	a, msg := m.account()
	if msg != "" {
		m.setTest([]testLine{{mark: markFail, text: msg}})
		return
	}
	password := m.password.Text
	m.test.Disable()
	m.setTest([]testLine{{mark: markWait, text: "Testing " + a.Addr() + "…"}})
	var r agent.MailReport
	m.s.u.call(func(ctx context.Context) (err error) { r, err = m.s.u.be.TestMail(ctx, a, password); return err }, func(err error) {
		m.test.Enable()
		if err != nil {
			m.setTest([]testLine{{mark: markFail, text: "The test could not run: " + err.Error()}})
			return
		}
		m.setTest(mailTestLines(a, r))
		m.scroll.ScrollToBottom() // the result is below the fold on a small screen
	})
}

// setTest shows lines as the test's result, one row per line.
func (m *mailSection) setTest(lines []testLine) {
	m.testLines = m.testLines[:0]
	rows := make([]fyne.CanvasObject, 0, len(lines))
	for _, l := range lines {
		m.testLines = append(m.testLines, l.String())
		rows = append(rows, l.row())
	}
	m.testResult.Objects = rows
	m.testResult.Refresh()
	m.relayout()
}

// mark is how one step of a test went.
type mark int

// The marks of a test step.
const (
	markPass mark = iota
	markFail
	markWarn    // went wrong, but crmsync copes
	markSkip    // not reached, or not used
	markWait    // still running
	markSummary // the test's conclusion
)

// testLine is one row of a connection test's result.
type testLine struct {
	mark mark
	text string
}

// String is the row's words, its mark as a word too, so that the result
// reads the same to a screen reader and in a test.
func (l testLine) String() string {
	prefix := map[mark]string{markPass: "✓ ", markFail: "✗ ", markWarn: "! ", markSkip: "– "}[l.mark]
	return prefix + l.text
}

func (l testLine) row() fyne.CanvasObject {
	icon := map[mark]fyne.Resource{
		markPass: theme.NewSuccessThemedResource(theme.ConfirmIcon()), markFail: theme.NewErrorThemedResource(theme.CancelIcon()),
		markWarn: theme.NewWarningThemedResource(theme.WarningIcon()), markSkip: theme.NewDisabledResource(theme.RadioButtonIcon()),
		markWait: theme.ViewRefreshIcon(), markSummary: theme.InfoIcon(),
	}[l.mark]
	text := wrapped()
	text.SetText(l.text)
	switch l.mark {
	case markFail:
		text.Importance = widget.DangerImportance
	case markWarn:
		text.Importance = widget.WarningImportance
	}
	return container.NewBorder(nil, nil, widget.NewIcon(icon), nil, text)
}

// mailTestLines words a test report: a line per step, in the order the
// test runs them. The steps after a failure were not reached.
func mailTestLines(a agent.IMAPAccount, r agent.MailReport) []testLine {
	type step struct {
		name, ok string
		err      error
		skip     string // why the step does not apply; "" when it does
	}
	steps := []step{
		{name: "DNS", ok: "found " + a.Host, err: r.DNS},
		{name: "Connect", ok: "reached " + a.Addr(), err: r.Connect},
		{name: "TLS", ok: "the server's certificate is trusted", err: r.TLS},
		{name: "Login", ok: "signed in as " + a.Username, err: r.Login},
	}
	if a.Security == agent.SecurityNone {
		steps[2].skip = "not used: the connection is not encrypted"
	}
	var lines []testLine
	failed := ""
	for _, s := range steps {
		switch {
		case failed != "":
			lines = append(lines, testLine{markSkip, s.name + ": not tried"})
		case s.err != nil:
			failed = s.name
			lines = append(lines, testLine{markFail, s.name + ": " + s.err.Error()})
		case s.skip != "":
			lines = append(lines, testLine{markSkip, s.name + ": " + s.skip})
		default:
			lines = append(lines, testLine{markPass, s.name + ": " + s.ok})
		}
	}
	switch {
	case failed != "":
		lines = append(lines, testLine{markSkip, "IDLE: not tried"},
			testLine{markSummary, "The test stopped at the " + failed + " step."})
		return lines
	case r.Idle != nil:
		// The engine's sentence says what crmsync does instead.
		lines = append(lines, testLine{markWarn, "IDLE: " + r.Idle.Error()})
	default:
		lines = append(lines, testLine{markPass, "IDLE: supported, so new mail is seen at once"})
	}
	return append(lines, testLine{markSummary, fmt.Sprintf("The account works: %d folders, answered in %d ms.",
		r.Folders, r.Latency.Milliseconds())})
}
