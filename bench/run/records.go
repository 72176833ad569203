package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/dav"
	"crmsync/agent/dav/davtest"
	"crmsync/agent/records"
)

// The records the address book and calendar measurement keeps in step.
const (
	benchContacts     = 1000
	benchAppointments = 400
	benchTasks        = 200
)

// recordsSync measures keeping a salesperson's 1,000 contacts, 400
// appointments and 200 tasks in step with a real Radicale: the first
// pass, which writes every item, and an incremental pass after one
// record changed in the CRM and one item in the address book, with the
// requests each side got. The local CRM runs in this process behind a
// loopback HTTP server that counts Web API requests.
func (h *harness) recordsSync(ctx context.Context) error {
	dir := filepath.Join(h.tmp, "records")
	if err := os.MkdirAll(filepath.Join(dir, "dav"), 0o755); err != nil {
		return err
	}
	davSrv, err := davtest.Launch(filepath.Join(dir, "dav"))
	if err != nil {
		return err
	}
	defer davSrv.Stop()
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000, RateLimit: 1 << 30})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.SeedDemo(); err != nil {
		return err
	}
	const email, password = "records@demo.local", "records-bench"
	userID, err := srv.AddUser(email, password, "Records Bench", true)
	if err != nil {
		return err
	}
	var crmHits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/api/data/") {
			crmHits.Add(1)
		}
		srv.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	defer hs.Close()
	c, err := crm.New(crm.Config{URL: "http://" + ln.Addr().String()})
	if err != nil {
		return err
	}
	if err := c.SignIn(ctx, email, password); err != nil {
		return err
	}
	contactIDs, err := seedRecords(ctx, c, userID)
	if err != nil {
		return fmt.Errorf("seed the records: %w", err)
	}

	store, err := cache.Open(filepath.Join(dir, "cache.db"), nil)
	if err != nil {
		return err
	}
	defer store.Close()
	dc, err := dav.New(davSrv.Account(davtest.UserAlice), davSrv.Password(davtest.UserAlice), dav.Options{})
	if err != nil {
		return err
	}
	sy, err := records.New(records.Options{CRM: func() (records.CRM, error) { return c, nil }, DAV: dc, Store: store,
		UserID: strings.ToLower(userID), Account: "bench"})
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := sy.Pass(ctx)
	first := time.Since(start)
	if err != nil {
		return fmt.Errorf("first pass: %w\n%s", err, rep)
	}
	if got := rep.Kinds[records.Contacts].ToItems.Created; got < benchContacts {
		return fmt.Errorf("the first pass wrote %d contacts, want %d:\n%s", got, benchContacts, rep)
	}
	h.metric("records_sync_first_pass_s", first.Seconds(), "s")
	// A pass that only reads back the first pass's own writes.
	if rep, err := sy.Pass(ctx); err != nil || rep.Changed() {
		return fmt.Errorf("the pass after the first changed something: %v\n%s", err, rep)
	}

	// One record changes in the CRM, one card in the address book (as an
	// app changes it: PUT with If-Match).
	if _, err := c.UpdateRow(ctx, "contacts", "contactid", contactIDs[0], 0, map[string]any{"jobtitle": "Head of Buying"}); err != nil {
		return err
	}
	if err := editOneCard(ctx, dc, contactIDs[1]); err != nil {
		return err
	}
	crm0, dav0 := crmHits.Load(), dc.Requests()
	start = time.Now()
	rep, err = sy.Pass(ctx)
	inc := time.Since(start)
	if err != nil {
		return fmt.Errorf("incremental pass: %w", err)
	}
	kr := rep.Kinds[records.Contacts]
	if kr.ToItems.Updated != 1 || kr.ToCRM.Updated != 1 {
		return fmt.Errorf("the incremental pass did not carry exactly the two edits:\n%s", rep)
	}
	h.metric("records_sync_incremental_ms", float64(inc.Microseconds())/1000, "ms")
	h.metric("records_sync_incremental_crm_requests", float64(crmHits.Load()-crm0), "requests")
	h.metric("records_sync_incremental_dav_requests", float64(dc.Requests()-dav0), "requests")
	return h.davPutFloor(ctx, dc, first)
}

// davPutFloor measures the floor of a first pass: as many PUTs of small
// items, split between two new collections as the pass splits them
// (contacts in one, appointments and tasks in the other), one after
// another, by the DAV client alone. Radicale checks each new item
// against the whole collection, so this grows faster than the count.
func (h *harness) davPutFloor(ctx context.Context, dc *dav.Client, first time.Duration) error {
	homes, err := dc.Discover(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	for c, n := range []int{benchContacts, benchAppointments + benchTasks} {
		ab, _, err := dc.EnsureAddressBook(ctx, homes, fmt.Sprintf("Floor %d", c))
		if err != nil {
			return err
		}
		for i := range n {
			uid := fmt.Sprintf("f0000000-0000-4000-8%03d-%012d", c, i)
			card := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:" + uid + "\r\nFN:Floor " + uid + "\r\nN:Floor;" + uid + ";;;\r\n" +
				"EMAIL:floor" + uid + "@customer.example\r\nEND:VCARD\r\n"
			if _, err := dc.Put(ctx, ab.Href+uid+".vcf", []byte(card), dav.AddressBook, ""); err != nil {
				return err
			}
		}
	}
	floor := time.Since(start)
	h.metric("floor_dav_put_all_items_s", floor.Seconds(), "s")
	h.metric("records_sync_first_pass_over_floor", first.Seconds()/floor.Seconds(), "ratio")
	return nil
}

// seedRecords creates the user's contacts, appointments and tasks through
// the Web API, eight at a time, and returns the contacts' IDs.
func seedRecords(ctx context.Context, c *crm.HTTPClient, userID string) ([]string, error) {
	now := time.Now().UTC().Truncate(time.Hour)
	type rec struct {
		set, key string
		body     map[string]any
	}
	var all []rec
	ids := make([]string, benchContacts)
	for i := range benchContacts {
		ids[i] = fmt.Sprintf("b0000000-0000-4000-8000-%012d", i)
		all = append(all, rec{"contacts", "contactid", map[string]any{
			"contactid": ids[i], "firstname": fmt.Sprintf("Bench%04d", i), "lastname": "Contact",
			"emailaddress1": fmt.Sprintf("bench%04d@customer.example", i), "telephone1": fmt.Sprintf("+1 425 555 %04d", i),
			"jobtitle": "Buyer",
		}})
	}
	for i := range benchAppointments {
		start := now.Add(time.Duration(i%60*24+9) * time.Hour)
		all = append(all, rec{"appointments", "activityid", map[string]any{
			"subject": fmt.Sprintf("Bench meeting %d", i), "location": "Room 4", "description": "Agenda: pricing, delivery.",
			"scheduledstart": start.Format(time.RFC3339), "scheduledend": start.Add(time.Hour).Format(time.RFC3339),
			"appointment_activity_parties": []map[string]any{
				{"participationtypemask": 7, "partyid_systemuser@odata.bind": "/systemusers(" + userID + ")"},
				{"participationtypemask": 5, "partyid_contact@odata.bind": "/contacts(" + ids[i] + ")"},
			},
		}})
	}
	for i := range benchTasks {
		all = append(all, rec{"tasks", "activityid", map[string]any{
			"subject": fmt.Sprintf("Bench follow-up %d", i), "description": "Send the quote.",
			"scheduledend": now.Add(time.Duration(i%30*24) * time.Hour).Format(time.RFC3339),
		}})
	}
	work := make(chan rec)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if _, _, err := c.CreateRow(ctx, r.set, r.key, r.body); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range all {
		work <- r
	}
	close(work)
	wg.Wait()
	return ids, firstErr
}

// editOneCard changes the job title in the card of a contact, as an
// address book app does (PUT with If-Match).
func editOneCard(ctx context.Context, dc *dav.Client, id string) error {
	homes, err := dc.Discover(ctx)
	if err != nil {
		return err
	}
	for _, ab := range homes.AddressBooks {
		if ab.Name != records.DefaultAddressBook {
			continue
		}
		href := ab.Href + "crm-" + id + ".vcf"
		objs, err := dc.Get(ctx, ab.Href, dav.AddressBook, []string{href})
		if err != nil || len(objs) != 1 {
			return fmt.Errorf("read the card of %s: %v", id, err)
		}
		text := strings.Replace(string(objs[0].Data), "TITLE:Buyer", "TITLE:Chief Buyer", 1)
		_, err = dc.Put(ctx, href, []byte(text), dav.AddressBook, objs[0].ETag)
		return err
	}
	return fmt.Errorf("no address book %q", records.DefaultAddressBook)
}
