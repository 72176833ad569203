package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// newMainWindow is the small window kept when there is no tray host: the
// status line and the tray menu's actions as buttons. Closing it quits.
func (u *UI) newMainWindow() fyne.Window {
	w := u.app.NewWindow("crmsync")
	w.Resize(fyne.NewSize(420, 260))
	return w
}

// refreshMain redraws the main window from the tray's menu.
func (u *UI) refreshMain() {
	var rows []fyne.CanvasObject
	note := widget.NewLabel("No system tray was found, so crmsync shows this window instead.")
	note.Wrapping = fyne.TextWrapWord
	rows = append(rows, note)
	for _, it := range u.tray.menu.Items {
		switch {
		case it.IsSeparator:
			rows = append(rows, widget.NewSeparator())
		case it.Action == nil:
			l := widget.NewLabel(it.Label)
			l.TextStyle.Bold = true
			rows = append(rows, l)
		default:
			label := it.Label
			if it == u.tray.connected {
				label = "Switch connection off"
				if !it.Checked {
					label = "Switch connection on"
				}
			}
			b := widget.NewButton(label, it.Action)
			if it.Disabled {
				b.Disable()
			}
			rows = append(rows, b)
		}
	}
	u.main.SetContent(container.NewVScroll(container.NewVBox(rows...)))
}
