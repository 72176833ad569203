package dav_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
)

// testCtx is a context that ends with the test, or after a minute.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// client returns a Client for user on s.
func client(t testing.TB, s *davtest.Server, user string) *dav.Client {
	t.Helper()
	c, err := dav.New(s.Account(user), s.Password(user), dav.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup starts a server and makes alice's address book and calendar.
func setup(t testing.TB) (*davtest.Server, *dav.Client, dav.Collection, dav.Collection) {
	t.Helper()
	s := davtest.Start(t)
	c := client(t, s, davtest.UserAlice)
	ctx := testCtx(t)
	h, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	book, _, err := c.EnsureAddressBook(ctx, h, "Contacts")
	if err != nil {
		t.Fatal(err)
	}
	cal, _, err := c.EnsureCalendar(ctx, h, "Calendar", []string{"VEVENT", "VTODO"})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, book, cal
}

// vcard is a minimal vCard 3.0.
func vcard(uid, name string) []byte {
	return []byte(fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%[2]s;;;;\r\nEND:VCARD\r\n", uid, name))
}

// vevent is a minimal calendar object with one event.
func vevent(uid, summary string) []byte {
	return []byte(fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync//test//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"+
		"DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", uid, summary))
}

// vtodo is a minimal calendar object with one task.
func vtodo(uid, summary string) []byte {
	return []byte(fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync//test//EN\r\nBEGIN:VTODO\r\nUID:%s\r\n"+
		"DTSTAMP:20260101T000000Z\r\nDUE:20260105T100000Z\r\nSUMMARY:%s\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n", uid, summary))
}
