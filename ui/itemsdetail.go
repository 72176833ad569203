package ui

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"crmsync/agent"
)

// wrapped is a label that wraps at word boundaries: the detail pane shows
// every text whole, where the list's rows cut it with an ellipsis.
func wrapped() *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	return l
}

// field is one named value of a detail pane.
type field struct {
	name  string
	value *widget.Label
}

// fieldGrid lays out fields as a form: names bold on the left, values
// wrapped on the right.
func fieldGrid(fields ...field) *fyne.Container {
	objs := make([]fyne.CanvasObject, 0, 2*len(fields))
	for _, f := range fields {
		objs = append(objs, bold(f.name), f.value)
	}
	return container.New(layout.NewFormLayout(), objs...)
}

// pane is a detail pane's scrolling box. Showing or hiding a part does
// not lay its parent out again, so every change ends with relayout.
type pane struct {
	box    *fyne.Container
	scroll *container.Scroll
}

func newPane(objs ...fyne.CanvasObject) pane {
	box := container.NewVBox(objs...)
	return pane{box: box, scroll: container.NewVScroll(box)}
}

// content is the pane as the window lays it out. It keeps the app's
// theme: a theme override of its own made Fyne load and cache a second
// copy of every font face, 43 MB of the window's memory.
func (p pane) content() fyne.CanvasObject {
	return p.scroll
}

func (p pane) relayout() {
	p.box.Refresh()
	p.scroll.Refresh()
}

// messagePane shows the selected message in full.
type messagePane struct {
	pane
	hint                                           *widget.Label
	from, subject, received, state, regarding, why *widget.Label
	fields                                         *fyne.Container
}

func newMessagePane() *messagePane {
	m := &messagePane{hint: wrapped(), from: wrapped(), subject: wrapped(), received: wrapped(),
		state: wrapped(), regarding: wrapped(), why: wrapped()}
	m.hint.SetText("Select a message to see it in full, and why it was or was not tracked.")
	m.fields = fieldGrid(field{"From", m.from}, field{"Subject", m.subject}, field{"Received", m.received},
		field{"State", m.state}, field{"Regarding", m.regarding}, field{"Why", m.why})
	m.pane = newPane(bold("Message"), m.hint, m.fields)
	return m
}

// show fills the pane with it, or the hint when nothing is selected.
func (m *messagePane) show(it agent.Item, ok bool) {
	defer m.relayout()
	if !ok {
		m.hint.Show()
		m.fields.Hide()
		return
	}
	m.hint.Hide()
	m.fields.Show()
	m.from.SetText(orDash(it.From))
	m.subject.SetText(orDash(it.Subject))
	m.received.SetText(longTime(it.Received))
	state := it.Track.String()
	if it.Track == agent.Tracked && !it.OwnedByMe {
		state += "; the CRM copy belongs to a colleague"
	}
	m.state.SetText(state)
	regarding := "none"
	if it.Regarding != nil {
		regarding = recordText(*it.Regarding)
	}
	m.regarding.SetText(regarding)
	m.why.SetText(orDash(it.Reason))
}

// senderPane shows the selected message's sender as the CRM knows them,
// looked up live each time the selection changes and held in memory only.
type senderPane struct {
	pane
	v                                 *itemsWindow
	state                             *widget.Label
	name                              *widget.Label
	fields                            *fyne.Container
	email, company, job, phone, owner *widget.Label
	link                              *widget.Hyperlink
	add                               *widget.Button

	key    agent.MessageKey // the message whose sender the pane is about
	gen    int              // counts lookups; an answer for an older one is dropped
	done   bool             // the lookup for key answered
	failed bool             // and it failed
	person *agent.Person    // key's sender; nil when not (yet) found
	cancel context.CancelFunc
}

func newSenderPane(v *itemsWindow) *senderPane {
	p := &senderPane{v: v, state: wrapped(), name: wrapped(), email: wrapped(), company: wrapped(),
		job: wrapped(), phone: wrapped(), owner: wrapped()}
	p.name.TextStyle.Bold = true
	p.fields = fieldGrid(field{"Email", p.email}, field{"Company", p.company}, field{"Job title", p.job},
		field{"Phone", p.phone}, field{"Owner", p.owner})
	p.link = widget.NewHyperlink("Open in CRM", nil)
	p.add = widget.NewButton("Add as contact…", v.addContact)
	p.pane = newPane(bold("Sender in the CRM"), p.state, container.NewBorder(nil, nil, nil, p.link, p.name), p.fields, container.NewHBox(p.add))
	p.clear()
	return p
}

// clear empties the pane: nothing is selected.
func (p *senderPane) clear() {
	p.stop()
	p.key, p.person, p.done, p.failed = "", nil, false, false
	p.say("Select a message to see its sender in the CRM.")
}

// stop cancels the lookup in flight, if any.
func (p *senderPane) stop() {
	p.gen++
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
}

// say shows only a sentence: no person, no buttons.
func (p *senderPane) say(text string) {
	p.state.SetText(text)
	p.state.Show()
	for _, o := range []fyne.CanvasObject{p.name, p.fields, p.link, p.add} {
		o.Hide()
	}
	p.relayout()
}

// lookup asks the CRM who sent k, cancelling the lookup before it; the
// answer is shown only if k is still the selected message.
func (p *senderPane) lookup(k agent.MessageKey) {
	p.stop()
	p.key, p.person, p.done, p.failed = k, nil, false, false
	p.say("Looking up the sender in the CRM…")
	gen := p.gen
	ctx, cancel := context.WithCancel(p.v.u.life)
	p.cancel = cancel
	var person *agent.Person
	p.v.u.async(ctx, func(ctx context.Context) (err error) { person, err = p.v.u.be.Sender(ctx, k); return err }, func(err error) {
		if gen != p.gen {
			return // overtaken by another selection
		}
		cancel()
		p.cancel = nil
		p.done = true
		if err != nil {
			p.failed = true
			p.say("The CRM could not be asked about the sender: " + err.Error())
		} else {
			p.showPerson(person)
		}
		p.v.refreshSelection()
	})
}

// showPerson shows the CRM's record of the sender, or offers to add them.
func (p *senderPane) showPerson(person *agent.Person) {
	p.person = person
	if person == nil {
		p.say("Not in the CRM: no contact or lead has this sender's address.")
		p.add.Show()
		p.relayout()
		return
	}
	defer p.relayout()
	p.state.Hide()
	name := orDash(person.Ref.Name)
	if person.Ref.Entity == "lead" {
		name += " (lead)"
	}
	p.name.SetText(name)
	p.email.SetText(orDash(person.Email))
	p.company.SetText(orDash(person.Company))
	p.job.SetText(orDash(person.JobTitle))
	p.phone.SetText(orDash(person.Phone))
	p.owner.SetText(orDash(person.Owner))
	p.name.Show()
	p.fields.Show()
	p.add.Hide()
	if u := parseURL(person.WebURL); person.WebURL != "" && u != nil {
		// Named for the record, so it is not mistaken for the message's
		// own Open in CRM button below.
		p.link.SetText("Open " + orDash(person.Ref.Entity) + " in CRM")
		p.link.SetURL(u)
		p.link.Show()
	} else {
		p.link.Hide()
	}
}

// mayAdd reports whether k's sender may be added as a contact: the CRM
// has no record of them, or the lookup has not answered yet (a right
// click selects and opens the menu at once; createContact checks again).
func (p *senderPane) mayAdd(k agent.MessageKey) bool {
	return k != "" && p.key == k && (!p.done || (!p.failed && p.person == nil))
}
