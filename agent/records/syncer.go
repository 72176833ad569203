package records

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm"
	"crmsync/agent/dav"
	"crmsync/agent/sched"
)

// CRM is what a pass asks of the CRM; *crm.HTTPClient has it.
type CRM interface {
	SyncFilters(ctx context.Context, userID string) ([]crm.SyncFilter, error)
	SyncMappings(ctx context.Context) ([]crm.SyncMapping, error)
	SecuredFields(ctx context.Context, userID string, entities []string) (map[string]map[string]crm.FieldAccess, error)
	FetchVersions(ctx context.Context, set, key, fetchXML string) ([]crm.RowVersion, error)
	Rows(ctx context.Context, set, key string, ids, cols []string, expand string) ([]map[string]any, error)
	CreateRow(ctx context.Context, set, key string, body map[string]any) (string, int64, error)
	UpdateRow(ctx context.Context, set, key, id string, version int64, body map[string]any) (int64, error)
	DeleteRow(ctx context.Context, set, id string) error
	PartyAddresses(ctx context.Context, refs map[string]string) (map[string]string, error)
	ResolveParties(ctx context.Context, addrs []string) ([]crm.Party, error)
	Person(ctx context.Context, address string) (*agent.Person, error)
}

// DAV is what a pass asks of the address book and calendar server;
// *dav.Client has it.
type DAV interface {
	Discover(ctx context.Context) (dav.Homes, error)
	EnsureAddressBook(ctx context.Context, h dav.Homes, name string) (dav.Collection, bool, error)
	EnsureCalendar(ctx context.Context, h dav.Homes, name string, components []string) (dav.Collection, bool, error)
	Stat(ctx context.Context, coll string) (dav.Collection, error)
	List(ctx context.Context, coll string) ([]dav.Ref, error)
	Changes(ctx context.Context, coll, token string) (dav.Delta, error)
	Get(ctx context.Context, coll string, kind dav.Kind, hrefs []string) ([]dav.Object, error)
	Put(ctx context.Context, href string, data []byte, kind dav.Kind, ifMatch string) (string, error)
	Delete(ctx context.Context, href, ifMatch string) error
}

// Default names of the collections crmsync keeps.
const (
	DefaultAddressBook = "CRM contacts"
	DefaultCalendar    = "CRM calendar"
)

// Options configure a Syncer.
type Options struct {
	// CRM returns the CRM client for a pass; an error (the connection is
	// off or down) ends the pass before it starts.
	CRM    func() (CRM, error)
	DAV    DAV
	Store  Store
	UserID string // the signed-in user's systemuserid
	// Account identifies the DAV account (its URL and user); links made
	// with another account are forgotten.
	Account     string
	AddressBook string // "" = DefaultAddressBook
	Calendar    string // "" = DefaultCalendar
	Kinds       []Kind // nil = AllKinds
	// Interval between passes when nothing asks for one; 0 = 2 minutes.
	Interval time.Duration
	// PolicyAge is how long filters, mappings and field security are
	// reused before they are read again; 0 = 15 minutes.
	PolicyAge time.Duration
	Log       *slog.Logger
	Now       func() time.Time
	// OnPass, when set, is called with the report of every pass Run makes.
	OnPass func(Report)
}

// Syncer runs passes, one at a time. Run owns the schedule; Pass may be
// called from any goroutine and waits for a running pass to end.
type Syncer struct {
	o      Options
	passMu sync.Mutex // one pass at a time; guards the fields below it
	c      CRM        // the pass's CRM client
	pol    *Policy
	polAt  time.Time
	homes  *dav.Homes
	colls  map[dav.Kind]dav.Collection
	nagged map[string]bool // items already reported as not tracked, by href hash

	lastMu sync.Mutex
	last   Report
	kick   sched.Kick
}

// New checks the options and returns a Syncer.
func New(o Options) (*Syncer, error) {
	if o.CRM == nil || o.DAV == nil || o.Store == nil {
		return nil, errors.New("records: a syncer needs a CRM, a DAV server and a store")
	}
	if !crm.IsGUID(o.UserID) {
		return nil, errors.New("records: a syncer needs the signed-in user's ID")
	}
	if o.AddressBook == "" {
		o.AddressBook = DefaultAddressBook
	}
	if o.Calendar == "" {
		o.Calendar = DefaultCalendar
	}
	if o.Kinds == nil {
		o.Kinds = AllKinds
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Minute
	}
	if o.PolicyAge <= 0 {
		o.PolicyAge = 15 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Syncer{o: o, colls: map[dav.Kind]dav.Collection{}, nagged: map[string]bool{}, kick: sched.NewKick()}, nil
}

// Trigger asks Run for a pass now; it never blocks.
func (s *Syncer) Trigger() { s.kick.Now() }

// Last returns the report of the last pass.
func (s *Syncer) Last() Report {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	return s.last
}

// Run makes a pass at once, then every Interval and whenever Trigger is
// called, until ctx ends. A failed pass is reported in Last and retried
// on the next turn.
func (s *Syncer) Run(ctx context.Context) error {
	sched.Periodic(ctx, s.o.Interval, s.kick, func(ctx context.Context) {
		rep, err := s.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			s.o.Log.Warn("records: sync pass failed", "err", err)
		}
		if s.o.OnPass != nil && ctx.Err() == nil {
			s.o.OnPass(rep)
		}
	})
	return nil
}

// Policy returns the filters and field rules in force, reading them from
// the CRM when they are older than PolicyAge.
func (s *Syncer) Policy(ctx context.Context) (*Policy, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	if err := s.client(); err != nil {
		return nil, err
	}
	return s.policy(ctx)
}

// client takes the CRM client for a pass.
func (s *Syncer) client() error {
	c, err := s.o.CRM()
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	s.c = c
	return nil
}

func (s *Syncer) policy(ctx context.Context) (*Policy, error) {
	if s.pol != nil && s.o.Now().Sub(s.polAt) < s.o.PolicyAge {
		return s.pol, nil
	}
	p, err := loadPolicy(ctx, s.c, s.o.UserID, s.o.Kinds)
	if err != nil {
		return nil, err
	}
	s.pol, s.polAt = p, s.o.Now()
	return p, nil
}

// Pass runs one pass and returns its report.
func (s *Syncer) Pass(ctx context.Context) (Report, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	rep := newReport(s.o.Now())
	err := s.pass(ctx, &rep)
	rep.Finished = s.o.Now()
	if err != nil {
		rep.Err = err.Error()
	}
	s.lastMu.Lock()
	s.last = rep
	s.lastMu.Unlock()
	return rep, err
}

// accountKey is the kv key of the account and collection names the
// links belong to.
const accountKey = "records.account"

// checkAccount forgets every link and token when the account or the
// collection names changed since the links were made.
func (s *Syncer) checkAccount(ctx context.Context) error {
	sum := sha256.Sum256([]byte(s.o.Account + "\x00" + s.o.AddressBook + "\x00" + s.o.Calendar + "\x00" + s.o.UserID))
	want := hex.EncodeToString(sum[:16])
	have, ok, err := s.o.Store.Get(ctx, accountKey)
	if err != nil {
		return err
	}
	if ok && string(have) == want {
		return nil
	}
	if err := s.o.Store.DeleteLinks(ctx); err != nil {
		return err
	}
	for _, k := range []dav.Kind{dav.AddressBook, dav.Calendar} {
		if err := s.o.Store.Set(ctx, tokenKey(k), nil); err != nil {
			return err
		}
	}
	return s.o.Store.Set(ctx, accountKey, []byte(want))
}

// tokenKey is the kv key of a collection's last sync token.
func tokenKey(k dav.Kind) string { return fmt.Sprintf("records.token.%d", k) }

// collections finds or creates the address book and the calendar the
// kinds need.
func (s *Syncer) collections(ctx context.Context, rep *Report) error {
	need := map[dav.Kind]bool{}
	for _, k := range s.o.Kinds {
		need[specs[k].coll] = true
	}
	if len(s.colls) == len(need) {
		return nil
	}
	if s.homes == nil {
		h, err := s.o.DAV.Discover(ctx)
		if err != nil {
			return fmt.Errorf("records: find the address book and calendar: %w", err)
		}
		s.homes = &h
	}
	if need[dav.AddressBook] {
		c, created, err := s.o.DAV.EnsureAddressBook(ctx, *s.homes, s.o.AddressBook)
		if err != nil {
			return fmt.Errorf("records: address book %q: %w", s.o.AddressBook, err)
		}
		if created {
			rep.notice("Created the address book %q.", s.o.AddressBook)
		}
		s.colls[dav.AddressBook] = c
	}
	if need[dav.Calendar] {
		var comps []string
		for _, k := range s.o.Kinds {
			if c := specs[k].component; c != "" {
				comps = append(comps, c)
			}
		}
		c, created, err := s.o.DAV.EnsureCalendar(ctx, *s.homes, s.o.Calendar, comps)
		if err != nil {
			return fmt.Errorf("records: calendar %q: %w", s.o.Calendar, err)
		}
		if created {
			rep.notice("Created the calendar %q.", s.o.Calendar)
		}
		s.colls[dav.Calendar] = c
	}
	return nil
}

// pass is one pass over every collection.
func (s *Syncer) pass(ctx context.Context, rep *Report) error {
	if err := s.client(); err != nil {
		return err
	}
	if err := s.checkAccount(ctx); err != nil {
		return fmt.Errorf("records: %w", err)
	}
	pol, err := s.policy(ctx)
	if err != nil {
		return err
	}
	if err := s.collections(ctx, rep); err != nil {
		return err
	}
	listing := map[Kind]map[string]int64{}
	for _, k := range s.o.Kinds {
		sp := specs[k]
		m := map[string]int64{}
		for _, f := range pol.Filters[k] {
			rows, err := s.c.FetchVersions(ctx, sp.set, sp.key, f.FetchXML)
			if err != nil {
				return fmt.Errorf("records: run the sync filter %q: %w", f.Name, err)
			}
			for _, r := range rows {
				m[r.ID] = r.Version
			}
		}
		listing[k] = m
	}
	var errs []error
	for _, ck := range []dav.Kind{dav.AddressBook, dav.Calendar} {
		coll, ok := s.colls[ck]
		if !ok {
			continue
		}
		var kinds []Kind
		for _, k := range s.o.Kinds {
			if specs[k].coll == ck {
				kinds = append(kinds, k)
			}
		}
		if err := s.syncCollection(ctx, pol, coll, kinds, listing, rep); err != nil {
			// The collection may have been deleted or moved on the
			// server: find it (or create it) again on the next pass.
			delete(s.colls, ck)
			s.homes = nil
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
