package dav_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
)

// TestPutPreconditions writes with If-None-Match and If-Match and checks
// that Radicale's storage holds what was written.
func TestPutPreconditions(t *testing.T) {
	t.Parallel()
	s, c, book, _ := setup(t)
	ctx := testCtx(t)
	href := book.Href + "ann smith.vcf" // a space, to check the encoding
	etag, err := c.Put(ctx, href, vcard("ann", "Ann"), dav.AddressBook, "")
	if err != nil || etag == "" {
		t.Fatalf("Put new = %q, %v", etag, err)
	}
	if _, err := c.Put(ctx, href, vcard("ann", "Ann again"), dav.AddressBook, ""); !errors.Is(err, dav.ErrPrecondition) {
		t.Fatalf("Put new over an existing item: %v, want ErrPrecondition", err)
	} else if !strings.Contains(err.Error(), "412") || !strings.Contains(err.Error(), "/alice/contacts/ann smith.vcf") {
		t.Errorf("error %q lacks the status or the href", err)
	}
	if _, err := c.Put(ctx, href, vcard("ann", "Ann stale"), dav.AddressBook, `"stale"`); !errors.Is(err, dav.ErrPrecondition) {
		t.Fatalf("Put with a stale ETag: %v, want ErrPrecondition", err)
	}
	etag2, err := c.Put(ctx, href, vcard("ann", "Ann Smith"), dav.AddressBook, etag)
	if err != nil || etag2 == "" || etag2 == etag {
		t.Fatalf("Put with the right ETag = %q, %v (old %q)", etag2, err, etag)
	}
	files := s.ItemFiles(davtest.UserAlice, "contacts")
	if len(files) != 1 || !bytes.Contains(files["ann smith.vcf"], []byte("FN:Ann Smith")) {
		t.Fatalf("Radicale stored %q", files)
	}
	// An ETag that lost its quotes in a store still matches.
	if _, err := c.Put(ctx, href, vcard("ann", "Ann S."), dav.AddressBook, strings.Trim(etag2, `"`)); err != nil {
		t.Fatalf("Put with an unquoted ETag: %v", err)
	}
	// Calendar objects go the same way, with text/calendar.
	if _, err := c.Put(ctx, "/alice/calendar/meet.ics", vevent("meet", "Meeting"), dav.Calendar, ""); err != nil {
		t.Fatalf("Put event: %v", err)
	}
	if _, err := c.Put(ctx, "/alice/calendar/task.ics", vtodo("task", "Call back"), dav.Calendar, ""); err != nil {
		t.Fatalf("Put task: %v", err)
	}
	if n := len(s.ItemFiles(davtest.UserAlice, "calendar")); n != 2 {
		t.Fatalf("calendar holds %d files, want 2", n)
	}
}

// TestDelete deletes with a stale ETag, the right one, and none.
func TestDelete(t *testing.T) {
	t.Parallel()
	s, c, book, _ := setup(t)
	ctx := testCtx(t)
	href := book.Href + "bob.vcf"
	etag, err := c.Put(ctx, href, vcard("bob", "Bob"), dav.AddressBook, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, href, `"stale"`); !errors.Is(err, dav.ErrPrecondition) {
		t.Fatalf("Delete with a stale ETag: %v, want ErrPrecondition", err)
	}
	if err := c.Delete(ctx, href, etag); err != nil {
		t.Fatalf("Delete with the right ETag: %v", err)
	}
	if files := s.ItemFiles(davtest.UserAlice, "contacts"); len(files) != 0 {
		t.Fatalf("Radicale still has %q", files)
	}
	if err := c.Delete(ctx, href, ""); err != nil {
		t.Fatalf("Delete of a missing item: %v, want nil", err)
	}
	if err := c.Delete(ctx, href, etag); err != nil {
		t.Fatalf("Delete of a missing item with an ETag: %v, want nil", err)
	}
}

// TestListAndGet puts contacts from several goroutines, adds more
// straight into Radicale's storage (PUT is slow there, see
// davtest.WriteItemFiles) up to 250, lists them, and reads them back in
// chunks of at most 100.
func TestListAndGet(t *testing.T) {
	t.Parallel()
	s, c, book, _ := setup(t)
	ctx := testCtx(t)
	const n, put, workers = 250, 16, 4
	etags := make([]string, n)
	hrefs := make([]string, n)
	for i := range hrefs {
		hrefs[i] = fmt.Sprintf("%sc%03d.vcf", book.Href, i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, put)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < put; i += workers {
				e, err := c.Put(ctx, hrefs[i], vcard(fmt.Sprintf("c%03d", i), fmt.Sprintf("Contact %d", i)), dav.AddressBook, "")
				if err != nil {
					errs <- err
					return
				}
				etags[i] = e
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for i := put; i < n; i++ {
		files[fmt.Sprintf("c%03d.vcf", i)] = vcard(fmt.Sprintf("c%03d", i), fmt.Sprintf("Contact %d", i))
	}
	s.WriteItemFiles(t, davtest.UserAlice, "contacts", files)

	refs, err := c.List(ctx, book.Href)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != n {
		t.Fatalf("List = %d refs, want %d", len(refs), n)
	}
	for i, r := range refs {
		if r.Href != hrefs[i] || r.ETag == "" || (i < put && r.ETag != etags[i]) {
			t.Fatalf("List[%d] = %+v, want %s %s", i, r, hrefs[i], etags[i])
		}
		etags[i] = r.ETag
	}

	before := c.Requests()
	ask := append(append([]string(nil), hrefs...), book.Href+"missing-1.vcf", book.Href+"missing-2.vcf")
	objs, err := c.Get(ctx, book.Href, dav.AddressBook, ask)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Requests() - before; got != 3 {
		t.Errorf("Get of %d hrefs sent %d requests, want 3", len(ask), got)
	}
	if len(objs) != n {
		t.Fatalf("Get = %d objects, want %d (the missing ones left out)", len(objs), n)
	}
	byHref := map[string]dav.Object{}
	for _, o := range objs {
		byHref[o.Href] = o
	}
	for i, h := range hrefs {
		o, ok := byHref[h]
		if !ok || o.ETag != etags[i] || !bytes.Contains(o.Data, []byte(fmt.Sprintf("FN:Contact %d\r\n", i))) {
			t.Fatalf("Get %s = %+v", h, o)
		}
	}
}
