package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/crm/localcrm"
)

// demoCRM runs the local CRM with the demo seed on a free loopback port.
type demoCRM struct {
	srv  *localcrm.Server
	http *http.Server
	url  string
}

func startDemoCRM(dir string) (*demoCRM, error) {
	srv, err := localcrm.New(localcrm.Options{DataDir: dir})
	if err != nil {
		return nil, fmt.Errorf("demo CRM: %w", err)
	}
	if err := srv.SeedDemo(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("demo CRM: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("demo CRM: %w", err)
	}
	d := &demoCRM{srv: srv, http: &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}, url: "http://" + ln.Addr().String()}
	go d.http.Serve(ln)
	return d, nil
}

func (d *demoCRM) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.http.Shutdown(ctx)
	d.srv.Close()
}

// demoMessage is one sample message of the demo Maildir.
type demoMessage struct {
	folder, key, from, to, subject, id, inReplyTo string
	age                                           time.Duration
	body                                          string
	// meeting, when set, makes the message a meeting request for that
	// long after it was sent, as calendar apps send one.
	meeting time.Duration
}

// demoMessages exercise every state: tracked because the sender is a
// contact, tracked as a reply, tracked because a recipient of sent mail is
// an account, not tracked (no match, excluded, internal, too old), and a
// meeting request from a contact, tracked with its meeting.
var demoMessages = []demoMessage{
	{"", "demo-01", "Maria Campbell <maria.campbell@contoso.example>", "Alice Martin <alice@demo.local>",
		"Quote for 250 laptops", "demo-quote@contoso.example", "", 3 * time.Hour,
		"Hello Alice,\n\ncould you send us the quote for the 250 laptops we discussed?\n\nMaria", 0},
	{"", "demo-02", "Thomas Andersen <thomas.andersen@contoso.example>", "Alice Martin <alice@demo.local>",
		"Re: Quote for 250 laptops", "demo-quote-re@contoso.example", "demo-quote@contoso.example", 2 * time.Hour,
		"Adding myself: we need docking stations too.\n\nThomas", 0},
	{"", "demo-03", "Sam Stranger <sam@unknown.example>", "alice@demo.local",
		"Lunch on Friday?", "demo-lunch@unknown.example", "", 90 * time.Minute, "Are you free for lunch on Friday?", 0},
	{"", "demo-04", "Deals Weekly <noreply@newsletter.example>", "alice@demo.local",
		"Your weekly digest", "demo-digest@newsletter.example", "", time.Hour, "This week's deals.", 0},
	{"", "demo-05", "Bob Nguyen <bob@demo.local>", "Alice Martin <alice@demo.local>",
		"Pipeline review on Monday", "demo-pipeline@demo.local", "", 45 * time.Minute, "Let's go through the pipeline on Monday.", 0},
	{"", "demo-06", "Yvonne McKay <yvonne.mckay@fabrikam.example>", "alice@demo.local",
		"Order from last spring", "demo-old@fabrikam.example", "", 40 * 24 * time.Hour, "Following up on the spring order.", 0},
	{".Sent", "demo-07", "Alice Martin <alice@demo.local>", "Contoso <info@contoso.example>",
		"Proposal follow-up", "demo-proposal@demo.local", "", 30 * time.Minute, "Please find our proposal attached.", 0},
	{"", "demo-08", "Susan Burk <susan.burk@example.com>", "alice@demo.local",
		"Workshop agenda", "demo-agenda@example.com", "", 10 * time.Minute, "Here is the agenda for the workshop.", 0},
	{"", "demo-09", "Maria Campbell <maria.campbell@contoso.example>", "Alice Martin <alice@demo.local>",
		"Invitation: Delivery schedule review", "demo-invite@contoso.example", "", 5 * time.Minute,
		"Let us go through the new delivery dates.", 50 * time.Hour},
}

// demoExcluded and demoInternal are the demo's exclusion settings.
var (
	demoExcluded = []string{"@newsletter.example"}
	demoInternal = []string{"demo.local"}
)

// writeDemoMaildir creates the demo Maildir under dir with the samples;
// existing files are left alone so a restart keeps the same messages.
func writeDemoMaildir(dir string, now time.Time) error {
	for _, f := range []string{"", ".Sent"} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, f, sub), 0o700); err != nil {
				return fmt.Errorf("demo Maildir: %w", err)
			}
		}
	}
	for _, m := range demoMessages {
		when := now.Add(-m.age)
		name := fmt.Sprintf("%d.%s.crmsync-demo", when.Unix(), m.key)
		if existing, _ := filepath.Glob(filepath.Join(dir, m.folder, "*", "*."+m.key+".crmsync-demo*")); len(existing) > 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n", m.from, m.to, m.subject, m.id, when.Format(time.RFC1123Z))
		if m.inReplyTo != "" {
			fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", m.inReplyTo, m.inReplyTo)
		}
		if m.meeting > 0 {
			writeDemoInvitation(&b, m, when)
		} else {
			fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", strings.ReplaceAll(m.body, "\n", "\r\n"))
		}
		tmp := filepath.Join(dir, m.folder, "tmp", name)
		if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
			return fmt.Errorf("demo Maildir: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, m.folder, "new", name)); err != nil {
			return fmt.Errorf("demo Maildir: %w", err)
		}
	}
	return nil
}

// writeDemoInvitation writes the body of a meeting request: the text and
// the iCalendar request, as Outlook sends them.
func writeDemoInvitation(b *strings.Builder, m demoMessage, sent time.Time) {
	start := sent.Add(m.meeting).UTC().Truncate(time.Hour)
	const stamp = "20060102T150405Z"
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"demo-invite\"\r\n\r\n")
	fmt.Fprintf(b, "--demo-invite\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", m.body)
	b.WriteString("--demo-invite\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n")
	fmt.Fprintf(b, "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:-//crmsync demo//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"+
		"UID:%s\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:Delivery schedule review\r\nLOCATION:Contoso HQ\r\n"+
		"DESCRIPTION:%s\r\nORGANIZER;CN=Maria Campbell:mailto:maria.campbell@contoso.example\r\n"+
		"ATTENDEE;ROLE=REQ-PARTICIPANT;CN=Alice Martin:mailto:alice@demo.local\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		m.id, sent.UTC().Format(stamp), start.Format(stamp), start.Add(time.Hour).Format(stamp), m.body)
	b.WriteString("--demo-invite--\r\n")
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// memorySecrets holds the demo's sign-in in memory: the demo never
// touches the user's keychain.
type memorySecrets struct {
	mu sync.Mutex
	c  agent.Credentials // guarded by mu
}

func (m *memorySecrets) Load(context.Context) (agent.Credentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c.CRMURL == "" {
		return agent.Credentials{}, agent.ErrNoCredentials
	}
	return m.c, nil
}

func (m *memorySecrets) Save(_ context.Context, c agent.Credentials) error {
	m.mu.Lock()
	m.c = c
	m.mu.Unlock()
	return nil
}

func (m *memorySecrets) Delete(context.Context) error {
	m.mu.Lock()
	m.c = agent.Credentials{}
	m.mu.Unlock()
	return nil
}
