package dav_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
)

// TestDiscoverPrincipal finds alice's homes from her principal URL, makes
// her address book and calendar once, and finds them on the second call.
func TestDiscoverPrincipal(t *testing.T) {
	t.Parallel()
	s := davtest.Start(t)
	c := client(t, s, davtest.UserAlice)
	ctx := testCtx(t)
	h, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := dav.Homes{Principal: "/alice/", AddressBookHome: "/alice/", CalendarHome: "/alice/"}
	if h.Principal != want.Principal || h.AddressBookHome != want.AddressBookHome || h.CalendarHome != want.CalendarHome {
		t.Fatalf("Discover = %+v, want %+v", h, want)
	}
	if len(h.AddressBooks)+len(h.Calendars) != 0 {
		t.Fatalf("a new account has collections: %+v", h)
	}

	book, created, err := c.EnsureAddressBook(ctx, h, "CRM Contacts")
	if err != nil || !created {
		t.Fatalf("EnsureAddressBook = %+v, %v, %v; want created", book, created, err)
	}
	if book.Href != "/alice/crm-contacts/" || book.Name != "CRM Contacts" || book.Kind != dav.AddressBook || book.SyncToken == "" || book.CTag == "" {
		t.Fatalf("address book = %+v", book)
	}
	cal, created, err := c.EnsureCalendar(ctx, h, "CRM", []string{"VEVENT", "VTODO"})
	if err != nil || !created {
		t.Fatalf("EnsureCalendar = %+v, %v, %v; want created", cal, created, err)
	}
	if cal.Href != "/alice/crm/" || cal.Kind != dav.Calendar || !slices.Equal(cal.Components, []string{"VEVENT", "VTODO"}) || cal.SyncToken == "" {
		t.Fatalf("calendar = %+v", cal)
	}
	for dir, want := range map[string][]string{"crm-contacts": {`"VADDRESSBOOK"`, `CRM Contacts`}, "crm": {`"VCALENDAR"`, `VEVENT,VTODO`}} {
		props, err := os.ReadFile(filepath.Join(s.Dir, "collection-root", "alice", dir, ".Radicale.props"))
		if err != nil {
			t.Fatalf("Radicale did not store the collection: %v", err)
		}
		for _, w := range want {
			if !strings.Contains(string(props), w) {
				t.Errorf("%s/.Radicale.props = %s, want it to hold %s", dir, props, w)
			}
		}
	}

	// With a fresh discovery the collections are found by name.
	h2, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h2.AddressBooks) != 1 || len(h2.Calendars) != 1 {
		t.Fatalf("second Discover = %+v", h2)
	}
	if got, created, err := c.EnsureAddressBook(ctx, h2, "CRM Contacts"); err != nil || created || got.Href != book.Href {
		t.Fatalf("second EnsureAddressBook = %+v, %v, %v", got, created, err)
	}
	if got, created, err := c.EnsureCalendar(ctx, h2, "CRM", nil); err != nil || created || got.Href != cal.Href {
		t.Fatalf("second EnsureCalendar = %+v, %v, %v", got, created, err)
	}
	// By last path segment, for a collection whose name another client
	// changed.
	if got, created, err := c.EnsureAddressBook(ctx, h2, "crm-contacts"); err != nil || created || got.Href != book.Href {
		t.Fatalf("EnsureAddressBook by segment = %+v, %v, %v", got, created, err)
	}
	// With the stale Homes of before, MKCOL finds the collection there
	// and uses it instead of failing.
	before := c.Requests()
	if got, created, err := c.EnsureAddressBook(ctx, h, "CRM Contacts"); err != nil || created || got.Href != book.Href {
		t.Fatalf("EnsureAddressBook with stale homes = %+v, %v, %v", got, created, err)
	}
	if n := c.Requests() - before; n != 2 {
		t.Errorf("EnsureAddressBook over an existing one sent %d requests, want 2 (MKCOL, PROPFIND)", n)
	}
	// A calendar may not take the address book's place.
	if _, _, err := c.EnsureCalendar(ctx, h, "CRM Contacts", nil); err == nil || !strings.Contains(err.Error(), "not a calendar") {
		t.Fatalf("EnsureCalendar over an address book: %v", err)
	}
}

// TestDiscoverWellKnown starts from the bare host, as a user who knows
// only the server's name would enter it.
func TestDiscoverWellKnown(t *testing.T) {
	t.Parallel()
	s := davtest.Start(t)
	acct := s.Account(davtest.UserAlice)
	acct.URL = s.URL + "/"
	c, err := dav.New(acct, davtest.PasswordAlice, dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Discover(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if h.Principal != "/alice/" || h.AddressBookHome != "/alice/" || h.CalendarHome != "/alice/" {
		t.Fatalf("Discover from the host = %+v", h)
	}
	// /.well-known/carddav, its redirect to /, the principal, its homes.
	if n := c.Requests(); n != 4 {
		t.Errorf("discovery from the host took %d requests, want 4", n)
	}
}
