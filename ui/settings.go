package ui

import (
	"context"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
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

// settingsWindow edits the non-secret settings.
type settingsWindow struct {
	u         *UI
	w         fyne.Window
	connected *widget.Check
	maildir   *widget.Entry
	folders   *widget.Entry
	scope     *widget.RadioGroup
	excluded  *widget.Entry
	internal  *widget.Entry
	autostart *widget.Check
	errText   *widget.Label
	save      *widget.Button
}

func (s *settingsWindow) build() {
	s.w = s.u.window("crmsync settings", fyne.NewSize(560, 640))
	s.connected = widget.NewCheck("Connected to the CRM", nil)
	s.maildir = widget.NewEntry()
	s.maildir.SetPlaceHolder("~/Maildir")
	browse := widget.NewButton("Choose…", func() {
		dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
			if err == nil && dir != nil {
				s.maildir.SetText(dir.Path())
			}
		}, s.w)
	})
	s.folders = widget.NewEntry()
	s.folders.SetPlaceHolder(".Sent, .Archive")
	s.scope = widget.NewRadioGroup(scopeChoices, nil)
	s.excluded = widget.NewMultiLineEntry()
	s.excluded.SetPlaceHolder("noreply@shop.example\n@newsletters.example")
	s.excluded.SetMinRowsVisible(3)
	s.internal = widget.NewMultiLineEntry()
	s.internal.SetPlaceHolder("yourcompany.com")
	s.internal.SetMinRowsVisible(2)
	s.errText = widget.NewLabel("")
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Importance = widget.DangerImportance
	s.save = widget.NewButton("Save", s.send)
	s.save.Importance = widget.HighImportance
	connection := widget.NewFormItem("Connection", s.connected)
	connection.HintText = "When off, nothing is sent and your work waits."
	form := widget.NewForm(
		connection,
		widget.NewFormItem("Mail folder", container.NewBorder(nil, nil, nil, browse, s.maildir)),
		widget.NewFormItem("Also watch", s.folders),
		widget.NewFormItem("Track automatically", s.scope),
		widget.NewFormItem("Never track", s.excluded),
		widget.NewFormItem("Internal domains", s.internal),
	)
	items := []fyne.CanvasObject{form}
	if s.u.o.Autostart != nil {
		s.autostart = widget.NewCheck("Start crmsync when I log in", nil)
		items = append(items, s.autostart)
	}
	items = append(items, s.errText, container.NewHBox(s.save))
	s.w.SetContent(container.NewVScroll(container.NewVBox(items...)))
}

func (s *settingsWindow) show() {
	if s.w == nil {
		s.build()
	}
	s.load(s.u.be.Settings())
	s.w.Show()
	s.w.RequestFocus()
}

// load fills the form from the backend's settings.
func (s *settingsWindow) load(st agent.Settings) {
	s.connected.SetChecked(st.ConnectionEnabled)
	s.maildir.SetText(st.MaildirPath)
	s.folders.SetText(strings.Join(st.Folders, ", "))
	if i := slices.Index(scopeValues, st.AutoTrack); i >= 0 {
		s.scope.SetSelected(scopeChoices[i])
	}
	s.excluded.SetText(strings.Join(st.ExcludedAddresses, "\n"))
	s.internal.SetText(strings.Join(st.InternalDomains, "\n"))
	if s.autostart != nil {
		s.autostart.SetChecked(s.u.o.Autostart.Enabled())
	}
	s.errText.SetText("")
}

// patch is what the form changes, relative to cur.
func (s *settingsWindow) patch(cur agent.Settings) agent.SettingsPatch {
	var p agent.SettingsPatch
	if on := s.connected.Checked; on != cur.ConnectionEnabled {
		p.ConnectionEnabled = &on
	}
	if d := strings.TrimSpace(s.maildir.Text); d != cur.MaildirPath {
		p.MaildirPath = &d
	}
	if f := splitList(s.folders.Text); !slices.Equal(f, cur.Folders) {
		p.Folders = &f
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
	return p
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

func (s *settingsWindow) send() {
	p := s.patch(s.u.be.Settings())
	var autoErr error
	if s.autostart != nil && s.autostart.Checked != s.u.o.Autostart.Enabled() {
		autoErr = s.u.o.Autostart.SetEnabled(s.autostart.Checked)
	}
	s.save.Disable()
	s.u.call(func(ctx context.Context) error {
		_, err := s.u.be.UpdateSettings(ctx, p)
		return err
	}, func(err error) {
		s.save.Enable()
		switch {
		case err != nil:
			s.errText.SetText(err.Error())
		case autoErr != nil:
			s.errText.SetText("Start at login could not be changed: " + autoErr.Error())
		default:
			s.errText.SetText("")
			s.w.Hide()
		}
	})
}
