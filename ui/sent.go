package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// sentWindow shows what left the device: for each recent exchange, which
// fields and how many bytes. The backend holds this in memory only.
type sentWindow struct {
	u    *UI
	w    fyne.Window
	text *widget.Label
}

func (v *sentWindow) build() {
	v.w = v.u.window("What was sent", fyne.NewSize(640, 480))
	intro := widget.NewLabel("Before deciding, crmsync sends only From, To, Cc, Subject and Message-ID. " +
		"A message's body leaves this computer only when the message is tracked.")
	intro.Wrapping = fyne.TextWrapWord
	v.text = widget.NewLabel("")
	v.text.TextStyle = fyne.TextStyle{Monospace: true}
	v.w.SetContent(container.NewBorder(intro, widget.NewButton("Refresh", v.reload), nil, nil, container.NewVScroll(v.text)))
}

func (v *sentWindow) show() {
	if v.w == nil {
		v.build()
	}
	v.reload()
	v.w.Show()
	v.w.RequestFocus()
}

func (v *sentWindow) reload() { v.text.SetText(formatDisclosures(v.u.be.Disclosures(100))) }

// formatDisclosures renders the exchanges as lines a user can read.
func formatDisclosures(ds []agent.Disclosure) string {
	if len(ds) == 0 {
		return "Nothing has been sent yet."
	}
	var b strings.Builder
	for _, d := range ds {
		fields := make([]string, 0, len(d.Fields))
		total := 0
		for _, f := range d.Fields {
			fields = append(fields, fmt.Sprintf("%s %d B", f.Name, f.Bytes))
			total += f.Bytes
		}
		body := "body not sent"
		if d.BodySent {
			body = "body uploaded"
		}
		fmt.Fprintf(&b, "%s  %-18s %s\n    %s  (%d B; %s)\n", d.At.Local().Format(time.TimeOnly), d.Purpose, d.Key,
			strings.Join(fields, ", "), total, body)
	}
	return b.String()
}
