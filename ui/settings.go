package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// scopeChoices are the auto-track choices in the order shown; their index
// is not the stored value, scopeValues maps it.
var (
	scopeChoices = []string{
		"Mail from CRM contacts, accounts and leads",
		"Replies to tracked mail",
		"All mail",
		"None: I track by hand",
	}
	scopeValues = []agent.AutoTrackScope{agent.TrackFromCRMRecords, agent.TrackReplies, agent.TrackAll, agent.TrackNone}
)

// settingsWindow edits the settings, one tab per subject so it fits a
// small screen. Save applies the Connection, Mail account and Tracking
// tabs together; folder rules live in the CRM and change at once.
type settingsWindow struct {
	u    *UI
	w    fyne.Window
	tabs *container.AppTabs

	connected *widget.Check
	crm       *widget.Label
	autostart *widget.Check

	mail    *mailSection
	folders *folderSection
	records *recordsSection
	// outgoing is the "Send email" tab (send is the window's Save).
	outgoing *sendSection

	scope    *widget.RadioGroup
	excluded *widget.Entry
	internal *widget.Entry

	errText *widget.Label
	save    *widget.Button
	saveBar *fyne.Container // hidden on the folder, records and send tabs, where nothing waits for this Save
}

// The settings tabs, in order.
const (
	tabConnection = iota
	tabMail
	tabFolders
	tabRecords
	tabSend
	tabTracking
)

func (s *settingsWindow) build() {
	s.w = s.u.window("crmsync settings", fyne.NewSize(800, 680))
	s.mail = newMailSection(s)
	s.folders = newFolderSection(s)
	s.records = newRecordsSection(s)
	s.outgoing = newSendSection(s)
	s.errText = wrapped()
	s.errText.Importance = widget.DangerImportance
	s.save = widget.NewButton("Save", s.send)
	s.save.Importance = widget.HighImportance
	s.errText.Hide()
	s.saveBar = container.NewVBox(s.errText, container.NewHBox(s.save))
	s.tabs = container.NewAppTabs(
		container.NewTabItem("Connection", container.NewVScroll(s.connectionTab())),
		container.NewTabItem("Mail account", s.mail.content()),
		container.NewTabItem("Folder tracking", s.folders.content()),
		container.NewTabItem("Address book and calendar", s.records.content()),
		container.NewTabItem("Send email", s.outgoing.content()),
		container.NewTabItem("Tracking", container.NewVScroll(s.trackingTab())),
	)
	s.tabs.OnSelected = func(*container.TabItem) {
		switch s.tabs.SelectedIndex() {
		case tabFolders:
			s.saveBar.Hide()
		case tabRecords:
			s.saveBar.Hide() // the tab has its own Save
			s.records.loadOverview()
		case tabSend:
			s.saveBar.Hide() // the tab has its own Save
			s.outgoing.loadOutbox()
		default:
			s.saveBar.Show()
		}
		s.w.Content().Refresh() // the tab takes the room Save leaves, or gives it back
	}
	s.w.SetContent(container.NewBorder(nil, container.NewPadded(s.saveBar), nil, nil, s.tabs))
}

func (s *settingsWindow) connectionTab() fyne.CanvasObject {
	s.connected = widget.NewCheck("Connected to the CRM", nil)
	s.crm = wrapped()
	connection := widget.NewFormItem("Connection", s.connected)
	connection.HintText = "When off, nothing is sent and your work waits."
	form := widget.NewForm(connection, widget.NewFormItem("CRM", s.crm))
	items := []fyne.CanvasObject{form}
	if s.u.o.Autostart != nil {
		s.autostart = widget.NewCheck("Start crmsync when I log in", nil)
		items = append(items, s.autostart)
	}
	return container.NewVBox(items...)
}

func (s *settingsWindow) trackingTab() fyne.CanvasObject {
	s.scope = widget.NewRadioGroup(scopeChoices, nil)
	s.excluded = widget.NewMultiLineEntry()
	s.excluded.SetPlaceHolder("noreply@shop.example\n@newsletters.example")
	s.excluded.SetMinRowsVisible(4)
	s.internal = widget.NewMultiLineEntry()
	s.internal.SetPlaceHolder("yourcompany.example")
	s.internal.SetMinRowsVisible(3)
	never := widget.NewFormItem("Never track", s.excluded)
	never.HintText = "Addresses, or @domains, one a line. Checked on this computer only."
	internal := widget.NewFormItem("Internal domains", s.internal)
	internal.HintText = "Mail between colleagues is not tracked automatically."
	return widget.NewForm(widget.NewFormItem("Track automatically", s.scope), never, internal)
}

func (s *settingsWindow) show() {
	if s.w == nil {
		s.build()
	}
	s.load(s.u.be.Settings())
	s.folders.load()
	switch s.tabs.SelectedIndex() {
	case tabRecords:
		s.records.loadOverview()
	case tabSend:
		s.outgoing.loadOutbox()
	}
	s.w.Show()
	s.w.RequestFocus()
}

// load fills the form from the backend's settings.
func (s *settingsWindow) load(st agent.Settings) {
	s.connected.SetChecked(st.ConnectionEnabled)
	s.crm.SetText(orDash(st.CRMURL))
	s.mail.load(st)
	s.records.load(st)
	s.outgoing.load(st)
	if i := slices.Index(scopeValues, st.AutoTrack); i >= 0 {
		s.scope.SetSelected(scopeChoices[i])
	}
	s.excluded.SetText(strings.Join(st.ExcludedAddresses, "\n"))
	s.internal.SetText(strings.Join(st.InternalDomains, "\n"))
	if s.autostart != nil {
		s.autostart.SetChecked(s.u.o.Autostart.Enabled())
	}
	s.setError("")
}

// patch is what the form changes, relative to cur. A message instead
// says what the user must correct first.
func (s *settingsWindow) patch(cur agent.Settings) (agent.SettingsPatch, string) {
	var p agent.SettingsPatch
	if on := s.connected.Checked; on != cur.ConnectionEnabled {
		p.ConnectionEnabled = &on
	}
	if msg := s.mail.patch(cur, &p); msg != "" {
		return p, msg
	}
	if i := slices.Index(scopeChoices, s.scope.Selected); i >= 0 && scopeValues[i] != cur.AutoTrack {
		v := scopeValues[i]
		p.AutoTrack = &v
	}
	if x := splitList(s.excluded.Text); !slices.Equal(x, cur.ExcludedAddresses) {
		p.ExcludedAddresses = &x
	}
	if x := splitList(s.internal.Text); !slices.Equal(x, cur.InternalDomains) {
		p.InternalDomains = &x
	}
	return p, ""
}

// setError shows msg above Save; "" hides the line.
func (s *settingsWindow) setError(msg string) {
	s.errText.SetText(msg)
	s.errText.Hidden = msg == ""
	s.saveBar.Refresh()
	s.w.Content().Refresh()
}

// splitList reads one entry per line or comma, without blanks.
func splitList(text string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' || r == ';' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// send saves: the mail password first, to the keychain (so the engine
// finds it when it switches accounts), then the settings.
func (s *settingsWindow) send() {
	p, msg := s.patch(s.u.be.Settings())
	if msg != "" {
		s.setError(msg)
		s.tabs.SelectIndex(tabMail)
		return
	}
	password := s.mail.password.Text
	account, _ := s.mail.account()
	var autoErr error
	if s.autostart != nil && s.autostart.Checked != s.u.o.Autostart.Enabled() {
		autoErr = s.u.o.Autostart.SetEnabled(s.autostart.Checked)
	}
	savePassword := password != "" && s.mail.imap()
	s.save.Disable()
	s.u.call(func(ctx context.Context) error {
		if savePassword {
			if err := s.u.be.SaveMailPassword(ctx, account, password); err != nil {
				return fmt.Errorf("the mail password was not saved in the system keychain, so nothing was changed: %w", err)
			}
		}
		_, err := s.u.be.UpdateSettings(ctx, p)
		return err
	}, func(err error) {
		s.save.Enable()
		switch {
		case err != nil:
			s.setError(err.Error())
		case autoErr != nil:
			s.setError("Start at login could not be changed: " + autoErr.Error())
		default:
			s.mail.password.SetText("")
			s.setError("")
			s.w.Hide()
		}
	})
}
