package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"crmsync/agent"
	"crmsync/agent/dav"
	"crmsync/agent/records"
)

// recordsState is the loop's part of keeping the user's contacts,
// appointments and tasks in step with their address book and calendar.
// The syncer itself runs on its own goroutine and reports each pass here.
type recordsState struct {
	stop   context.CancelFunc // stops the running syncer; nil when none
	key    string             // the user and settings the running syncer was made for
	status string             // for the status line; "" when records are not kept in step
	err    string             // a warning; "" when none
	passes chan records.Report
}

// davAccount converts the settings' account for the DAV client.
func davAccount(a agent.DAVAccount) dav.Account {
	return dav.Account{URL: a.URL, Username: a.Username, CAFile: a.CAFile}
}

// checkRecords refuses record sync settings that cannot work, with a
// sentence that says what to change.
func checkRecords(r agent.RecordSync) error {
	if r.DAV.IsZero() {
		return nil
	}
	if r.DAV.Username == "" {
		return errors.New("the address book and calendar server needs a user name")
	}
	if _, err := dav.ParseURL(r.DAV.Display()); err != nil {
		return err
	}
	for _, n := range []string{r.AddressBook, r.Calendar} {
		if strings.ContainsAny(n, "/\\\x00") || len(n) > 100 {
			return fmt.Errorf("%q cannot name an address book or calendar: use at most 100 characters and no slashes", n)
		}
	}
	return nil
}

// startRecords starts keeping records in step as the settings say, once
// the user is known; it restarts the syncer when the user or the
// settings changed, and stops it when they are switched off.
func (l *loop) startRecords() {
	r := l.settings.Records
	key := fmt.Sprintf("%s\x00%+v", l.userID, r)
	if l.recs.stop != nil && l.recs.key == key {
		return
	}
	l.stopRecords()
	l.recs.status, l.recs.err, l.recs.key = "", "", key
	if !r.On() {
		return
	}
	if l.userID == "" {
		l.recs.status = "waiting for the CRM connection"
		return
	}
	l.recs.status = "starting"
	ctx, cancel := context.WithCancel(l.ctx)
	l.recs.stop = cancel
	e, userID, passes := l.e, l.userID, l.recs.passes
	report := func(rep records.Report) {
		select {
		case passes <- rep:
		case <-ctx.Done():
		}
	}
	l.g.Go("records", func(context.Context) error {
		pw, err := e.davPassword(ctx, r.DAV)
		if err != nil {
			report(records.Report{Err: err.Error()})
			return nil
		}
		client, err := dav.New(davAccount(r.DAV), pw, dav.Options{UserAgent: "crmsync"})
		if err != nil {
			report(records.Report{Err: err.Error()})
			return nil
		}
		var kinds []records.Kind
		for k, on := range map[records.Kind]bool{records.Contacts: r.Contacts, records.Appointments: r.Appointments, records.Tasks: r.Tasks} {
			if on {
				kinds = append(kinds, k)
			}
		}
		s, err := records.New(records.Options{
			CRM: e.recordsCRM, DAV: client, Store: e.o.Store, UserID: userID,
			Account: r.DAV.Display(), AddressBook: r.AddressBook, Calendar: r.Calendar,
			Kinds: sortKinds(kinds), Log: e.log, Now: e.clock.Now, OnPass: report,
		})
		if err != nil {
			report(records.Report{Err: err.Error()})
			return nil
		}
		e.syncer.Store(s)
		defer e.syncer.CompareAndSwap(s, nil)
		return s.Run(ctx)
	})
}

// sortKinds puts kinds in pass order.
func sortKinds(ks []records.Kind) []records.Kind {
	var out []records.Kind
	for _, k := range records.AllKinds {
		for _, x := range ks {
			if x == k {
				out = append(out, k)
			}
		}
	}
	return out
}

func (l *loop) stopRecords() {
	if l.recs.stop != nil {
		l.recs.stop()
		l.recs.stop = nil
	}
}

// onRecordsPass takes the report of a pass for the status line and the
// tray.
func (l *loop) onRecordsPass(rep records.Report) {
	switch {
	case rep.Err != "" && !l.online:
		// The connection's own warning says why; a second one would not
		// help.
		l.recs.status, l.recs.err = "waiting for the CRM connection", ""
	case rep.Err != "":
		l.recs.status = "not in step"
		l.recs.err = "The address book and calendar could not be kept in step: " + rep.Err
	default:
		l.recs.err = ""
		l.recs.status = "in step at " + rep.Finished.Local().Format("15:04") + " (" + keptCounts(rep) + ")"
		if n := len(rep.Notices); n > 0 {
			l.e.publishNotice("Address book and calendar", rep.Notices[0])
		}
	}
	l.publish(true)
}

// keptCounts says how many records of each kind are kept in step.
func keptCounts(rep records.Report) string {
	var parts []string
	for _, k := range records.AllKinds {
		if kr := rep.Kinds[k]; kr != nil {
			parts = append(parts, fmt.Sprintf("%d %s", kr.Kept, k))
		}
	}
	return strings.Join(parts, ", ")
}

// errNoDAVPassword says the keychain holds no password for the DAV account.
var errNoDAVPassword = errors.New("no password is saved for the address book and calendar server; enter it in Settings, Address book and calendar")

// davPassword returns a's password from the keychain (or the one given
// for this session).
func (e *Engine) davPassword(ctx context.Context, a agent.DAVAccount) (string, error) {
	return e.accountPassword(ctx, a.Display(), errNoDAVPassword)
}

// recordsCRM gives a pass the CRM client while the connection is online.
func (e *Engine) recordsCRM() (records.CRM, error) {
	c, _, err := e.onlineClient("keeping the address book and calendar in step")
	if err != nil {
		return nil, err
	}
	return c, nil
}

// errNoRecords says records are not kept in step, and how to start.
var errNoRecords = errors.New("the address book and calendar are not set up: add a CardDAV/CalDAV server in Settings, " +
	"Address book and calendar, or start the agent with --dav https://USER@HOST/PATH/")

// runningSyncer returns the syncer, or why there is none.
func (e *Engine) runningSyncer() (*records.Syncer, error) {
	if s := e.syncer.Load(); s != nil {
		return s, nil
	}
	if !e.Settings().Records.On() {
		return nil, errNoRecords
	}
	return nil, fmt.Errorf("%w: the address book and calendar sync starts once the CRM connection is online", agent.ErrNotAvailable)
}

// SyncNow implements agent.RecordSyncer.
func (e *Engine) SyncNow(ctx context.Context) (agent.SyncReport, error) {
	s, err := e.runningSyncer()
	if err != nil {
		return agent.SyncReport{}, err
	}
	rep, err := s.Pass(ctx)
	_ = e.do(ctx, func(l *loop) { l.onRecordsPass(rep) })
	return syncReport(rep), err
}

// LastSyncReport implements agent.RecordSyncer.
func (e *Engine) LastSyncReport() agent.SyncReport {
	if s := e.syncer.Load(); s != nil {
		return syncReport(s.Last())
	}
	return agent.SyncReport{}
}

// syncReport converts a pass's report for the UI.
func syncReport(r records.Report) agent.SyncReport {
	out := agent.SyncReport{Started: r.Started, Finished: r.Finished, Notices: r.Notices, Err: r.Err}
	for _, k := range records.AllKinds {
		kr := r.Kinds[k]
		if kr == nil {
			continue
		}
		out.Kinds = append(out.Kinds, agent.SyncKind{Kind: k.String(),
			ToItems:   agent.SyncCount(kr.ToItems),
			ToCRM:     agent.SyncCount(kr.ToCRM),
			Conflicts: kr.Conflicts, Kept: kr.Kept})
	}
	return out
}

// SyncOverview implements agent.RecordSyncer.
func (e *Engine) SyncOverview(ctx context.Context) (agent.SyncOverview, error) {
	s, err := e.runningSyncer()
	if err != nil {
		return agent.SyncOverview{}, err
	}
	ov, err := s.Overview(ctx)
	if err != nil {
		return agent.SyncOverview{}, err
	}
	out := agent.SyncOverview{Counts: map[string]int{}}
	for _, k := range records.AllKinds {
		for _, f := range ov.Policy.Filters[k] {
			out.Filters = append(out.Filters, agent.SyncFilterInfo{Kind: k.String(), Name: f.Name, Organisation: f.Organisation})
		}
		for _, f := range ov.Policy.Fields(k) {
			out.Fields = append(out.Fields, agent.SyncFieldInfo{Kind: k.String(), Field: f.Field, Column: f.Column, ToItem: f.ToItem, ToCRM: f.ToCRM})
		}
		for _, h := range ov.Policy.Hidden[k] {
			out.Hidden = append(out.Hidden, k.String()+": "+h)
		}
		if n, ok := ov.Counts[k]; ok {
			out.Counts[k.String()] = n
		}
	}
	return out, nil
}

// TestDAV implements agent.RecordSyncer.
func (e *Engine) TestDAV(ctx context.Context, a agent.DAVAccount, password string) ([]agent.CheckStep, error) {
	if err := checkRecords(agent.RecordSync{DAV: a}); err != nil {
		return nil, err
	}
	if password == "" {
		pw, err := e.davPassword(ctx, a)
		if err != nil {
			return nil, err
		}
		password = pw
	}
	var out []agent.CheckStep
	for _, s := range dav.Probe(ctx, davAccount(a), password, dav.Options{UserAgent: "crmsync"}) {
		out = append(out, agent.CheckStep(s))
	}
	return out, nil
}

// SaveDAVPassword implements agent.RecordSyncer.
func (e *Engine) SaveDAVPassword(ctx context.Context, a agent.DAVAccount, password string) error {
	if err := checkRecords(agent.RecordSync{DAV: a}); err != nil {
		return err
	}
	if e.o.Passwords == nil {
		return agent.ErrKeychainUnavailable
	}
	if err := e.o.Passwords.SaveMailPassword(ctx, a.Display(), password); err != nil {
		return err
	}
	// A syncer waiting for the password starts now.
	return e.do(ctx, func(l *loop) {
		l.recs.key = ""
		l.startRecords()
		l.publish(true)
	})
}
