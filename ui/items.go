package ui

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// itemsLimit is how many recent messages the window lists.
const itemsLimit = 200

// statusTick is how often the status line's "last sync 2 min ago" is
// worded again between status events.
const statusTick = 30 * time.Second

// itemsWindow lists recent messages with their state, regarding record
// and reason, sorted and filtered as the user asks, with a detail pane
// for the selected message and its sender in the CRM, and a status line
// that says where things stand. Subjects, senders and record names come
// from the backend and are held in memory only.
type itemsWindow struct {
	u *UI
	w fyne.Window

	all      []agent.Item     // what the backend listed, plus the events since
	rows     []agent.Item     // all, filtered by the search and sorted: what the list shows
	order    itemSort         // how rows are sorted
	selKey   agent.MessageKey // the selected message, "" for none; by key, so sorting keeps it
	selected int              // selKey's index in rows, -1 for none
	status   agent.Status     // the latest status, kept while the window is not built

	search  *widget.Entry
	header  [numColumns]*widget.Button
	list    *itemList
	message *messagePane
	sender  *senderPane

	track, trackRe, untrack, regard, open, copyKey *widget.Button

	result     *widget.Label // the outcome of the last action; hidden when there is none
	bottom     *fyne.Container
	progress   *widget.ProgressBar
	statusLine *widget.Label
	menu       *fyne.Menu // the context menu shown last

	regardDlg  *regardDialog  // the set/track regarding dialog shown last
	contactDlg *contactDialog // the add contact dialog shown last
}

func (v *itemsWindow) build() {
	v.w = v.u.window("Tracked items", fyne.NewSize(980, 680))
	v.selected, v.order = -1, defaultSort
	v.search = widget.NewEntry()
	v.search.SetPlaceHolder("Search sender, subject, regarding, reason or state")
	v.search.OnChanged = func(string) { v.refreshRows() }
	refresh := widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), v.reload)

	cols := make([]fyne.CanvasObject, numColumns)
	for c := range numColumns {
		b := widget.NewButton(columnTitles[c], func() { v.sortBy(c) })
		b.Importance = widget.LowImportance
		b.Alignment = widget.ButtonAlignLeading
		b.IconPlacement = widget.ButtonIconTrailingText
		v.header[c], cols[c] = b, b
	}
	v.list = newItemList(func() int { return len(v.rows) },
		func() fyne.CanvasObject { return newItemRow(v.showMenu) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			row := o.(*itemRow)
			row.id = id
			if id >= len(v.rows) {
				return
			}
			now := time.Now()
			for c, cell := range row.cells {
				cell.SetText(cellText(v.rows[id], column(c), now))
			}
		})
	v.list.selected = func() widget.ListItemID { return v.selected }
	v.list.enter = v.enter
	v.list.OnSelected = v.choose

	v.message = newMessagePane()
	v.sender = newSenderPane(v)
	v.track = widget.NewButton("Track", v.doTrack)
	v.trackRe = widget.NewButton("Track regarding…", v.doTrackRegarding)
	v.untrack = widget.NewButton("Untrack", v.doUntrack)
	v.regard = widget.NewButton("Set regarding…", v.doRegarding)
	v.open = widget.NewButtonWithIcon("Open in CRM", theme.ComputerIcon(), v.openInCRM)
	v.copyKey = widget.NewButtonWithIcon("Copy key", theme.ContentCopyIcon(), v.doCopyKey)
	v.result = widget.NewLabel("")
	v.result.Wrapping = fyne.TextWrapWord
	v.progress = widget.NewProgressBar()
	v.statusLine = widget.NewLabel("")
	v.statusLine.Wrapping = fyne.TextWrapWord

	top := container.NewBorder(nil, nil, nil, refresh, v.search)
	listArea := container.NewBorder(container.New(columnsLayout{}, cols...), nil, nil, nil, v.list)
	details := container.NewHSplit(v.message.content(), v.sender.content())
	details.Offset = 0.56
	split := container.NewVSplit(listArea, details)
	split.Offset = 0.5
	actions := container.NewHBox(v.track, v.trackRe, v.untrack, v.regard, v.open, v.copyKey)
	v.bottom = container.NewVBox(actions, v.result, widget.NewSeparator(), v.progress, v.statusLine)
	v.w.SetContent(container.NewBorder(top, v.bottom, nil, nil, split))
	v.say("")
	v.showSort()
	v.setStatus(v.status)
	v.refreshSelection()
	v.tick()
}

// tick words the status line again now and then, so "last sync 2 min
// ago" does not stay "just now" between status events.
func (v *itemsWindow) tick() {
	life := v.u.life
	go func() {
		t := time.NewTicker(statusTick)
		defer t.Stop()
		for {
			select {
			case <-life.Done():
				return
			case <-t.C:
				v.u.post(func() { v.setStatus(v.status) })
			}
		}
	}()
}

func (v *itemsWindow) show() {
	if v.w == nil {
		v.build()
	}
	v.reload()
	v.w.Show()
	v.w.RequestFocus()
	v.w.Canvas().Focus(v.list)
}

// reload asks the backend for the recent messages.
func (v *itemsWindow) reload() {
	var items []agent.Item
	v.u.call(func(ctx context.Context) (err error) { items, err = v.u.be.RecentItems(ctx, itemsLimit); return err }, func(err error) {
		if err != nil {
			v.say("The list could not be read: " + err.Error())
			return
		}
		v.all = items
		v.refreshRows()
	})
}

// update applies one item event.
func (v *itemsWindow) update(it agent.Item) {
	if v.w == nil {
		return
	}
	found := false
	for i := range v.all {
		if v.all[i].Key == it.Key {
			v.all[i], found = it, true
			break
		}
	}
	if !found {
		v.all = append([]agent.Item{it}, v.all...)
	}
	v.refreshRows()
}

// refreshRows recomputes what the list shows and keeps the selected
// message selected wherever it moved; a message the search hides is
// unselected.
func (v *itemsWindow) refreshRows() {
	v.rows = view(v.all, v.search.Text, v.order)
	idx := -1
	for i, it := range v.rows {
		if it.Key == v.selKey {
			idx = i
			break
		}
	}
	v.list.Refresh()
	if idx < 0 {
		v.selKey, v.selected = "", -1
		v.list.UnselectAll()
		v.sender.clear()
	} else {
		v.selected = idx
		v.list.Select(idx)
	}
	v.refreshSelection()
}

// sortBy sorts by col, or reverses when it is the column sorted by.
func (v *itemsWindow) sortBy(col column) {
	v.order = v.order.next(col)
	v.showSort()
	v.refreshRows()
}

// showSort puts the direction arrow on the sorted column's header.
func (v *itemsWindow) showSort() {
	for c, b := range v.header {
		switch {
		case column(c) != v.order.col:
			b.SetIcon(nil)
		case v.order.desc:
			b.SetIcon(theme.MenuDropDownIcon())
		default:
			b.SetIcon(theme.MenuDropUpIcon())
		}
	}
}

// choose follows the list's selection; a new message starts a lookup of
// its sender in the CRM.
func (v *itemsWindow) choose(id widget.ListItemID) {
	if id < 0 || id >= len(v.rows) {
		return
	}
	v.selected = id
	if k := v.rows[id].Key; k != v.selKey {
		v.selKey = k
		v.say("")
		v.sender.lookup(k)
	}
	v.refreshSelection()
}

func (v *itemsWindow) current() (agent.Item, bool) {
	if v.selected < 0 || v.selected >= len(v.rows) {
		return agent.Item{}, false
	}
	return v.rows[v.selected], true
}

// actions says which actions apply to the selected message.
type actions struct {
	any, track, untrack, addContact, open bool
}

func (v *itemsWindow) can() actions {
	it, ok := v.current()
	if !ok {
		return actions{}
	}
	tracked := it.Track == agent.Tracked || it.Track == agent.Pending
	return actions{
		any: true, track: !tracked, untrack: tracked,
		addContact: v.sender.mayAdd(it.Key),
		open:       it.ActivityID != "" && v.u.be.Settings().CRMURL != "",
	}
}

// refreshSelection shows the selected message and enables its actions.
func (v *itemsWindow) refreshSelection() {
	it, ok := v.current()
	v.message.show(it, ok)
	a := v.can()
	setEnabled(v.track, a.track)
	setEnabled(v.trackRe, a.track)
	setEnabled(v.untrack, a.untrack)
	setEnabled(v.regard, a.untrack)
	setEnabled(v.open, a.open)
	setEnabled(v.copyKey, a.any)
}

// enter is the Enter key on the list: track an untracked message, or
// change what a tracked one is regarding.
func (v *itemsWindow) enter() {
	a := v.can()
	switch {
	case a.track:
		v.doTrack()
	case a.untrack:
		v.doRegarding()
	}
}

// setStatus shows s in the status line and the scan's progress bar.
func (v *itemsWindow) setStatus(s agent.Status) {
	v.status = s
	if v.w == nil {
		return
	}
	v.statusLine.SetText(windowStatus(s, time.Now()))
	defer v.relayout()
	if s.ScanTotal == 0 || s.ScanDone >= s.ScanTotal {
		v.progress.Hide()
		return
	}
	v.progress.Show()
	v.progress.SetValue(float64(s.ScanDone) / float64(s.ScanTotal))
}

// say shows the outcome of an action under the buttons; "" hides it.
func (v *itemsWindow) say(text string) {
	v.result.SetText(text)
	if text == "" {
		v.result.Hide()
	} else {
		v.result.Show()
	}
	v.relayout()
}

// relayout lays the window out again: the bottom lines wrap, so their
// height changes with their text, and a hidden line gives its room back.
func (v *itemsWindow) relayout() {
	v.bottom.Refresh()
	v.w.Content().Refresh()
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
