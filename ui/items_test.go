package ui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"crmsync/agent"
	"crmsync/agent/agenttest"
)

// demoItems are four messages that differ in every column.
func demoItems(now time.Time) []agent.Item {
	return []agent.Item{
		{Key: "k1", From: "Maria Campbell <maria.campbell@contoso.example>", Subject: "Quote for 250 laptops", Track: agent.Tracked,
			ActivityID: "6f1c2a7e-0000-4000-8000-000000000001", OwnedByMe: true, Reason: "sender is a CRM contact",
			Regarding: &agent.RecordRef{Entity: "account", ID: "acc-contoso", Name: "Contoso Ltd"}, Received: now.Add(-time.Hour)},
		{Key: "k2", From: "Sam Stranger <sam@unknown.example>", Subject: "Lunch on Friday?", Track: agent.Untracked,
			Reason: "no CRM match", Received: now.Add(-2 * time.Hour)},
		{Key: "k3", From: "Deals Weekly <noreply@newsletter.example>", Subject: "Your weekly digest", Track: agent.Untracked,
			Reason: "excluded address", Received: now.Add(-26 * time.Hour)},
		{Key: "k4", From: "Ben Okafor <ben@fabrikam.example>", Subject: "Re: Renewal terms", Track: agent.Pending,
			Regarding: &agent.RecordRef{Entity: "opportunity", ID: "opp-fab", Name: "Fabrikam renewal 2027"},
			Reason:    "reply to tracked mail", Received: now.Add(-72 * time.Hour)},
	}
}

// maria is k1's sender as the CRM knows her.
var maria = agent.Person{
	Ref:   agent.RecordRef{Entity: "contact", ID: "c-maria", Name: "Maria Campbell"},
	Email: "maria.campbell@contoso.example", Company: "Contoso Ltd", JobTitle: "Head of purchasing",
	Phone: "+1 425 555 0143", Owner: "Alice Martin",
	WebURL: "https://fourthcoffee.crm.dynamics.com/main.aspx?pagetype=entityrecord&etn=contact&id=c-maria",
}

// openItems shows the items window over demoItems.
func openItems(t *testing.T) (*UI, *agenttest.FakeBackend, *itemsWindow) {
	t.Helper()
	u, be := newUI(t, agent.StateOnline)
	be.Items = demoItems(time.Now())
	be.SettingsValue.CRMURL = "https://fourthcoffee.crm.dynamics.com"
	be.SenderValue = map[agent.MessageKey]*agent.Person{"k1": &maria}
	v := u.items
	v.show()
	settle(t, u, "the list", func() bool { return len(v.rows) == 4 })
	return u, be, v
}

func rowKeys(v *itemsWindow) string {
	keys := make([]string, len(v.rows))
	for i, it := range v.rows {
		keys[i] = string(it.Key)
	}
	return strings.Join(keys, ",")
}

func TestItemsSort(t *testing.T) {
	_, _, v := openItems(t)
	if got := rowKeys(v); got != "k1,k2,k3,k4" {
		t.Fatalf("default order %s, want newest first", got)
	}
	if v.header[colReceived].Icon != theme.MenuDropDownIcon() {
		t.Error("the Received header must show the descending arrow")
	}
	for _, tc := range []struct {
		col         column
		first, then string // the order after one click, and after a second
	}{
		{colFrom, "k4,k3,k1,k2", "k2,k1,k3,k4"},
		{colSubject, "k2,k1,k4,k3", "k3,k4,k1,k2"},
		{colState, "k2,k3,k4,k1", "k1,k4,k2,k3"}, // not tracked, pending, tracked; ties newest first
		{colRegarding, "k2,k3,k1,k4", "k4,k1,k2,k3"},
		{colWhy, "k3,k2,k4,k1", "k1,k4,k2,k3"},
		{colReceived, "k1,k2,k3,k4", "k4,k3,k2,k1"},
	} {
		test.Tap(v.header[tc.col])
		if got := rowKeys(v); got != tc.first {
			t.Errorf("%s: order %s, want %s", columnTitles[tc.col], got, tc.first)
		}
		arrow := theme.MenuDropUpIcon()
		if tc.col == colReceived {
			arrow = theme.MenuDropDownIcon()
		}
		if v.header[tc.col].Icon != arrow {
			t.Errorf("%s: wrong sort arrow after one click", columnTitles[tc.col])
		}
		for c, b := range v.header {
			if column(c) != tc.col && b.Icon != nil {
				t.Errorf("%s shows an arrow while sorting by %s", columnTitles[c], columnTitles[tc.col])
			}
		}
		test.Tap(v.header[tc.col])
		if got := rowKeys(v); got != tc.then {
			t.Errorf("%s reversed: order %s, want %s", columnTitles[tc.col], got, tc.then)
		}
	}
}

func TestItemsSortKeepsSelection(t *testing.T) {
	u, _, v := openItems(t)
	v.list.Select(1)
	settle(t, u, "the lookup", func() bool { return v.sender.done })
	test.Tap(v.header[colFrom])
	if it, ok := v.current(); !ok || it.Key != "k2" || v.rows[v.selected].Key != "k2" {
		t.Errorf("selection after sorting: %v %v", it.Key, ok)
	}
	if !strings.Contains(v.message.subject.Text, "Lunch") {
		t.Errorf("detail pane shows %q", v.message.subject.Text)
	}
}

func TestItemsSearch(t *testing.T) {
	_, _, v := openItems(t)
	for query, want := range map[string]string{
		"contoso":           "k1", // sender address and regarding record
		"FABRIKAM":          "k4", // case does not matter
		"lunch":             "k2", // subject
		"excluded":          "k3", // why
		"pending":           "k4", // state
		"not tracked":       "k2,k3",
		"":                  "k1,k2,k3,k4",
		"nothing like this": "",
	} {
		v.search.SetText(query)
		if got := rowKeys(v); got != want {
			t.Errorf("search %q: rows %s, want %s", query, got, want)
		}
	}
	v.search.SetText("")
	v.list.Select(0)
	if it, _ := v.current(); it.Key != "k1" {
		t.Fatalf("selected %q", it.Key)
	}
	v.search.SetText("weekly")
	if _, ok := v.current(); ok {
		t.Error("a message the search hides must not stay selected")
	}
}

func TestItemsStatusLine(t *testing.T) {
	u, _, v := openItems(t)
	now := time.Now()
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, User: "Alice Martin", Pending: 2,
		Mail: "imaps://alice@mail.fourthcoffee.example:993", LastSync: now.Add(-2*time.Minute - 5*time.Second)}})
	if got, want := v.statusLine.Text, "Online as Alice Martin · mail imaps://alice@mail.fourthcoffee.example:993 · 2 actions waiting · last sync 2 min ago"; got != want {
		t.Errorf("online:\n got %q\nwant %q", got, want)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateBackoff, NextRetry: now.Add(3*time.Minute + 10*time.Second),
		Mail: "/home/alice/Maildir", Pending: 1, LastSync: now.Add(-15 * time.Minute)}})
	if got, want := v.statusLine.Text, "CRM unreachable, next try in 3 min · mail /home/alice/Maildir · 1 action waiting · last sync 15 min ago"; got != want {
		t.Errorf("backoff:\n got %q\nwant %q", got, want)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateNeedsSignIn}})
	if got, want := v.statusLine.Text, "Signed out: sign in to track mail · no mail account set · nothing waiting · not synced yet"; got != want {
		t.Errorf("signed out:\n got %q\nwant %q", got, want)
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, ScanDone: 250, ScanTotal: 1000, Mail: "/home/alice/Maildir"}})
	if !v.progress.Visible() || !strings.Contains(v.statusLine.Text, "reading mail: 250 of 1000 messages") {
		t.Errorf("scan progress: %q visible=%v", v.statusLine.Text, v.progress.Visible())
	}
	u.apply(agent.Event{Status: &agent.Status{State: agent.StateOnline, ScanDone: 1000, ScanTotal: 1000,
		Warnings: []agent.Warning{{Title: "2 messages could not be tracked"}}}})
	if v.progress.Visible() || strings.Contains(v.statusLine.Text, "reading mail") {
		t.Error("the scan's progress must go once it is done")
	}
	if !strings.HasSuffix(v.statusLine.Text, "\n2 messages could not be tracked") {
		t.Errorf("a warning must show in the status line: %q", v.statusLine.Text)
	}
}

func TestItemsSenderInCRM(t *testing.T) {
	u, be, v := openItems(t)
	v.list.Select(0)
	settle(t, u, "Maria", func() bool { return v.sender.done })
	p := v.sender
	if !hasCall(be, "Sender k1") {
		t.Errorf("no lookup: %q", be.Calls())
	}
	for got, want := range map[string]string{
		p.name.Text: "Maria Campbell", p.company.Text: "Contoso Ltd", p.job.Text: "Head of purchasing",
		p.phone.Text: "+1 425 555 0143", p.owner.Text: "Alice Martin", p.email.Text: "maria.campbell@contoso.example",
	} {
		if got != want {
			t.Errorf("sender pane shows %q, want %q", got, want)
		}
	}
	if !p.link.Visible() || p.link.URL == nil || p.link.URL.String() != maria.WebURL || p.add.Visible() {
		t.Errorf("link %v visible=%v; add visible=%v", p.link.URL, p.link.Visible(), p.add.Visible())
	}
	if v.open.Disabled() || v.message.regarding.Text != "Account: Contoso Ltd" {
		t.Errorf("a tracked message opens in the CRM; regarding %q", v.message.regarding.Text)
	}

	be.SetError("Sender", errors.New("the CRM cannot be reached"))
	v.list.Select(3)
	settle(t, u, "the error", func() bool { return v.sender.done })
	if !strings.Contains(p.state.Text, "the CRM cannot be reached") || p.add.Visible() || p.name.Visible() {
		t.Errorf("a failed lookup must say why: %q", p.state.Text)
	}
}

func TestItemsSenderLookupOvertaken(t *testing.T) {
	u, be, v := openItems(t)
	be.SenderBlock = make(chan struct{})
	v.list.Select(0)
	eventually(t, "the first lookup", func() bool { return hasCall(be, "Sender k1") })
	v.list.Select(1)
	eventually(t, "the second lookup", func() bool { return hasCall(be, "Sender k2") })
	close(be.SenderBlock)
	settle(t, u, "k2's sender", func() bool { return v.sender.done })
	u.drain()
	if v.sender.key != "k2" || v.sender.name.Visible() || !v.sender.add.Visible() {
		t.Errorf("the pane must show k2's sender only: key %s name %q", v.sender.key, v.sender.name.Text)
	}
}

func TestItemsAddContact(t *testing.T) {
	u, be, v := openItems(t)
	be.SearchResults = []agent.RecordRef{
		{Entity: "account", ID: "acc-contoso", Name: "Contoso Ltd"},
		{Entity: "contact", ID: "c-maria", Name: "Maria Campbell"},
		{Entity: "account", ID: "acc-fabrikam", Name: "Fabrikam Inc"},
	}
	v.list.Select(1)
	settle(t, u, "the lookup", func() bool { return v.sender.done })
	if !v.sender.add.Visible() || !strings.Contains(v.sender.state.Text, "Not in the CRM") {
		t.Fatalf("an unknown sender must offer Add as contact: %q", v.sender.state.Text)
	}
	test.Tap(v.sender.add)
	dlg := v.contactDlg
	if dlg == nil {
		t.Fatal("no dialog")
	}
	dlg.picker.query.SetText("fab")
	test.Tap(dlg.picker.search)
	if len(dlg.picker.results) != 2 {
		t.Fatalf("only accounts may be offered as the company: %v", dlg.picker.results)
	}
	dlg.picker.list.Select(1)
	be.SetError("AddContact", errors.New("the CRM refused: duplicate detection"))
	test.Tap(dlg.ok)
	if !strings.Contains(dlg.status.Text, "duplicate detection") {
		t.Errorf("the error must show in the dialog: %q", dlg.status.Text)
	}
	be.SetError("AddContact", nil)
	test.Tap(dlg.ok)
	if !hasCall(be, "AddContact k2 account:acc-fabrikam") {
		t.Errorf("calls %q", be.Calls())
	}
	if v.sender.name.Text != "Sam Stranger" || v.sender.company.Text != "Fabrikam Inc" || v.sender.add.Visible() {
		t.Errorf("the new contact must show: %q %q", v.sender.name.Text, v.sender.company.Text)
	}
	if !strings.Contains(v.result.Text, "Contact Sam Stranger created") {
		t.Errorf("result %q", v.result.Text)
	}
}

// rowWidget finds the list's row widget showing row id.
func rowWidget(t *testing.T, v *itemsWindow, id int) *itemRow {
	t.Helper()
	for _, o := range test.LaidOutObjects(v.w.Content()) {
		if r, ok := o.(*itemRow); ok && r.id == id && r.Visible() {
			return r
		}
	}
	t.Fatalf("row %d is not drawn", id)
	return nil
}

func menuAction(t *testing.T, m *fyne.Menu, label string) *fyne.MenuItem {
	t.Helper()
	for _, it := range m.Items {
		if it.Label == label {
			return it
		}
	}
	t.Fatalf("no %q in the menu", label)
	return nil
}

// tapMenuItem taps the item labelled label in the shown pop-up menu, as
// a user would: the tappable widget that draws that label gets the tap.
func tapMenuItem(t *testing.T, c fyne.Canvas, label string) {
	t.Helper()
	top := c.Overlays().Top()
	if top == nil {
		t.Fatal("no menu shown")
	}
	var find func(o fyne.CanvasObject, owner fyne.Tappable) fyne.Tappable
	find = func(o fyne.CanvasObject, owner fyne.Tappable) fyne.Tappable {
		if tp, ok := o.(fyne.Tappable); ok {
			owner = tp
		}
		var children []fyne.CanvasObject
		switch x := o.(type) {
		case *canvas.Text:
			if x.Text == label {
				return owner
			}
		case *fyne.Container:
			children = x.Objects
		case fyne.Widget:
			children = test.WidgetRenderer(x).Objects()
		}
		for _, ch := range children {
			if found := find(ch, owner); found != nil {
				return found
			}
		}
		return nil
	}
	item := find(top, nil)
	if item == nil {
		t.Fatalf("no %q in the shown menu", label)
	}
	test.Tap(item)
}

func TestItemsContextMenu(t *testing.T) {
	u, be, v := openItems(t)
	test.TapSecondary(rowWidget(t, v, 1))
	if it, _ := v.current(); it.Key != "k2" {
		t.Fatalf("a right click must select its row, selected %q", it.Key)
	}
	if v.w.Canvas().Overlays().Top() == nil {
		t.Fatal("no context menu shown")
	}
	if !menuAction(t, v.menu, "Untrack").Disabled || !menuAction(t, v.menu, "Open in CRM").Disabled {
		t.Error("an untracked message cannot be untracked or opened in the CRM")
	}
	tapMenuItem(t, v.w.Canvas(), "Track")
	eventually(t, "Track k2", func() bool { return hasCall(be, "Track k2") })
	if v.w.Canvas().Overlays().Top() != nil {
		t.Error("the menu must close once an item is chosen")
	}
	menuAction(t, v.menu, "Copy key").Action()
	if got := u.app.Clipboard().Content(); got != "k2" {
		t.Errorf("clipboard %q", got)
	}
	settle(t, u, "the lookup", func() bool { return v.sender.done })
	test.TapSecondary(rowWidget(t, v, 1))
	if menuAction(t, v.menu, "Add sender as contact…").Disabled {
		t.Error("an unknown sender can be added as a contact")
	}

	test.TapSecondary(rowWidget(t, v, 0))
	if menuAction(t, v.menu, "Track").Disabled == false || menuAction(t, v.menu, "Open in CRM").Disabled {
		t.Error("a tracked message offers Untrack and Open in CRM, not Track")
	}
	be.UntrackResultValue = agent.UntrackResult{Reason: "The CRM copy stays because Bob Nguyen owns it; only the link on this computer is removed."}
	menuAction(t, v.menu, "Untrack").Action()
	eventually(t, "Untrack k1", func() bool { return hasCall(be, "Untrack k1") })
	if !strings.Contains(v.result.Text, "Bob Nguyen owns it") {
		t.Errorf("result %q", v.result.Text)
	}
	be.SearchResults = []agent.RecordRef{{Entity: "incident", ID: "case-7", Name: "Laptop delivery delayed"}}
	menuAction(t, v.menu, "Set regarding…").Action()
	dlg := v.regardDlg
	dlg.picker.query.SetText("laptop")
	test.Tap(dlg.picker.search)
	if !dlg.ok.Disabled() {
		t.Error("Link must wait for a record")
	}
	dlg.picker.list.Select(0)
	test.Tap(dlg.ok)
	if !hasCall(be, "SetRegarding k1 incident:case-7") || !strings.Contains(v.result.Text, "Case: Laptop delivery delayed") {
		t.Errorf("calls %q result %q", be.Calls(), v.result.Text)
	}
}

func TestItemsKeyboard(t *testing.T) {
	_, be, v := openItems(t)
	if v.w.Canvas().Focused() != fyne.Focusable(v.list) {
		t.Error("the list must have the keyboard when the window opens")
	}
	down, up, enter := &fyne.KeyEvent{Name: fyne.KeyDown}, &fyne.KeyEvent{Name: fyne.KeyUp}, &fyne.KeyEvent{Name: fyne.KeyReturn}
	v.list.TypedKey(down)
	if it, _ := v.current(); it.Key != "k1" {
		t.Fatalf("first Down selects the first row, got %q", it.Key)
	}
	v.list.TypedKey(down)
	if it, _ := v.current(); it.Key != "k2" {
		t.Fatalf("Down moves the selection, got %q", it.Key)
	}
	v.list.TypedKey(enter)
	if !hasCall(be, "Track k2") {
		t.Errorf("Enter on an untracked message tracks it: %q", be.Calls())
	}
	v.list.TypedKey(up)
	if it, _ := v.current(); it.Key != "k1" {
		t.Fatalf("Up moves the selection, got %q", it.Key)
	}
	v.list.TypedKey(enter)
	if v.regardDlg == nil {
		t.Error("Enter on a tracked message opens Set regarding")
	}
	if slices.Contains(be.Calls(), "Track k1") {
		t.Error("Enter must not track a tracked message again")
	}
}

func TestItemsOpenInCRM(t *testing.T) {
	u := recordURL("https://fourthcoffee.crm.dynamics.com/", "email", "6f1c2a7e-0000-4000-8000-000000000001")
	if u == nil || u.String() != "https://fourthcoffee.crm.dynamics.com/main.aspx?etn=email&id=6f1c2a7e-0000-4000-8000-000000000001&pagetype=entityrecord" {
		t.Errorf("record URL %v", u)
	}
	if recordURL("", "email", "x") != nil {
		t.Error("no CRM address, no link")
	}
}

func TestItemsEvents(t *testing.T) {
	u, _, v := openItems(t)
	v.list.Select(1)
	u.apply(agent.Event{Item: &agent.Item{Key: "k5", From: "Ana Silva <ana@adatum.example>", Subject: "New", Track: agent.Pending, Received: time.Now()}})
	if v.rows[0].Key != "k5" || len(v.rows) != 5 {
		t.Errorf("a new message goes on top: %s", rowKeys(v))
	}
	if it, _ := v.current(); it.Key != "k2" {
		t.Errorf("the selection must stay on its message, got %q", it.Key)
	}
	u.apply(agent.Event{Item: &agent.Item{Key: "k2", From: "Sam Stranger <sam@unknown.example>", Subject: "Lunch on Friday?",
		Track: agent.Tracked, Reason: "tracked by hand", Received: time.Now().Add(-2 * time.Hour)}})
	if v.message.state.Text != "tracked; the CRM copy belongs to a colleague" || !v.track.Disabled() || v.untrack.Disabled() {
		t.Errorf("the detail must follow the event: %q", v.message.state.Text)
	}
}
