package outgoing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/agent/cache"
	"crmsync/agent/compose"
	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
	"crmsync/agent/smtp"
	"crmsync/agent/smtp/smtptest"
)

// rig is the local CRM with the demo data, a real Postfix that delivers
// every message to one Maildir, alice's Maildir (its .Sent is the Sent
// folder) and her cache file.
type rig struct {
	t     *testing.T
	crm   *localcrm.Server
	url   string
	mta   *smtptest.Server
	mdir  string
	dir   string
	store *cache.Store
	alice *crm.HTTPClient
	id    string // alice's systemuserid
}

func newRig(t *testing.T, opts ...smtptest.Option) *rig {
	t.Helper()
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(srv.ServeHTTP))
	t.Cleanup(func() { ts.Close(); srv.Close() })
	r := &rig{t: t, crm: srv, url: ts.URL, mta: smtptest.Start(t, opts...), dir: t.TempDir()}
	r.mdir = filepath.Join(r.dir, "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(r.mdir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	r.alice = r.client("alice@demo.local", "demo-alice")
	id, err := srv.UserID("alice@demo.local")
	if err != nil {
		t.Fatal(err)
	}
	r.id = strings.ToLower(id)
	r.reopen()
	return r
}

func (r *rig) client(user, pw string) *crm.HTTPClient {
	r.t.Helper()
	c, err := crm.New(crm.Config{URL: r.url})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.SignIn(context.Background(), user, pw); err != nil {
		r.t.Fatal(err)
	}
	return c
}

// reopen opens the cache again, as a restarted agent does.
func (r *rig) reopen() {
	r.t.Helper()
	if r.store != nil {
		r.store.Close()
	}
	st, err := cache.Open(filepath.Join(r.dir, "cache.db"), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = st
	r.t.Cleanup(func() { st.Close() })
}

// worker makes a Worker for alice; mod adjusts its options.
func (r *rig) worker(mod ...func(*Options)) *Worker {
	r.t.Helper()
	sent := maildir.New(maildir.Options{Root: r.mdir})
	acct := r.mta.Account("")
	o := Options{
		CRM:  func() (CRM, error) { return r.alice, nil },
		Sent: func() (Sent, error) { return sent, nil },
		Submit: func(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
			return smtp.Send(ctx, acct, smtp.Options{}, from, rcpts, msg)
		},
		Store: r.store, From: compose.Address{Name: "Alice Martin", Addr: "alice@demo.local"}, UserID: r.id,
	}
	for _, m := range mod {
		m(&o)
	}
	w, err := New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pending lists alice's pending emails as the CRM has them now.
func (r *rig) pending() []crm.OutgoingEmail {
	r.t.Helper()
	es, err := r.alice.PendingEmails(ctxT(r.t))
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

// status reads an email's statuscode and messageid.
func (r *rig) status(id string) (int, string) {
	r.t.Helper()
	e, err := r.alice.OutgoingEmail(ctxT(r.t), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return e.Status, e.MessageID
}

// sentCopies counts the messages in alice's Sent folder.
func (r *rig) sentCopies() int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		es, _ := os.ReadDir(filepath.Join(r.mdir, maildir.SentFolder, sub))
		n += len(es)
	}
	return n
}

// TestSendsPendingEmail: alice's Pending Send emails go out through the
// mail server with their parties, body and attachment and a Message-ID
// that is then the activity's; a copy is in her Sent folder; they are
// Sent in the CRM; bob's pending email is not sent.
func TestSendsPendingEmail(t *testing.T) {
	r := newRig(t)
	pending := r.pending()
	if len(pending) != 2 {
		t.Fatalf("alice has %d pending emails, want the seed's 2", len(pending))
	}
	rep, err := r.worker().Pass(ctxT(t))
	if err != nil || rep.Sent != 2 || rep.Failed != 0 {
		t.Fatalf("pass: %+v, %v", rep, err)
	}
	// Postfix delivers one copy per recipient: count messages by ID.
	byID := r.waitMessages(2)
	for _, e := range pending {
		status, mid := r.status(e.ID)
		if status != crm.EmailSent || mid == "" {
			t.Fatalf("email %q: status %d, messageid %q; want Sent with a Message-ID", e.Subject, status, mid)
		}
		m, ok := byID["<"+strings.Trim(mid, "<>")+">"]
		if !ok {
			t.Fatalf("no delivered message has the activity's Message-ID %s", mid)
		}
		text := string(m)
		if !strings.Contains(text, "From: ") || !strings.Contains(text, "alice@demo.local") || strings.Contains(strings.ToLower(text), "\nbcc:") {
			t.Errorf("headers of %q:\n%s", e.Subject, text[:min(len(text), 800)])
		}
		body, err := outbox.ReadBody(strings.NewReader(text))
		if err != nil || body.Text == "" {
			t.Errorf("body of %q: %v %q", e.Subject, err, body.Text)
		}
		if e.HasAttachments && !strings.Contains(text, "quote.pdf") {
			t.Errorf("the attachment of %q was not sent", e.Subject)
		}
	}
	if n := r.sentCopies(); n != 2 {
		t.Errorf("the Sent folder holds %d copies, want 2", n)
	}
	// Nothing more to do, and bob's email is not alice's to send.
	rep, err = r.worker().Pass(ctxT(t))
	if err != nil || rep.Sent != 0 {
		t.Fatalf("second pass: %+v, %v", rep, err)
	}
	time.Sleep(300 * time.Millisecond) // time for a wrong third delivery to show
	if n := len(r.byMessageID()); n != 2 {
		t.Fatalf("%d messages delivered after a second pass, want still 2", n)
	}
	// bob's pending email stays pending: his mailbox is server-side sync,
	// and it is not alice's to send anyway.
	bob := r.client("bob@demo.local", "demo-bob")
	bobID, err := r.crm.UserID("bob@demo.local")
	if err != nil {
		t.Fatal(err)
	}
	mine, err := bob.RecentOutgoing(ctxT(t), strings.ToLower(bobID), time.Now().Add(-time.Hour))
	if err != nil || len(mine) != 1 || mine[0].Status != crm.EmailPendingSend {
		t.Fatalf("bob's outgoing email: %+v, %v; want one, still Pending Send", mine, err)
	}
	if es, err := bob.PendingEmails(ctxT(t)); err != nil || len(es) != 0 {
		t.Fatalf("BackgroundSendEmail gives bob %d emails (%v); want none, his mailbox is server-side sync", len(es), err)
	}
}

// byMessageID groups the delivered copies by Message-ID, keeping one.
func (r *rig) byMessageID() map[string][]byte {
	out := map[string][]byte{}
	for _, m := range r.mta.Delivered(r.t) {
		out[headerValue(m, "Message-Id")] = m
	}
	return out
}

// waitMessages waits until n distinct messages were delivered.
func (r *rig) waitMessages(n int) map[string][]byte {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := r.byMessageID()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				r.t.Fatalf("%d distinct messages delivered, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRefusedRecipientMarksFailed: a recipient the server refuses marks
// the email Failed, with the server's words in a note on it, and nothing
// of it is delivered; the other email goes out.
func TestRefusedRecipientMarksFailed(t *testing.T) {
	r := newRig(t, smtptest.RefuseRecipient("yvonne.mckay@fabrikam.example", "Mailbox disabled for this recipient"))
	rep, err := r.worker().Pass(ctxT(t))
	if err != nil || rep.Sent != 1 || rep.Failed != 1 {
		t.Fatalf("pass: %+v, %v", rep, err)
	}
	var failed crm.OutgoingEmail
	for _, e := range r.mustRecent() {
		if e.Status == crm.EmailFailed {
			failed = e
		}
	}
	if failed.ID == "" {
		t.Fatal("no email is Failed")
	}
	notes := r.notes(failed.ID)
	if !strings.Contains(notes, "Mailbox disabled for this recipient") {
		t.Fatalf("the note on the failed email does not carry the server's words: %q", notes)
	}
	// A retry from the CRM (or the items window) puts it back in Pending
	// Send; the server still refuses, so it fails again, with a second
	// note, and is never delivered.
	if err := r.alice.SendEmailAgain(ctxT(t), failed.ID); err != nil {
		t.Fatal(err)
	}
	rep, err = r.worker().Pass(ctxT(t))
	if err != nil || rep.Failed != 1 {
		t.Fatalf("retry pass: %+v, %v", rep, err)
	}
	r.waitMessages(1)
	time.Sleep(300 * time.Millisecond) // time for a wrong second delivery to show
	if n := len(r.byMessageID()); n != 1 {
		t.Fatalf("%d messages delivered, want 1", n)
	}
}

func (r *rig) mustRecent() []crm.OutgoingEmail {
	r.t.Helper()
	es, err := r.alice.RecentOutgoing(ctxT(r.t), r.id, time.Now().Add(-time.Hour))
	if err != nil {
		r.t.Fatal(err)
	}
	return es
}

// notes returns the text of the notes on an email.
func (r *rig) notes(id string) string {
	r.t.Helper()
	ns, err := r.alice.EmailNotes(ctxT(r.t), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.Join(ns, "\n")
}

// headerValue returns a header field of a raw message.
func headerValue(msg []byte, name string) string {
	for _, line := range strings.Split(string(msg), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// errCut stands for the process dying at that point.
var errCut = errors.New("cut")

// TestCutAtEachStepSendsOnce cuts a pass at each of its steps in turn (a
// test double for kill -9 at an exact point), then lets a restarted
// worker finish: every email is delivered at most once, and each ends
// Sent, or Failed with the explanation when the cut fell while it was
// being handed to the server.
func TestCutAtEachStepSendsOnce(t *testing.T) {
	for cut := 0; cut < 12; cut++ {
		t.Run(fmt.Sprint("cut ", cut), func(t *testing.T) {
			t.Parallel()
			r := newRig(t)
			pending := r.pending()
			var ops atomic.Int64
			gate := func() error {
				if ops.Add(1) > int64(cut) {
					return errCut
				}
				return nil
			}
			cutW := r.worker(func(o *Options) {
				submit := o.Submit
				o.Submit = func(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
					if err := gate(); err != nil {
						return "", err
					}
					ans, err := submit(ctx, from, rcpts, msg)
					if err == nil {
						if err := gate(); err != nil {
							return "", err // accepted, but the process "died" before it heard so
						}
					}
					return ans, err
				}
				o.Store = cutStore{r.store, gate}
			})
			_, cutErr := cutW.Pass(ctxT(t))
			r.reopen()
			if _, err := r.worker().Pass(ctxT(t)); err != nil {
				t.Fatalf("pass after the restart: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
			// Postfix files one copy per recipient: a message sent twice
			// shows as more copies of its ID than it has recipients.
			count := map[string]int{}
			for _, m := range r.mta.Delivered(t) {
				count[headerValue(m, "Message-Id")]++
			}
			copies := map[string]int{}
			for _, e := range pending {
				rc, err := r.alice.EmailRecipients(ctxT(t), e.ID)
				if err != nil {
					t.Fatal(err)
				}
				copies["<"+MessageID(e.ID, "alice@demo.local")+">"] = len(rc.To) + len(rc.Cc) + len(rc.Bcc)
			}
			for id, n := range count {
				if n > copies[id] {
					t.Errorf("%s was delivered %d times to %d recipients", id, n, copies[id])
				}
			}
			for _, e := range pending {
				status, _ := r.status(e.ID)
				if status != crm.EmailSent && status != crm.EmailFailed {
					t.Errorf("email %q ends in status %d after the restart (cut error %v)", e.Subject, status, cutErr)
				}
				if status == crm.EmailFailed && !strings.Contains(r.notes(e.ID), "may have gone out") {
					t.Errorf("email %q failed without the explanation", e.Subject)
				}
			}
		})
	}
}

// cutStore refuses writes once the gate closes.
type cutStore struct {
	Store
	gate func() error
}

func (s cutStore) PutOutgoing(ctx context.Context, o cache.Outgoing) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.Store.PutOutgoing(ctx, o)
}

// TestMeetingInvitations: an appointment alice organises with a contact
// as attendee, made after sending was switched on, gets an invitation
// (METHOD:REQUEST, the calendar item's UID) to the contact only; a pass
// with nothing changed sends nothing; a change sends the next SEQUENCE.
func TestMeetingInvitations(t *testing.T) {
	r := newRig(t)
	w := r.worker(func(o *Options) {
		o.Meetings = func() (Meetings, error) { return r.alice, nil }
		o.KV = r.store
	})
	if _, err := w.Pass(ctxT(t)); err != nil { // sends the seed's emails, and starts the invitations' clock
		t.Fatal(err)
	}
	before := len(r.waitMessages(2)) // the seed's two emails, delivered
	// Invitations count appointments changed from the second after
	// sending was switched on (the CRM keeps whole seconds).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Hour)
	maria := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	id, _, err := r.alice.CreateRow(ctxT(t), "appointments", "activityid", map[string]any{
		"subject": "Rollout planning", "location": "Contoso HQ", "description": "Agenda: the rollout.",
		"scheduledstart": start.Format(time.RFC3339), "scheduledend": start.Add(time.Hour).Format(time.RFC3339),
		"appointment_activity_parties": []map[string]any{
			{"participationtypemask": 7, "partyid_systemuser@odata.bind": "/systemusers(" + r.id + ")"},
			{"participationtypemask": 5, "partyid_contact@odata.bind": "/contacts(" + maria + ")"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := w.Pass(ctxT(t))
	if err != nil || rep.Invitations != 1 {
		t.Fatalf("pass: %+v, %v", rep, err)
	}
	msgs := r.waitMessages(before + 1)
	var invite []byte
	for mid, m := range msgs {
		if strings.Contains(mid, "crm.invite.") {
			invite = m
		}
	}
	if invite == nil {
		t.Fatal("no invitation delivered")
	}
	b, err := outbox.ReadBody(strings.NewReader(string(invite)))
	if err != nil || b.Invitation == nil {
		t.Fatalf("the invitation carries no meeting request: %v", err)
	}
	ics := string(b.Invitation)
	if !strings.Contains(ics, "METHOD:REQUEST") || !strings.Contains(ics, "UID:crm-"+id) || !strings.Contains(ics, "SEQUENCE:0") {
		t.Fatalf("meeting request:\n%s", ics)
	}
	if to := headerValue(invite, "Delivered-To"); !strings.Contains(to, "maria.campbell@contoso.example") {
		t.Errorf("delivered to %q, want Maria only", to)
	}
	// Nothing changed: nothing sent.
	if rep, err := w.Pass(ctxT(t)); err != nil || rep.Invitations != 0 {
		t.Fatalf("idle pass: %+v, %v", rep, err)
	}
	// A new time: the next sequence.
	if _, err := r.alice.UpdateRow(ctxT(t), "appointments", "activityid", id, 0, map[string]any{
		"scheduledstart": start.Add(time.Hour).Format(time.RFC3339), "scheduledend": start.Add(2 * time.Hour).Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	if rep, err := w.Pass(ctxT(t)); err != nil || rep.Invitations != 1 {
		t.Fatalf("pass after a change: %+v, %v", rep, err)
	}
	found := false
	for _, m := range r.waitMessages(before + 2) {
		if b, err := outbox.ReadBody(strings.NewReader(string(m))); err == nil && strings.Contains(string(b.Invitation), "SEQUENCE:1") {
			found = true
		}
	}
	if !found {
		t.Fatal("no invitation with SEQUENCE:1 after the change")
	}
}
