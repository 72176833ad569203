package ui

import (
	"context"
	"fmt"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// folderSection is the settings' "Folder tracking" tab: the rules that
// map a mail folder to a CRM record. The rules live in the CRM (so they
// follow the user to every computer) and are read live when the window
// opens; each Add and Remove goes to the CRM at once.
type folderSection struct {
	s      *settingsWindow
	count  *widget.Label
	status *widget.Label
	list   *fyne.Container
	add    *widget.Button
	reload *widget.Button
	top    *fyne.Container
	scroll *container.Scroll

	rules   []agent.FolderRule
	loaded  bool                      // rules is what the CRM said; false before, and after a failed read
	removes map[string]*widget.Button // each rule's Remove, by folder
	dlg     *ruleDialog               // the Add dialog shown last
}

func newFolderSection(s *settingsWindow) *folderSection {
	f := &folderSection{s: s, count: widget.NewLabel(""), status: wrapped(), list: container.NewVBox()}
	f.count.TextStyle.Bold = true
	f.add = widget.NewButtonWithIcon("Add…", theme.ContentAddIcon(), f.showAdd)
	f.reload = widget.NewButtonWithIcon("Reload", theme.ViewRefreshIcon(), f.load)
	return f
}

func (f *folderSection) content() fyne.CanvasObject {
	intro := wrapped()
	intro.SetText("Mail you move into a mapped folder is tracked regarding the record you choose, " +
		"on every computer you use. Rules are kept in the CRM and change as soon as you add or remove one.")
	f.top = container.NewVBox(intro, container.NewBorder(nil, nil, nil, container.NewHBox(f.reload, f.add), f.count), f.status)
	f.scroll = container.NewVScroll(f.list)
	return container.NewBorder(f.top, nil, nil, nil, f.scroll)
}

// load reads the rules from the CRM.
func (f *folderSection) load() {
	f.loaded = false
	f.say("Reading the folder rules from the CRM…", widget.MediumImportance)
	f.render()
	var rules []agent.FolderRule
	f.s.u.call(func(ctx context.Context) (err error) { rules, err = f.s.u.be.FolderRules(ctx); return err }, func(err error) {
		if err != nil {
			f.say("The folder rules could not be read from the CRM: "+err.Error(), widget.DangerImportance)
			f.render()
			return
		}
		f.rules, f.loaded = rules, true
		f.say("", widget.MediumImportance)
		f.render()
	})
}

// say shows text above the rules; "" hides the line.
func (f *folderSection) say(text string, imp widget.Importance) {
	f.status.Importance = imp
	f.status.SetText(text)
	if text == "" {
		f.status.Hide()
	} else {
		f.status.Show()
	}
	f.status.Refresh()
	if f.top != nil {
		f.top.Refresh()
	}
}

// render shows the rules and the count against the CRM's limit.
func (f *folderSection) render() {
	f.removes = map[string]*widget.Button{}
	rows := make([]fyne.CanvasObject, 0, len(f.rules))
	for _, r := range f.rules {
		label := wrapped()
		label.SetText(r.Folder + "  →  " + recordText(r.Regarding))
		remove := widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { f.remove(r.Folder) })
		f.removes[r.Folder] = remove
		rows = append(rows, container.NewBorder(nil, nil, nil, remove, label))
	}
	if f.loaded && len(f.rules) == 0 {
		none := wrapped()
		none.SetText("No folder is mapped yet. Choose Add… to map one.")
		rows = append(rows, none)
	}
	f.list.Objects = rows
	f.list.Refresh()
	if f.scroll != nil {
		f.scroll.Refresh()
	}
	if f.loaded {
		f.count.SetText(fmt.Sprintf("%d of %d folder rules", len(f.rules), agent.MaxFolderRules))
	} else {
		f.count.SetText("Folder rules")
	}
	full := len(f.rules) >= agent.MaxFolderRules
	setEnabled(f.add, f.loaded && !full)
	if f.loaded && full {
		f.say(fmt.Sprintf("The CRM allows %d folder rules; remove one to add another.", agent.MaxFolderRules), widget.WarningImportance)
	}
}

// remove deletes folder's rule in the CRM; mail it tracked stays tracked.
func (f *folderSection) remove(folder string) {
	if b := f.removes[folder]; b != nil {
		b.Disable()
	}
	f.s.u.call(func(ctx context.Context) error { return f.s.u.be.RemoveFolderRule(ctx, folder) }, func(err error) {
		if err != nil {
			f.say("The rule for "+folder+" was not removed: "+err.Error(), widget.DangerImportance)
			f.render()
			return
		}
		f.rules = slices.DeleteFunc(f.rules, func(r agent.FolderRule) bool { return r.Folder == folder })
		f.say("Removed the rule for "+folder+". Mail it tracked stays tracked.", widget.MediumImportance)
		f.render()
	})
}

// added puts a rule the CRM accepted into the list, replacing the
// folder's old rule as the CRM did.
func (f *folderSection) added(r agent.FolderRule) {
	if i := slices.IndexFunc(f.rules, func(x agent.FolderRule) bool { return x.Folder == r.Folder }); i >= 0 {
		f.rules[i] = r
	} else {
		f.rules = append(f.rules, r)
	}
	f.say("Mail moved into "+r.Folder+" is now tracked regarding "+recordText(r.Regarding)+".", widget.MediumImportance)
	f.render()
}

// ruleDialog asks for a folder and a record.
type ruleDialog struct {
	*actionDialog
	folder *widget.Select
	picker *recordPicker
	status *widget.Label
}

// showAdd opens the dialog; the folders are listed live from the mail
// account.
func (f *folderSection) showAdd() {
	dlg := &ruleDialog{status: wrapped()}
	dlg.folder = widget.NewSelect(nil, nil)
	dlg.folder.PlaceHolder = "Listing your mail folders…"
	dlg.picker = newRecordPicker(f.s.u, "", "Name of a contact, account, opportunity or case")
	top := container.NewVBox(
		widget.NewForm(widget.NewFormItem("Folder", dlg.folder)),
		widget.NewLabel("Track what arrives in it regarding:"))
	content := container.NewBorder(top, dlg.status, nil, nil, dlg.picker.content())
	dlg.actionDialog = newActionDialog("Add a folder rule", "Add rule", content, f.s.w, fyne.NewSize(540, 480), func() { f.addRule(dlg) })
	ready := func() {
		_, ok := dlg.picker.choice()
		setEnabled(dlg.ok, ok && dlg.folder.Selected != "")
	}
	dlg.folder.OnChanged = func(string) { ready() }
	dlg.picker.changed = ready
	ready()
	f.dlg = dlg
	dlg.d.Show()
	var folders []string
	f.s.u.call(func(ctx context.Context) (err error) { folders, err = f.s.u.be.MailFolders(ctx); return err }, func(err error) {
		if err != nil {
			dlg.folder.PlaceHolder = "No folders"
			dlg.folder.Refresh()
			dlg.status.SetText("Your mail folders could not be listed: " + err.Error())
			return
		}
		dlg.folder.PlaceHolder = "Choose a folder"
		dlg.folder.SetOptions(folders)
	})
}

// addRule asks the CRM for the rule; the dialog stays open with the error
// when that fails.
func (f *folderSection) addRule(dlg *ruleDialog) {
	folder := dlg.folder.Selected
	r, ok := dlg.picker.choice()
	if folder == "" || !ok {
		return
	}
	dlg.ok.Disable()
	dlg.status.SetText("")
	var rule agent.FolderRule
	f.s.u.call(func(ctx context.Context) (err error) { rule, err = f.s.u.be.AddFolderRule(ctx, folder, r); return err }, func(err error) {
		dlg.ok.Enable()
		if err != nil {
			dlg.status.SetText("The rule was not added: " + err.Error())
			return
		}
		dlg.d.Hide()
		if rule.Folder == "" {
			rule = agent.FolderRule{Folder: folder, Regarding: r}
		}
		if rule.Regarding.Name == "" {
			rule.Regarding.Name = r.Name // the name is display only; the search just showed it
		}
		f.added(rule)
	})
}
