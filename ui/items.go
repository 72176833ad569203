package ui

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// itemsLimit is how many recent messages the window lists.
const itemsLimit = 200

// itemsWindow lists recent messages with their state and reason, and
// offers Track, Untrack and Set regarding. Subjects and senders are read
// from the local Maildir by the backend and held in memory only.
type itemsWindow struct {
	u        *UI
	w        fyne.Window
	list     *widget.List
	items    []agent.Item
	selected int
	detail   *widget.Label
	result   *widget.Label
	track    *widget.Button
	untrack  *widget.Button
	regard   *widget.Button
	progress *widget.ProgressBar
	scanText *widget.Label
	scan     [2]int
}

func (v *itemsWindow) build() {
	v.w = v.u.window("Tracked items", fyne.NewSize(860, 520))
	v.selected = -1
	v.list = widget.NewList(func() int { return len(v.items) }, func() fyne.CanvasObject {
		state := widget.NewLabel("not tracked")
		from := widget.NewLabel("sender")
		from.Truncation = fyne.TextTruncateEllipsis
		subject := widget.NewLabel("subject")
		subject.Truncation = fyne.TextTruncateEllipsis
		why := widget.NewLabel("why")
		why.Truncation = fyne.TextTruncateEllipsis
		return container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSize(110, 36), state),
			nil, container.NewGridWithColumns(3, from, subject, why))
	}, func(id widget.ListItemID, o fyne.CanvasObject) {
		if id >= len(v.items) {
			return
		}
		it := v.items[id]
		row := o.(*fyne.Container)
		row.Objects[1].(*fyne.Container).Objects[0].(*widget.Label).SetText(it.Track.String())
		cols := row.Objects[0].(*fyne.Container)
		cols.Objects[0].(*widget.Label).SetText(orDash(it.From))
		cols.Objects[1].(*widget.Label).SetText(orDash(it.Subject))
		cols.Objects[2].(*widget.Label).SetText(orDash(it.Reason))
	})
	v.list.OnSelected = func(id widget.ListItemID) { v.selected = id; v.refreshButtons() }
	v.list.OnUnselected = func(widget.ListItemID) { v.selected = -1; v.refreshButtons() }
	v.detail = widget.NewLabel("Select a message to see why it was or was not tracked.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.result = widget.NewLabel("")
	v.result.Wrapping = fyne.TextWrapWord
	v.track = widget.NewButton("Track", v.doTrack)
	v.untrack = widget.NewButton("Untrack", v.doUntrack)
	v.regard = widget.NewButton("Set regarding…", v.doRegarding)
	v.progress = widget.NewProgressBar()
	v.scanText = widget.NewLabel("")
	refresh := widget.NewButton("Refresh", v.reload)
	header := container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSize(110, 36), bold("State")), nil,
		container.NewGridWithColumns(3, bold("From"), bold("Subject"), bold("Why")))
	top := container.NewVBox(v.scanText, v.progress, header)
	bottom := container.NewVBox(v.detail, v.result, container.NewHBox(v.track, v.untrack, v.regard, refresh))
	v.w.SetContent(container.NewBorder(top, bottom, nil, nil, v.list))
	v.setProgress(v.scan[0], v.scan[1])
	v.refreshButtons()
}

func (v *itemsWindow) show() {
	if v.w == nil {
		v.build()
	}
	v.reload()
	v.w.Show()
	v.w.RequestFocus()
}

// reload asks the backend for the recent messages.
func (v *itemsWindow) reload() {
	var items []agent.Item
	v.u.call(func(ctx context.Context) (err error) { items, err = v.u.be.RecentItems(ctx, itemsLimit); return err }, func(err error) {
		if err != nil {
			v.result.SetText("The list could not be read: " + err.Error())
			return
		}
		v.items = items
		v.selected = -1
		v.list.UnselectAll()
		v.list.Refresh()
		v.refreshButtons()
	})
}

// update applies one item event to the list.
func (v *itemsWindow) update(it agent.Item) {
	if v.w == nil {
		return
	}
	for i := range v.items {
		if v.items[i].Key == it.Key {
			v.items[i] = it
			v.list.RefreshItem(i)
			v.refreshButtons()
			return
		}
	}
	v.items = append([]agent.Item{it}, v.items...)
	if v.selected >= 0 {
		v.selected++
	}
	v.list.Refresh()
}

// setProgress shows the initial scan of a large Maildir.
func (v *itemsWindow) setProgress(done, total int) {
	v.scan = [2]int{done, total}
	if v.w == nil {
		return
	}
	if total == 0 || done >= total {
		v.progress.Hide()
		v.scanText.Hide()
		return
	}
	v.progress.Show()
	v.scanText.Show()
	v.progress.SetValue(float64(done) / float64(total))
	v.scanText.SetText(fmt.Sprintf("Reading your mail folder: %d of %d messages", done, total))
}

func (v *itemsWindow) current() (agent.Item, bool) {
	if v.selected < 0 || v.selected >= len(v.items) {
		return agent.Item{}, false
	}
	return v.items[v.selected], true
}

func (v *itemsWindow) refreshButtons() {
	it, ok := v.current()
	if !ok {
		v.track.Disable()
		v.untrack.Disable()
		v.regard.Disable()
		return
	}
	tracked := it.Track == agent.Tracked || it.Track == agent.Pending
	setEnabled(v.track, !tracked)
	setEnabled(v.untrack, tracked)
	v.regard.Enable()
	text := fmt.Sprintf("%s — %s\nReceived %s · %s", orDash(it.From), orDash(it.Subject), it.Received.Local().Format(time.DateTime), it.Track)
	if it.Reason != "" {
		text += ": " + it.Reason
	}
	if it.Regarding != nil {
		text += "\nRegarding " + it.Regarding.Entity + " " + orDash(it.Regarding.Name)
	}
	if it.Track == agent.Tracked && !it.OwnedByMe {
		text += "\nThe CRM copy belongs to a colleague."
	}
	v.detail.SetText(text)
}

func (v *itemsWindow) doTrack() {
	it, ok := v.current()
	if !ok {
		return
	}
	v.u.call(func(ctx context.Context) error { return v.u.be.Track(ctx, it.Key, nil) }, func(err error) {
		if err != nil {
			v.result.SetText("Could not track: " + err.Error())
			return
		}
		v.result.SetText("Queued: the message will be tracked as soon as the CRM answers.")
	})
}

func (v *itemsWindow) doUntrack() {
	it, ok := v.current()
	if !ok {
		return
	}
	var res agent.UntrackResult
	v.u.call(func(ctx context.Context) (err error) { res, err = v.u.be.Untrack(ctx, it.Key); return err }, func(err error) {
		if err != nil {
			v.result.SetText("Could not untrack: " + err.Error())
			return
		}
		v.result.SetText(res.Reason)
	})
}

// doRegarding opens a live search over contacts, accounts, opportunities
// and cases; results are fetched each time and never cached.
func (v *itemsWindow) doRegarding() {
	it, ok := v.current()
	if !ok {
		return
	}
	query := widget.NewEntry()
	query.SetPlaceHolder("Name of a contact, account, opportunity or case")
	var results []agent.RecordRef
	chosen := -1
	status := widget.NewLabel("")
	list := widget.NewList(func() int { return len(results) }, func() fyne.CanvasObject { return widget.NewLabel("record") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			r := results[id]
			o.(*widget.Label).SetText(entityName(r.Entity) + ": " + r.Name)
		})
	list.OnSelected = func(id widget.ListItemID) { chosen = id }
	search := func() {
		q := query.Text
		status.SetText("Searching…")
		var found []agent.RecordRef
		v.u.call(func(ctx context.Context) (err error) { found, err = v.u.be.SearchRecords(ctx, q, 10); return err }, func(err error) {
			if err != nil {
				status.SetText(err.Error())
				return
			}
			results, chosen = found, -1
			list.UnselectAll()
			list.Refresh()
			status.SetText(fmt.Sprintf("%d found", len(found)))
		})
	}
	query.OnSubmitted = func(string) { search() }
	content := container.NewBorder(container.NewVBox(container.NewBorder(nil, nil, nil, widget.NewButton("Search", search), query), status),
		nil, nil, nil, list)
	d := dialog.NewCustomConfirm("Set regarding", "Link", "Cancel", content, func(ok bool) {
		if !ok || chosen < 0 || chosen >= len(results) {
			return
		}
		r := results[chosen]
		v.u.call(func(ctx context.Context) error { return v.u.be.SetRegarding(ctx, it.Key, r) }, func(err error) {
			if err != nil {
				v.result.SetText("Could not set regarding: " + err.Error())
				return
			}
			v.result.SetText("Queued: regarding " + entityName(r.Entity) + " " + r.Name + ".")
		})
	}, v.w)
	d.Resize(fyne.NewSize(520, 420))
	d.Show()
}

func entityName(e string) string {
	if e == "incident" {
		return "case"
	}
	return e
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func setEnabled(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

func bold(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.TextStyle.Bold = true
	return l
}
