package records

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/dav"
	"crmsync/agent/item"
)

// errCut stands for the process dying: the write it refuses never
// happens, and nothing after it in the pass either.
var errCut = errors.New("cut")

// cutDAV passes requests to the real server until the writes (PUT and
// DELETE) reach a limit, then refuses every request: a pass cut short at
// that write, as by kill -9. A test double, for a fault that cannot be
// caused at an exact point otherwise.
type cutDAV struct {
	*dav.Client
	left atomic.Int64 // writes still allowed
	dead atomic.Bool
}

func (c *cutDAV) gate() error {
	if c.dead.Load() {
		return errCut
	}
	return nil
}

func (c *cutDAV) write() error {
	if c.dead.Load() || c.left.Add(-1) < 0 {
		c.dead.Store(true)
		return errCut
	}
	return nil
}

func (c *cutDAV) Put(ctx context.Context, href string, data []byte, kind dav.Kind, ifMatch string) (string, error) {
	if err := c.write(); err != nil {
		return "", err
	}
	return c.Client.Put(ctx, href, data, kind, ifMatch)
}

func (c *cutDAV) Delete(ctx context.Context, href, ifMatch string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Client.Delete(ctx, href, ifMatch)
}

func (c *cutDAV) Get(ctx context.Context, coll string, kind dav.Kind, hrefs []string) ([]dav.Object, error) {
	if err := c.gate(); err != nil {
		return nil, err
	}
	return c.Client.Get(ctx, coll, kind, hrefs)
}

func (c *cutDAV) Changes(ctx context.Context, coll, token string) (dav.Delta, error) {
	if err := c.gate(); err != nil {
		return dav.Delta{}, err
	}
	return c.Client.Changes(ctx, coll, token)
}

// TestCutAtEveryWriteLosesAndDoublesNothing cuts the first pass after
// each of its writes in turn, then lets a restarted agent (the same cache
// file, a new syncer) finish: every record ends with exactly one item,
// and a tracked event with exactly one CRM appointment.
func TestCutAtEveryWriteLosesAndDoublesNothing(t *testing.T) {
	f := newFixture(t)
	for cut := int64(0); ; cut++ {
		// A fresh agent for each cut point: a new cache file and its own
		// address book and calendar, with a tracked event waiting there.
		s := f.as("alice")
		ab, cl := fmt.Sprintf("Cut %d contacts", cut), fmt.Sprintf("Cut %d calendar", cut)
		names := func(o *Options) { o.AddressBook, o.Calendar = ab, cl }
		ctx := ctxT(t)
		homes, err := s.dav.Discover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cal, _, err := s.dav.EnsureCalendar(ctx, homes, cl, []string{"VEVENT", "VTODO"})
		if err != nil {
			t.Fatal(err)
		}
		uid := fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", cut)
		if _, err := s.dav.Put(ctx, cal.Href+uid+".ics", []byte(event(uid, "Cut workshop", "maria.campbell@contoso.example", true)), dav.Calendar, ""); err != nil {
			t.Fatal(err)
		}

		cd := &cutDAV{Client: s.dav}
		cd.left.Store(cut)
		_, err = s.syncer(names, func(o *Options) { o.DAV = cd }).Pass(ctx)
		finished := err == nil
		if err != nil && !errors.Is(err, errCut) {
			t.Fatalf("cut %d: %v", cut, err)
		}
		s.reopen()
		after := s.syncer(names)
		rep := s.pass(after)
		rep2 := s.pass(after) // the tracked event's record is in the filters from now on
		if rep2.Changed() {
			t.Errorf("cut %d: a pass after the recovery still changed something:\n%s", cut, rep2)
		}
		ov, err := after.Overview(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// Every record has one item, and every item its record's ID.
		seen := map[string]int{}
		for _, b := range s.f.dav.ItemFiles("alice", "cut-"+strconv.FormatInt(cut, 10)+"-contacts") {
			seen[decodeContact(t, b).CRMID]++
		}
		for _, b := range s.f.dav.ItemFiles("alice", "cut-"+strconv.FormatInt(cut, 10)+"-calendar") {
			it, err := item.DecodeEvent(b)
			if err != nil {
				it, err = item.DecodeTask(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			if it.CRMID == "" {
				t.Errorf("cut %d: an item has no CRM ID after the restart:\n%s", cut, b)
			}
			seen[it.CRMID]++
		}
		total := 0
		for id, n := range seen {
			total += n
			if n != 1 {
				t.Errorf("cut %d: record %s has %d items", cut, id, n)
			}
		}
		want := 0
		for _, k := range AllKinds {
			want += ov.Counts[k]
		}
		if total != want || len(seen) != want {
			t.Errorf("cut %d: %d items of %d records, want %d", cut, total, len(seen), want)
		}
		// One CRM appointment for the tracked event, found by its UID.
		fx := `<fetch><entity name="appointment"><attribute name="activityid"/><filter>` +
			`<condition attribute="globalobjectid" operator="eq" value="` + uid + `"/></filter></entity></fetch>`
		rows, err := s.crm.FetchVersions(ctx, "appointments", "activityid", fx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Errorf("cut %d: the tracked event has %d CRM appointments:\n%s", cut, len(rows), rep)
		}
		// The next cut starts from the same CRM records.
		for _, r := range rows {
			if err := s.crm.DeleteRow(ctx, "appointments", r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if finished {
			t.Logf("the first pass makes %d writes; it was cut after each of them", cut)
			return
		}
		if cut > 40 {
			t.Fatal("the pass never finished")
		}
	}
}

// noSyncDAV is a server without sync-collection (no DAV:sync-token), as
// some CardDAV servers are: Radicale has it, so the test hides it. A test
// double for a server this machine does not have.
type noSyncDAV struct{ *dav.Client }

func (d noSyncDAV) Stat(ctx context.Context, coll string) (dav.Collection, error) {
	c, err := d.Client.Stat(ctx, coll)
	c.SyncToken = ""
	return c, err
}

func (d noSyncDAV) Changes(context.Context, string, string) (dav.Delta, error) {
	return dav.Delta{}, errors.New("this server has no sync-collection")
}

// TestServerWithoutSyncCollection: passes compare the ctag and ETags
// instead; an idle pass costs one request per collection, and an edit is
// still found.
func TestServerWithoutSyncCollection(t *testing.T) {
	f := newFixture(t)
	alice := f.as("alice")
	nd := noSyncDAV{alice.dav}
	sy := alice.syncer(func(o *Options) { o.DAV = nd })
	alice.pass(sy)
	alice.pass(sy) // reads back its own writes by ETag
	before := alice.dav.Requests()
	if rep := alice.pass(sy); rep.Changed() {
		t.Fatalf("idle pass:\n%s", rep)
	}
	if n := alice.dav.Requests() - before; n != 2 {
		t.Errorf("an idle pass made %d requests, want 2 (one PROPFIND per collection)", n)
	}
	id := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	card, ok := alice.find(DefaultAddressBook, dav.AddressBook, id)
	if !ok {
		t.Fatal("no card")
	}
	alice.edit(card, dav.AddressBook, `(?m)^TITLE[^:]*:.*$`, "TITLE:Head of Purchasing")
	rep := alice.pass(sy)
	if rep.Kinds[Contacts].ToCRM.Updated != 1 || alice.row("contacts", "contactid", id, "jobtitle")["jobtitle"] != "Head of Purchasing" {
		t.Fatalf("pass after an edit:\n%s", rep)
	}
}
