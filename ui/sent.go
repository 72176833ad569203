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
	u      *UI
	w      fyne.Window
	list   *fyne.Container // two lines per exchange
	scroll *container.Scroll
}

func (v *sentWindow) build() {
	v.w = v.u.window("What was sent", fyne.NewSize(640, 480))
	intro := widget.NewLabel("Before deciding, crmsync sends only From, To, Cc, Subject and Message-ID. " +
		"A message's body leaves this computer only when the message is tracked.")
	intro.Wrapping = fyne.TextWrapWord
	v.list = container.NewVBox()
	v.scroll = container.NewVScroll(v.list)
	top := container.NewVBox(intro, widget.NewSeparator())
	v.w.SetContent(container.NewBorder(top, widget.NewButton("Refresh", v.reload), nil, nil, v.scroll))
}

func (v *sentWindow) show() {
	if v.w == nil {
		v.build()
	}
	v.reload()
	v.w.Show()
	v.w.RequestFocus()
}

// reload shows the exchanges, each line whole and wrapped at the window's
// edge: a field list cut off with an ellipsis would hide exactly what the
// user came here to check.
func (v *sentWindow) reload() {
	ds := v.u.be.Disclosures(100)
	var rows []fyne.CanvasObject
	if len(ds) == 0 {
		rows = append(rows, widget.NewLabel(formatDisclosures(nil)))
	}
	for _, d := range ds {
		head, fields := disclosureLines(d)
		h := bold(head)
		h.Wrapping = fyne.TextWrapWord
		f := wrapped()
		f.SetText(fields)
		rows = append(rows, container.NewVBox(h, f))
	}
	v.list.Objects = rows
	v.list.Refresh()
	v.scroll.Refresh()
	// The wrapped intro knows its height only once it has a width.
	v.w.Content().Refresh()
}

// disclosureLines words one exchange: when, why and which message; then
// the fields with their sizes, and whether the body went too.
func disclosureLines(d agent.Disclosure) (head, fields string) {
	parts := make([]string, 0, len(d.Fields))
	total := 0
	for _, f := range d.Fields {
		parts = append(parts, fmt.Sprintf("%s %d B", f.Name, f.Bytes))
		total += f.Bytes
	}
	body := "body not sent"
	if d.BodySent {
		body = "body uploaded"
	}
	head = fmt.Sprintf("%s  %s  %s", d.At.Local().Format(time.TimeOnly), d.Purpose, d.Key)
	fields = fmt.Sprintf("%s  (%d B; %s)", strings.Join(parts, ", "), total, body)
	return head, fields
}

// formatDisclosures renders the exchanges as text, two lines each.
func formatDisclosures(ds []agent.Disclosure) string {
	if len(ds) == 0 {
		return "Nothing has been sent yet."
	}
	var b strings.Builder
	for _, d := range ds {
		head, fields := disclosureLines(d)
		fmt.Fprintf(&b, "%s\n    %s\n", head, fields)
	}
	return b.String()
}
