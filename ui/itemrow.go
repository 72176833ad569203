package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Fixed column widths: a date and a state word never need more, and
// giving them less would cut them. The text columns share the rest.
const (
	receivedWidth = 112
	stateWidth    = 96
)

// columnShares divides the width left after the fixed columns among the
// text columns; the subject gets most because it says most.
var columnShares = [numColumns]float32{colFrom: 2, colSubject: 3, colRegarding: 2, colWhy: 2}

// columnsLayout puts one object per column side by side, with the header
// and every row using the same widths so they line up.
type columnsLayout struct{}

// width returns each column's width in a row size wide.
func (columnsLayout) widths(size float32) [numColumns]float32 {
	pad := theme.Padding()
	var w [numColumns]float32
	w[colReceived], w[colState] = receivedWidth, stateWidth
	var shares float32
	for _, s := range columnShares {
		shares += s
	}
	rest := max(size-receivedWidth-stateWidth-pad*float32(numColumns-1), 0)
	for c, s := range columnShares {
		if s > 0 {
			w[c] = rest * s / shares
		}
	}
	return w
}

// Layout places the column objects left to right.
func (l columnsLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	w := l.widths(size.Width)
	x := float32(0)
	for i, o := range objects {
		if i >= int(numColumns) {
			break
		}
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(w[i], size.Height))
		x += w[i] + theme.Padding()
	}
}

// MinSize is the fixed columns plus a sliver of each text column: rows
// truncate text with an ellipsis rather than widen the window.
func (columnsLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objects {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(receivedWidth+stateWidth+4*60+theme.Padding()*float32(numColumns-1), h)
}

// itemRow is one message in the list: a cell per column, truncated with
// an ellipsis (the detail pane shows the text whole). A right click opens
// the row's context menu.
type itemRow struct {
	widget.BaseWidget
	cells [numColumns]*widget.Label
	// id is the list row this widget shows now; the list reuses rows.
	id widget.ListItemID
	// menu shows the context menu for row id at an absolute position.
	menu func(id widget.ListItemID, at fyne.Position)
}

func newItemRow(menu func(widget.ListItemID, fyne.Position)) *itemRow {
	r := &itemRow{menu: menu, id: -1}
	for c := range r.cells {
		r.cells[c] = widget.NewLabel(columnTitles[c])
		r.cells[c].Truncation = fyne.TextTruncateEllipsis
	}
	r.ExtendBaseWidget(r)
	return r
}

// CreateRenderer lays the cells out in columns.
func (r *itemRow) CreateRenderer() fyne.WidgetRenderer {
	objs := make([]fyne.CanvasObject, len(r.cells))
	for i, c := range r.cells {
		objs[i] = c
	}
	return widget.NewSimpleRenderer(container.New(columnsLayout{}, objs...))
}

// TappedSecondary opens the row's context menu where the pointer is.
func (r *itemRow) TappedSecondary(e *fyne.PointEvent) {
	if r.menu != nil && r.id >= 0 {
		r.menu(r.id, e.AbsolutePosition)
	}
}

// itemList is a widget.List whose arrow keys move the selection, not a
// separate keyboard focus marker, and whose Enter acts on the selected
// row. The list's own marker is kept off: after a sort, a search or a
// right click the selection moves without it, and two highlighted rows
// would leave the user guessing which one the keys act on.
type itemList struct {
	widget.List
	// selected returns the selected row, or -1.
	selected func() widget.ListItemID
	// enter acts on the selected row.
	enter func()
}

func newItemList(length func() int, create func() fyne.CanvasObject, update func(widget.ListItemID, fyne.CanvasObject)) *itemList {
	l := &itemList{}
	l.Length, l.CreateItem, l.UpdateItem = length, create, update
	l.ExtendBaseWidget(l)
	return l
}

// FocusGained keeps the list's focus marker off; the selection shows
// where the keys act.
func (l *itemList) FocusGained() {}

// FocusLost matches FocusGained.
func (l *itemList) FocusLost() {}

// pageRows is how far Page Up and Page Down move.
const pageRows = 10

// TypedKey moves the selection with the arrow, Home, End and page keys,
// and acts on the selected row with Enter.
func (l *itemList) TypedKey(e *fyne.KeyEvent) {
	n := l.Length()
	if n == 0 {
		return
	}
	sel := l.selected()
	target := sel
	switch e.Name {
	case fyne.KeyUp:
		target--
	case fyne.KeyDown:
		target++
	case fyne.KeyPageUp:
		target -= pageRows
	case fyne.KeyPageDown:
		target += pageRows
	case fyne.KeyHome:
		target = 0
	case fyne.KeyEnd:
		target = n - 1
	case fyne.KeyReturn, fyne.KeyEnter:
		if l.enter != nil && sel >= 0 {
			l.enter()
		}
		return
	default:
		return
	}
	if sel < 0 {
		target = 0 // the first key press picks the first row
	}
	l.Select(min(max(target, 0), n-1))
}
