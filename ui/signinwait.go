package ui

import (
	"fmt"
	"image/color"
	"net/url"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// waitPanel replaces the sign-in form while a browser or code sign-in
// waits for the user: it says what to do, offers the link or the code to
// copy, and lets them cancel.
type waitPanel struct {
	s   *signInWindow
	box *fyne.Container

	title    *widget.Label
	text     *widget.Label
	code     *widget.Label     // the device code, large
	link     *widget.Hyperlink // the page the browser sign-in opened
	copyLink *widget.Button
	copyCode *widget.Button
	openPage *widget.Button
	// The rows hidden until a prompt says what to show: the link for the
	// browser, the code and its buttons for the device code.
	linkRows, codeRows []fyne.CanvasObject
	expiry             *widget.Label // when the code runs out; hidden without a prompt
	activity           *widget.Activity
	status             *widget.Label
	cancel             *widget.Button

	prompt agent.SignInPrompt // the latest prompt of the running sign-in
}

func newWaitPanel(s *signInWindow) *waitPanel {
	p := &waitPanel{s: s}
	p.title = widget.NewLabel("")
	p.title.TextStyle.Bold = true
	p.title.SizeName = theme.SizeNameSubHeadingText
	p.text = widget.NewLabel("")
	p.text.Wrapping = fyne.TextWrapWord
	p.code = widget.NewLabel("")
	p.code.Alignment = fyne.TextAlignCenter
	p.code.TextStyle = fyne.TextStyle{Monospace: true}
	p.code.SizeName = theme.SizeNameHeadingText
	p.code.Selectable = true
	p.link = widget.NewHyperlink("", nil)
	p.link.Truncation = fyne.TextTruncateEllipsis
	p.copyLink = widget.NewButtonWithIcon("Copy link", theme.ContentCopyIcon(), func() { p.copy(p.copyLink, p.prompt.URL) })
	p.copyCode = widget.NewButtonWithIcon("Copy code", theme.ContentCopyIcon(), func() { p.copy(p.copyCode, p.prompt.UserCode) })
	p.openPage = widget.NewButtonWithIcon("Open the page", theme.ComputerIcon(), p.open)
	p.expiry = widget.NewLabel("")
	p.expiry.Alignment = fyne.TextAlignCenter
	p.activity = widget.NewActivity()
	p.status = widget.NewLabel("")
	p.cancel = widget.NewButton("Cancel", s.cancel)

	p.linkRows = []fyne.CanvasObject{p.link, container.NewHBox(p.copyLink)}
	p.codeRows = []fyne.CanvasObject{container.NewThemeOverride(p.code, codeTheme{}),
		container.NewCenter(container.NewHBox(p.copyCode, p.openPage))}
	top := container.NewVBox(p.title, p.text, p.codeRows[0], p.linkRows[0], p.linkRows[1], p.codeRows[1], p.expiry)
	bottom := container.NewHBox(p.activity, p.status, layout.NewSpacer(), p.cancel)
	p.box = container.NewBorder(top, bottom, nil, nil)
	p.box.Hide()
	return p
}

// begin shows the panel for a sign-in whose prompt has not come yet.
func (p *waitPanel) begin(m agent.SignInMethod) {
	p.prompt = agent.SignInPrompt{}
	for _, o := range append(append([]fyne.CanvasObject{p.expiry}, p.linkRows...), p.codeRows...) {
		o.Hide()
	}
	p.copyLink.SetText("Copy link")
	p.copyCode.SetText("Copy code")
	if m == agent.SignInDeviceCode {
		p.title.SetText("Sign in with a code")
		p.text.SetText("Asking your organisation for a code…")
		p.status.SetText("Waiting for you to enter the code…")
	} else {
		p.title.SetText("Opening your browser…")
		p.text.SetText("Your organisation's sign-in page opens in your browser.")
		p.status.SetText("Waiting for the browser…")
	}
	p.activity.Start()
	p.box.Refresh()
}

// prompted shows what the sign-in asks of the user.
func (p *waitPanel) prompted(pr agent.SignInPrompt) {
	p.prompt = pr
	if pr.UserCode == "" {
		p.title.SetText("Continue in your browser…")
		p.text.SetText("crmsync opened this page in your browser. If no browser opened, copy the link and open it in one.")
		p.link.SetText(pr.URL)
		p.link.SetURL(parseURL(pr.URL))
		showAll(p.linkRows)
		p.box.Refresh()
		return
	}
	p.text.SetText(fmt.Sprintf("On any device, open %s and enter the code %s.", pr.URL, pr.UserCode))
	p.code.SetText(pr.UserCode)
	showAll(p.codeRows)
	if !pr.Expires.IsZero() {
		p.expiry.SetText("The code works until " + pr.Expires.Local().Format("15:04") + ".")
		p.expiry.Show()
	}
	p.box.Refresh()
}

// stop ends the activity animation when the panel goes away.
func (p *waitPanel) stop() { p.activity.Stop() }

// copy puts text on the clipboard and says so on the button.
func (p *waitPanel) copy(b *widget.Button, text string) {
	p.s.u.app.Clipboard().SetContent(text)
	b.SetText("Copied")
}

// open opens the code's page in the browser on this computer.
func (p *waitPanel) open() {
	u := parseURL(p.prompt.URL)
	if u == nil || p.s.u.app.OpenURL(u) != nil {
		p.status.SetText("No browser could be opened; type the address into one.")
	}
}

func showAll(objs []fyne.CanvasObject) {
	for _, o := range objs {
		o.Show()
	}
}

func parseURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u
}

// codeTheme is the app's theme with a larger heading, so the device code
// can be read from across a desk and typed on a phone without squinting.
// It asks the app for its theme on each call (theme.Current would return
// this override while it renders), so it follows theme changes.
type codeTheme struct{}

func appTheme() fyne.Theme { return fyne.CurrentApp().Settings().Theme() }

func (codeTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	return appTheme().Color(n, v)
}

func (codeTheme) Font(s fyne.TextStyle) fyne.Resource { return appTheme().Font(s) }

func (codeTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return appTheme().Icon(n) }

func (codeTheme) Size(n fyne.ThemeSizeName) float32 {
	if n == theme.SizeNameHeadingText {
		return 1.5 * appTheme().Size(n)
	}
	return appTheme().Size(n)
}
