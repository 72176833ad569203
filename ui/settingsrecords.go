package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// newPasswordHint is the password's hint before an account is saved.
const newPasswordHint = "Saved in the system keychain on Save; never shown again."

// recordKinds are the record types kept in step, in the order shown.
var recordKinds = []string{"contacts", "appointments", "tasks"}

// recordsSection is the settings' "Address book and calendar" tab: the
// CardDAV/CalDAV account the CRM's contacts, appointments and tasks are
// kept in step with, its own Save, Sync now and Stop syncing, and a
// read-only view of what the CRM decides (filters, fields, field
// security). Its password goes to the keychain and is never shown back.
type recordsSection struct {
	s *settingsWindow

	url, user, password, caFile *widget.Entry
	addressBook, calendar       *widget.Entry
	contacts, appointments      *widget.Check
	tasks                       *widget.Check
	form                        *widget.Form
	passwordItem                *widget.FormItem

	test, save, syncNow, stop *widget.Button
	message                   *widget.Label   // what Save or Stop syncing did, or what to correct
	testResult                *fyne.Container // one row per step of the last test
	testLines                 []string
	report                    *fyne.Container // the last sync pass
	reportLines               []string
	overview                  *fyne.Container // what the CRM decides
	overviewLines             []string
	overviewSeq               int // drops an overview answer a newer request overtook

	stopDlg *actionDialog // the Stop syncing confirmation shown last
	scroll  *container.Scroll
}

func newRecordsSection(s *settingsWindow) *recordsSection {
	r := &recordsSection{s: s}
	r.url = widget.NewEntry()
	r.url.SetPlaceHolder("https://dav.example.com/")
	r.user = widget.NewEntry()
	r.user.SetPlaceHolder("alice")
	r.password = widget.NewPasswordEntry()
	r.caFile = widget.NewEntry()
	r.caFile.SetPlaceHolder("Optional: PEM file of a private certificate authority")
	chooseCA := widget.NewButton("Choose…", func() {
		dialog.ShowFileOpen(func(f fyne.URIReadCloser, err error) {
			if err == nil && f != nil {
				r.caFile.SetText(f.URI().Path())
				f.Close()
			}
		}, s.w)
	})
	r.addressBook = widget.NewEntry()
	r.addressBook.SetPlaceHolder("CRM contacts")
	r.calendar = widget.NewEntry()
	r.calendar.SetPlaceHolder("CRM calendar")
	r.contacts = widget.NewCheck("Contacts", nil)
	r.appointments = widget.NewCheck("Appointments", nil)
	r.tasks = widget.NewCheck("Tasks", nil)

	server := widget.NewFormItem("Server address", r.url)
	server.HintText = "https://HOST/PATH/ of your CardDAV/CalDAV server, or your page on it."
	r.passwordItem = widget.NewFormItem("Password", r.password)
	r.passwordItem.HintText = newPasswordHint // the form makes a hint line only for a hint it starts with
	book := widget.NewFormItem("Address book name", r.addressBook)
	book.HintText = "Made on the server if it has none of that name."
	kinds := widget.NewFormItem("Keep in step", container.NewHBox(r.contacts, r.appointments, r.tasks))
	r.form = widget.NewForm(server, widget.NewFormItem("User name", r.user), r.passwordItem,
		widget.NewFormItem("CA file", container.NewBorder(nil, nil, nil, chooseCA, r.caFile)),
		book, widget.NewFormItem("Calendar name", r.calendar), kinds)

	r.test = widget.NewButtonWithIcon("Test connection", theme.MediaPlayIcon(), r.runTest)
	r.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), r.send)
	r.save.Importance = widget.HighImportance
	r.syncNow = widget.NewButtonWithIcon("Sync now", theme.ViewRefreshIcon(), r.runSync)
	r.stop = widget.NewButtonWithIcon("Stop syncing", theme.CancelIcon(), r.confirmStop)
	r.message = wrapped()
	r.message.Hide()
	r.testResult = container.NewVBox()
	r.report = container.NewVBox()
	r.overview = container.NewVBox()
	return r
}

func (r *recordsSection) content() fyne.CanvasObject {
	intro := wrapped()
	intro.SetText("crmsync keeps your CRM contacts, appointments and tasks in step with an address book " +
		"and calendar on your CardDAV/CalDAV server (Nextcloud, Radicale, Fastmail, SOGo…), " +
		"which Evolution and Thunderbird can show.")
	decides := bold("What the CRM decides")
	about := wrapped()
	about.SetText("Read from the CRM, where your administrator and you set the sync filters and fields; change them there.")
	r.scroll = container.NewVScroll(container.NewVBox(intro, r.form,
		container.NewHBox(r.test, r.save, r.syncNow, r.stop), r.message, r.testResult, r.report,
		widget.NewSeparator(), decides, about, r.overview))
	return r.scroll
}

// relayout lays the tab out again after a part showed, hid or grew.
func (r *recordsSection) relayout() {
	if r.scroll != nil {
		r.scroll.Content.Refresh()
		r.scroll.Refresh()
	}
}

// load fills the tab from st; the password field stays empty.
func (r *recordsSection) load(st agent.Settings) {
	rs := st.Records
	r.url.SetText(rs.DAV.URL)
	r.user.SetText(rs.DAV.Username)
	r.caFile.SetText(rs.DAV.CAFile)
	r.addressBook.SetText(rs.AddressBook)
	r.calendar.SetText(rs.Calendar)
	r.password.SetText("")
	set := !rs.DAV.IsZero()
	if set {
		r.contacts.SetChecked(rs.Contacts)
		r.appointments.SetChecked(rs.Appointments)
		r.tasks.SetChecked(rs.Tasks)
		r.password.SetPlaceHolder("Saved in the system keychain")
		r.passwordItem.HintText = "Saved in the keychain. Type a new one only to replace it."
	} else {
		// A new account keeps everything in step unless the user says otherwise.
		r.contacts.SetChecked(true)
		r.appointments.SetChecked(true)
		r.tasks.SetChecked(true)
		r.password.SetPlaceHolder("")
		r.passwordItem.HintText = newPasswordHint
	}
	r.form.Refresh()
	setEnabled(r.syncNow, set)
	setEnabled(r.stop, set)
	r.say("", widget.MediumImportance)
	r.setTest(nil)
	r.showReport(r.s.u.be.LastSyncReport(), nil)
}

// say shows text below the buttons; "" hides the line.
func (r *recordsSection) say(text string, imp widget.Importance) {
	r.message.Importance = imp
	r.message.SetText(text)
	r.message.Hidden = text == ""
	r.message.Refresh()
	r.relayout()
}

// account reads the account from the form, or says what is wrong.
func (r *recordsSection) account() (agent.DAVAccount, string) {
	a := agent.DAVAccount{
		URL:      strings.TrimSpace(r.url.Text),
		Username: strings.TrimSpace(r.user.Text),
		CAFile:   strings.TrimSpace(r.caFile.Text),
	}
	switch {
	case a.URL == "":
		return a, "Type the server address, such as https://dav.example.com/."
	case !strings.HasPrefix(a.URL, "https://") && !strings.HasPrefix(a.URL, "http://"):
		return a, "The server address starts with https://, such as https://dav.example.com/."
	case a.Username == "":
		return a, "Type the user name you sign in to your address book and calendar with."
	}
	return a, ""
}

// recordSync reads what the form keeps in step, or says what is wrong.
func (r *recordsSection) recordSync() (agent.RecordSync, string) {
	a, msg := r.account()
	rs := agent.RecordSync{DAV: a,
		AddressBook: strings.TrimSpace(r.addressBook.Text), Calendar: strings.TrimSpace(r.calendar.Text),
		Contacts: r.contacts.Checked, Appointments: r.appointments.Checked, Tasks: r.tasks.Checked}
	if msg != "" {
		return rs, msg
	}
	if !rs.Contacts && !rs.Appointments && !rs.Tasks {
		return rs, "Choose what to keep in step: contacts, appointments or tasks. To keep nothing in step, choose Stop syncing."
	}
	return rs, ""
}

// send saves the password first, to the keychain (so the engine finds it
// when it connects), then the settings.
func (r *recordsSection) send() {
	rs, msg := r.recordSync()
	if msg != "" {
		r.say(msg, widget.DangerImportance)
		return
	}
	password := r.password.Text
	cur := r.s.u.be.Settings().Records.DAV
	if password == "" && (cur.URL != rs.DAV.URL || cur.Username != rs.DAV.Username) {
		r.say("Type the password of "+rs.DAV.Display()+"; it is saved in the system keychain.", widget.DangerImportance)
		return
	}
	r.save.Disable()
	r.say("Saving…", widget.MediumImportance)
	var st agent.Settings
	r.s.u.call(func(ctx context.Context) (err error) {
		if password != "" {
			if err := r.s.u.be.SaveDAVPassword(ctx, rs.DAV, password); err != nil {
				return fmt.Errorf("the password was not saved in the system keychain, so nothing was changed: %w", err)
			}
		}
		st, err = r.s.u.be.UpdateSettings(ctx, agent.SettingsPatch{Records: &rs})
		return err
	}, func(err error) {
		r.save.Enable()
		if err != nil {
			r.say(err.Error(), widget.DangerImportance)
			return
		}
		r.load(st)
		r.say("Saved. crmsync keeps "+kindsWords(rs)+" in step with "+rs.DAV.Display()+".", widget.SuccessImportance)
		r.loadOverview()
	})
}

// kindsWords names the kinds rs keeps in step: "contacts and tasks".
func kindsWords(rs agent.RecordSync) string {
	var on []string
	for i, b := range []bool{rs.Contacts, rs.Appointments, rs.Tasks} {
		if b {
			on = append(on, recordKinds[i])
		}
	}
	switch len(on) {
	case 0:
		return "nothing"
	case 1:
		return on[0]
	}
	return strings.Join(on[:len(on)-1], ", ") + " and " + on[len(on)-1]
}

// confirmStop asks before clearing the account: the user must know what
// happens to the items already out there.
func (r *recordsSection) confirmStop() {
	text := wrapped()
	text.SetText("crmsync will stop keeping your CRM contacts, appointments and tasks in step with your " +
		"address book and calendar. The items already in your address book and calendar stay there, " +
		"and nothing is deleted in the CRM.")
	r.stopDlg = newActionDialog("Stop syncing?", "Stop syncing", text, r.s.w, fyne.NewSize(460, 260), r.stopSync)
	r.stopDlg.d.Show()
}

// stopSync saves a zero RecordSync.
func (r *recordsSection) stopSync() {
	if r.stopDlg != nil {
		r.stopDlg.d.Hide()
	}
	r.stop.Disable()
	var st agent.Settings
	r.s.u.call(func(ctx context.Context) (err error) {
		st, err = r.s.u.be.UpdateSettings(ctx, agent.SettingsPatch{Records: &agent.RecordSync{}})
		return err
	}, func(err error) {
		if err != nil {
			r.stop.Enable()
			r.say("Syncing was not stopped: "+err.Error(), widget.DangerImportance)
			return
		}
		r.load(st)
		r.say("Stopped. The items already in your address book and calendar stay there.", widget.MediumImportance)
		r.loadOverview()
	})
}

// runTest tries the account as typed, with the typed password or, when
// the field is empty, the one in the keychain.
func (r *recordsSection) runTest() {
	a, msg := r.account()
	if msg != "" {
		r.setTest([]testLine{{mark: markFail, text: msg}})
		return
	}
	r.say("", widget.MediumImportance)
	password := r.password.Text
	r.test.Disable()
	r.setTest([]testLine{{mark: markWait, text: "Testing " + a.Display() + "…"}})
	var steps []agent.CheckStep
	r.s.u.call(func(ctx context.Context) (err error) { steps, err = r.s.u.be.TestDAV(ctx, a, password); return err }, func(err error) {
		r.test.Enable()
		if err != nil {
			r.setTest([]testLine{{mark: markFail, text: "The test could not run: " + err.Error()}})
			return
		}
		r.setTest(davTestLines(steps))
	})
}

// davTestLines words a connection test: a line per step, then what it
// comes to.
func davTestLines(steps []agent.CheckStep) []testLine {
	var lines []testLine
	failed := ""
	for _, s := range steps {
		l := testLine{mark: markPass, text: s.Name}
		switch {
		case !s.OK:
			l.mark = markFail
			if failed == "" {
				failed = s.Name
			}
		case s.Warning:
			l.mark = markWarn
		}
		if s.Detail != "" {
			l.text += ": " + s.Detail
		}
		lines = append(lines, l)
	}
	switch {
	case len(steps) == 0:
		lines = append(lines, testLine{markSummary, "The test found nothing to check."})
	case failed != "":
		lines = append(lines, testLine{markSummary, "The test stopped at the " + failed + " step."})
	default:
		lines = append(lines, testLine{markSummary, "The server works with crmsync."})
	}
	return lines
}

// setTest shows lines as the test's result, one row per line.
func (r *recordsSection) setTest(lines []testLine) {
	r.testLines = r.testLines[:0]
	r.testResult.Objects = rowsOf(lines, &r.testLines)
	r.testResult.Refresh()
	r.relayout()
}

// rowsOf makes a row per line and appends its words to words; a warning
// is marked ⚠ there, as its icon shows it.
func rowsOf(lines []testLine, words *[]string) []fyne.CanvasObject {
	rows := make([]fyne.CanvasObject, 0, len(lines))
	for _, l := range lines {
		w := l.String()
		if l.mark == markWarn {
			w = "⚠ " + l.text
		}
		*words = append(*words, w)
		rows = append(rows, l.row())
	}
	return rows
}

// runSync runs a sync pass now and shows what it did.
func (r *recordsSection) runSync() {
	r.say("", widget.MediumImportance)
	r.syncNow.Disable()
	r.showReport(agent.SyncReport{}, []testLine{{mark: markWait, text: "Syncing…"}})
	var rep agent.SyncReport
	r.s.u.call(func(ctx context.Context) (err error) { rep, err = r.s.u.be.SyncNow(ctx); return err }, func(err error) {
		r.syncNow.Enable()
		var extra []testLine
		if err != nil && rep.Err == "" {
			extra = append(extra, testLine{markFail, "The sync did not run: " + err.Error()})
		}
		r.showReport(rep, extra)
		r.loadOverview()
	})
}

// showReport shows a sync pass's report (nothing when it is zero), then
// extra lines.
func (r *recordsSection) showReport(rep agent.SyncReport, extra []testLine) {
	lines := append(reportLines(rep), extra...)
	r.reportLines = r.reportLines[:0]
	var rows []fyne.CanvasObject
	if len(lines) > 0 {
		head := "Last sync"
		if !rep.Finished.IsZero() {
			head += " at " + rep.Finished.Local().Format("15:04")
		}
		rows = append(rows, bold(head))
		r.reportLines = append(r.reportLines, head)
	}
	r.report.Objects = append(rows, rowsOf(lines, &r.reportLines)...)
	r.report.Refresh()
	r.relayout()
}

// reportLines words a sync pass: a line per kind, then its notices.
func reportLines(rep agent.SyncReport) []testLine {
	var lines []testLine
	for _, k := range rep.Kinds {
		where := "your calendar"
		if k.Kind == "contacts" {
			where = "your address book"
		}
		text := fmt.Sprintf("%s: %d kept in step · to %s: %s · to the CRM: %s", k.Kind, k.Kept, where, countWords(k.ToItems), countWords(k.ToCRM))
		switch k.Conflicts {
		case 0:
		case 1:
			text += " · 1 field edited on both sides, the CRM's value kept"
		default:
			text += fmt.Sprintf(" · %d fields edited on both sides, the CRM's values kept", k.Conflicts)
		}
		lines = append(lines, testLine{markPass, text})
	}
	for _, n := range rep.Notices {
		lines = append(lines, testLine{markWarn, n})
	}
	if rep.Err != "" {
		lines = append(lines, testLine{markFail, "The sync stopped: " + rep.Err})
	}
	return lines
}

// countWords says "3 created, 1 updated, 0 deleted", or "nothing".
func countWords(c agent.SyncCount) string {
	if c == (agent.SyncCount{}) {
		return "nothing"
	}
	return fmt.Sprintf("%d created, %d updated, %d deleted", c.Created, c.Updated, c.Deleted)
}

// loadOverview reads what the CRM decides, off the Fyne goroutine.
func (r *recordsSection) loadOverview() {
	r.overviewSeq++
	seq := r.overviewSeq
	r.setOverview(sentenceView("Reading the sync filters and fields from the CRM…", widget.MediumImportance))
	var ov agent.SyncOverview
	r.s.u.call(func(ctx context.Context) (err error) { ov, err = r.s.u.be.SyncOverview(ctx); return err }, func(err error) {
		if seq != r.overviewSeq {
			return // a newer request's answer counts
		}
		if err != nil {
			r.setOverview(sentenceView("What the CRM decides could not be read: "+err.Error(), widget.DangerImportance))
			return
		}
		r.setOverview(newOverviewView(ov))
	})
}

// setOverview shows v in the "What the CRM decides" panel.
func (r *recordsSection) setOverview(v overviewView) {
	r.overviewLines = v.lines()
	r.overview.Objects = v.rows()
	r.overview.Refresh()
	r.relayout()
}

// bothWays is the arrow of a field that flows both ways. The bundled
// fonts have ← and → but not ↔, which would fall back to a colour emoji.
const bothWays = "←→"

// overviewView is what the CRM decides, in words: how many records, the
// filters and the fields of each kind, the hidden columns. Or one
// sentence, while it is read or when it cannot be.
type overviewView struct {
	sentence string
	imp      widget.Importance
	filters  [][2]string         // kind, its filters
	fields   map[string][]string // kind: "column → field", one per field
	hidden   string              // "" when field security hides nothing
}

func sentenceView(text string, imp widget.Importance) overviewView {
	return overviewView{sentence: text, imp: imp}
}

func newOverviewView(ov agent.SyncOverview) overviewView {
	v := overviewView{fields: map[string][]string{}}
	var counts []string
	for _, k := range recordKinds {
		if n, ok := ov.Counts[k]; ok {
			counts = append(counts, fmt.Sprintf("%d %s", n, k))
		}
	}
	v.sentence = "No record is kept in step yet."
	if len(counts) > 0 {
		v.sentence = strings.Join(counts, ", ") + " will be kept in step."
	}
	for _, k := range recordKinds {
		var names []string
		for _, f := range ov.Filters {
			if f.Kind == k {
				whose := "yours"
				if f.Organisation {
					whose = "organisation"
				}
				names = append(names, f.Name+" ("+whose+")")
			}
		}
		if len(names) > 0 {
			v.filters = append(v.filters, [2]string{k, strings.Join(names, ", ")})
		}
		for _, f := range ov.Fields {
			if f.Kind != k {
				continue
			}
			arrow := "– not kept in step for you –"
			switch {
			case f.ToItem && f.ToCRM:
				arrow = bothWays
			case f.ToItem:
				arrow = "→"
			case f.ToCRM:
				arrow = "←"
			}
			v.fields[k] = append(v.fields[k], f.Column+" "+arrow+" "+f.Field)
		}
	}
	if len(ov.Hidden) > 0 {
		v.hidden = "Hidden by field security: " + strings.Join(ov.Hidden, ", ") +
			". These columns are neither written to your address book and calendar nor changed in the CRM."
	}
	return v
}

const fieldsLegend = "Fields, the CRM's column on the left: " + bothWays + " both ways, → to your address book and calendar only, ← to the CRM only."

// lines is the view's words, a line per row, as a test reads them.
func (v overviewView) lines() []string {
	out := []string{v.sentence}
	if v.fields == nil {
		return out
	}
	if len(v.filters) == 0 {
		out = append(out, noFilters)
	}
	for _, f := range v.filters {
		out = append(out, "Filters for "+f[0]+": "+f[1])
	}
	if len(v.fields) > 0 {
		out = append(out, fieldsLegend)
	}
	for _, k := range recordKinds {
		if fs := v.fields[k]; len(fs) > 0 {
			out = append(out, k+": "+strings.Join(fs, " · "))
		}
	}
	if v.hidden != "" {
		out = append(out, v.hidden)
	}
	return out
}

const noFilters = "No sync filter applies to you, so no record is selected. Filters are set in the CRM."

// rows lays the view out: the sentence, then the filters and the fields
// as a form, kind on the left.
func (v overviewView) rows() []fyne.CanvasObject {
	head := wrapped()
	head.Importance = v.imp
	head.TextStyle.Bold = v.fields != nil
	head.SetText(v.sentence)
	rows := []fyne.CanvasObject{head}
	if v.fields == nil {
		return rows
	}
	text := func(s string) *widget.Label {
		l := wrapped()
		l.SetText(s)
		return l
	}
	kindLabel := func(k string) *widget.Label {
		return bold(strings.ToUpper(k[:1]) + k[1:])
	}
	var filters []fyne.CanvasObject
	for _, f := range v.filters {
		filters = append(filters, kindLabel(f[0]), text(f[1]))
	}
	if len(filters) == 0 {
		rows = append(rows, text(noFilters))
	} else {
		rows = append(rows, text("Sync filters:"), container.New(layout.NewFormLayout(), filters...))
	}
	var fields []fyne.CanvasObject
	for _, k := range recordKinds {
		fs := v.fields[k]
		if len(fs) == 0 {
			continue
		}
		// A grid per pair, so a wrapped field makes its own row taller only.
		pairs := container.NewVBox()
		for i := 0; i < len(fs); i += 2 {
			pair := container.NewGridWithColumns(2, text(fs[i]))
			if i+1 < len(fs) {
				pair.Add(text(fs[i+1]))
			}
			pairs.Add(pair)
		}
		fields = append(fields, kindLabel(k), pairs)
	}
	if len(fields) > 0 {
		rows = append(rows, text(fieldsLegend), container.New(layout.NewFormLayout(), fields...))
	}
	if v.hidden != "" {
		h := text(v.hidden)
		h.Importance = widget.WarningImportance
		rows = append(rows, h)
	}
	return rows
}
