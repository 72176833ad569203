package ui

import (
	"context"
	"net/url"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// showMenu selects row id and opens its context menu at the pointer, so
// the menu always acts on the row the user clicked.
func (v *itemsWindow) showMenu(id widget.ListItemID, at fyne.Position) {
	v.list.Select(id)
	v.menu = v.rowMenu()
	widget.ShowPopUpMenuAtPosition(v.menu, v.w.Canvas(), at)
}

// rowMenu is the selected message's actions, the same as the buttons.
func (v *itemsWindow) rowMenu() *fyne.Menu {
	a := v.can()
	item := func(label string, action func(), on bool) *fyne.MenuItem {
		it := fyne.NewMenuItem(label, action)
		it.Disabled = !on
		return it
	}
	return fyne.NewMenu("",
		item("Track", v.doTrack, a.track),
		item("Track regarding…", v.doTrackRegarding, a.track),
		item("Untrack", v.doUntrack, a.untrack),
		item("Set regarding…", v.doRegarding, a.untrack),
		fyne.NewMenuItemSeparator(),
		item("Add sender as contact…", v.addContact, a.addContact),
		item("Open in CRM", v.openInCRM, a.open),
		item("Copy key", v.doCopyKey, a.any),
	)
}

func (v *itemsWindow) doTrack() {
	it, ok := v.current()
	if !ok {
		return
	}
	v.u.call(func(ctx context.Context) error { return v.u.be.Track(ctx, it.Key, nil) }, func(err error) {
		if err != nil {
			v.say("Could not track: " + err.Error())
			return
		}
		v.say("Queued: the message will be tracked as soon as the CRM answers.")
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
			v.say("Could not untrack: " + err.Error())
			return
		}
		v.say(res.Reason)
	})
}

// doRegarding links a tracked message to another record.
func (v *itemsWindow) doRegarding() { v.pickRegarding(false) }

// doTrackRegarding tracks a message and links it to a record in one go.
func (v *itemsWindow) doTrackRegarding() { v.pickRegarding(true) }

// regardDialog is the record search of set regarding and track regarding.
type regardDialog struct {
	*actionDialog
	picker *recordPicker
}

// pickRegarding asks for a record with a live search, then tracks the
// message regarding it (track) or changes its regarding record.
func (v *itemsWindow) pickRegarding(track bool) {
	it, ok := v.current()
	if !ok {
		return
	}
	title, okText := "Set regarding", "Link"
	if track {
		title, okText = "Track regarding", "Track"
	}
	intro := widget.NewLabel(orDash(it.Subject) + "\nfrom " + orDash(it.From))
	intro.Wrapping = fyne.TextWrapWord
	picker := newRecordPicker(v.u, "", "Name of a contact, account, opportunity or case")
	content := container.NewBorder(intro, nil, nil, nil, picker.content())
	var dlg *regardDialog
	dlg = &regardDialog{picker: picker, actionDialog: newActionDialog(title, okText, content, v.w, fyne.NewSize(540, 440), func() {
		r, ok := picker.choice()
		if !ok {
			return
		}
		dlg.d.Hide()
		v.linkTo(it.Key, r, track)
	})}
	dlg.ok.Disable()
	picker.changed = func() { _, ok := picker.choice(); setEnabled(dlg.ok, ok) }
	v.regardDlg = dlg
	dlg.d.Show()
	v.w.Canvas().Focus(picker.query)
}

// linkTo queues tracking k regarding r, or setting k's regarding to r.
func (v *itemsWindow) linkTo(k agent.MessageKey, r agent.RecordRef, track bool) {
	v.u.call(func(ctx context.Context) error {
		if track {
			return v.u.be.Track(ctx, k, &r)
		}
		return v.u.be.SetRegarding(ctx, k, r)
	}, func(err error) {
		switch {
		case err != nil && track:
			v.say("Could not track: " + err.Error())
		case err != nil:
			v.say("Could not set regarding: " + err.Error())
		case track:
			v.say("Queued: the message will be tracked regarding " + recordText(r) + ".")
		default:
			v.say("Queued: regarding " + recordText(r) + ".")
		}
	})
}

// openInCRM opens the tracked message's email activity in the browser.
func (v *itemsWindow) openInCRM() {
	it, ok := v.current()
	if !ok || it.ActivityID == "" {
		return
	}
	u := recordURL(v.u.be.Settings().CRMURL, "email", it.ActivityID)
	if u == nil || v.u.app.OpenURL(u) != nil {
		v.say("No browser could be opened for the CRM.")
	}
}

// recordURL is a record's page in the CRM's web app, in the form
// Dynamics 365 uses for links: main.aspx?pagetype=entityrecord.
func recordURL(crm, entity, id string) *url.URL {
	if crm == "" || id == "" {
		return nil
	}
	q := url.Values{"pagetype": {"entityrecord"}, "etn": {entity}, "id": {id}}
	return parseURL(strings.TrimRight(crm, "/") + "/main.aspx?" + q.Encode())
}

// doCopyKey puts the message's key on the clipboard, for the command
// line ("crmsync track KEY") and for support.
func (v *itemsWindow) doCopyKey() {
	it, ok := v.current()
	if !ok {
		return
	}
	v.u.app.Clipboard().SetContent(string(it.Key))
	v.say("Copied the message's key: " + string(it.Key))
}
