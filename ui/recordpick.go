package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// recordPicker is a live search over the CRM's contacts, accounts,
// opportunities and cases, as set regarding, track regarding, the
// contact's company and folder rules use it. Results are fetched on each
// search and never cached.
type recordPicker struct {
	u *UI
	// only keeps results of one entity ("account"); "" keeps all.
	only    string
	query   *widget.Entry
	search  *widget.Button
	status  *widget.Label
	list    *widget.List
	results []agent.RecordRef
	chosen  int // index into results; -1 for none
	// changed is called when the choice changes, to enable a button.
	changed func()
}

func newRecordPicker(u *UI, only, placeholder string) *recordPicker {
	p := &recordPicker{u: u, only: only, chosen: -1}
	p.query = widget.NewEntry()
	p.query.SetPlaceHolder(placeholder)
	p.query.OnSubmitted = func(string) { p.run() }
	p.search = widget.NewButton("Search", p.run)
	p.status = widget.NewLabel("")
	p.status.Wrapping = fyne.TextWrapWord
	p.list = widget.NewList(func() int { return len(p.results) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("record")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(p.results) {
				o.(*widget.Label).SetText(recordText(p.results[id]))
			}
		})
	p.list.OnSelected = func(id widget.ListItemID) { p.set(id) }
	return p
}

// content is the picker's widgets: the search row, a status line and
// the results.
func (p *recordPicker) content() fyne.CanvasObject {
	top := container.NewVBox(container.NewBorder(nil, nil, nil, p.search, p.query), p.status)
	return container.NewBorder(top, nil, nil, nil, p.list)
}

// choice returns the chosen record.
func (p *recordPicker) choice() (agent.RecordRef, bool) {
	if p.chosen < 0 || p.chosen >= len(p.results) {
		return agent.RecordRef{}, false
	}
	return p.results[p.chosen], true
}

func (p *recordPicker) set(i int) {
	p.chosen = i
	if p.changed != nil {
		p.changed()
	}
}

// run searches for the query's text.
func (p *recordPicker) run() {
	q := p.query.Text
	p.status.SetText("Searching the CRM…")
	limit := 10
	if p.only != "" {
		limit = 25 // others are dropped below, so ask for more
	}
	var found []agent.RecordRef
	p.u.call(func(ctx context.Context) (err error) { found, err = p.u.be.SearchRecords(ctx, q, limit); return err }, func(err error) {
		if err != nil {
			p.status.SetText("The CRM could not be searched: " + err.Error())
			return
		}
		if p.only != "" {
			kept := found[:0:0]
			for _, r := range found {
				if r.Entity == p.only {
					kept = append(kept, r)
				}
			}
			found = kept
		}
		p.results = found
		p.list.UnselectAll()
		p.list.Refresh()
		p.set(-1)
		switch len(found) {
		case 0:
			p.status.SetText("Nothing found. Try part of the name.")
		case 1:
			p.status.SetText("1 found: select it.")
		default:
			p.status.SetText(fmt.Sprintf("%d found: select one.", len(found)))
		}
	})
}

// recordText names a record with its kind: "Account: Contoso Ltd".
func recordText(r agent.RecordRef) string {
	kind := entityName(r.Entity)
	if kind != "" {
		kind = strings.ToUpper(kind[:1]) + kind[1:]
	}
	return kind + ": " + orDash(r.Name)
}

// actionDialog is a dialog with Cancel and one action button, kept as
// fields so the action can be disabled until the form is complete (and
// tapped in tests).
type actionDialog struct {
	d      *dialog.CustomDialog
	ok     *widget.Button
	cancel *widget.Button
}

// newActionDialog builds (but does not show) a dialog over w whose button
// okText runs ok. ok decides when to close it: on success, or never when
// it shows an error in the dialog.
func newActionDialog(title, okText string, content fyne.CanvasObject, w fyne.Window, size fyne.Size, ok func()) *actionDialog {
	a := &actionDialog{d: dialog.NewCustomWithoutButtons(title, content, w)}
	a.ok = widget.NewButton(okText, ok)
	a.ok.Importance = widget.HighImportance
	a.cancel = widget.NewButton("Cancel", a.d.Hide)
	a.d.SetButtons([]fyne.CanvasObject{a.cancel, a.ok})
	a.d.Resize(size)
	return a
}
