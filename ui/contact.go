package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// contactDialog creates a CRM contact from a message's sender, with an
// optional company (account) picked by a live search.
type contactDialog struct {
	*actionDialog
	picker *recordPicker
	status *widget.Label
}

// addContact opens the dialog for the selected message's sender. It says
// plainly what leaves the device before anything does: creating a contact
// is the one time an address is sent outside a tracking decision.
func (v *itemsWindow) addContact() {
	it, ok := v.current()
	if !ok {
		return
	}
	explain := widget.NewLabel("crmsync will send this sender's name and email address to the CRM " +
		"to create a contact. Nothing else about the message is sent.")
	explain.Wrapping = fyne.TextWrapWord
	who := bold(orDash(it.From))
	who.Wrapping = fyne.TextWrapWord
	company := widget.NewLabel("Company (optional): search for the account the contact works for.")
	company.Wrapping = fyne.TextWrapWord
	picker := newRecordPicker(v.u, "account", "Name of an account")
	status := wrapped()
	status.Importance = widget.DangerImportance
	top := container.NewVBox(explain, who, widget.NewSeparator(), company)
	content := container.NewBorder(top, status, nil, nil, picker.content())
	dlg := &contactDialog{picker: picker, status: status}
	dlg.actionDialog = newActionDialog("Add as contact", "Create contact", content, v.w, fyne.NewSize(540, 500), func() {
		v.createContact(it.Key, dlg)
	})
	v.contactDlg = dlg
	dlg.d.Show()
	v.w.Canvas().Focus(picker.query)
}

// createContact asks the CRM for the contact; the dialog stays open with
// the error when it fails, so the user can retry or cancel.
func (v *itemsWindow) createContact(k agent.MessageKey, dlg *contactDialog) {
	if p := v.sender.person; v.sender.key == k && p != nil {
		// The lookup answered while the dialog was open.
		dlg.status.SetText("This sender is already in the CRM as " + orDash(p.Ref.Name) + "; no contact was created.")
		dlg.ok.Disable()
		return
	}
	var account *agent.RecordRef
	if r, ok := dlg.picker.choice(); ok {
		account = &r
	}
	dlg.ok.Disable()
	dlg.status.SetText("")
	var person agent.Person
	v.u.call(func(ctx context.Context) (err error) { person, err = v.u.be.AddContact(ctx, k, account); return err }, func(err error) {
		dlg.ok.Enable()
		if err != nil {
			dlg.status.SetText("The contact was not created: " + err.Error())
			return
		}
		dlg.d.Hide()
		text := "Contact " + orDash(person.Ref.Name) + " created in the CRM"
		if person.Company != "" {
			text += " at " + person.Company
		}
		v.say(text + ".")
		if v.sender.key == k {
			v.sender.showPerson(&person)
			v.refreshSelection()
		}
	})
}
