package imap

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent/imap/imaptest"
	"crmsync/agent/internal/corpus"
	"crmsync/agent/maildir"
	"crmsync/agent/outbox"
)

// Every message of the corpus, appended to a running Source's INBOX, is
// either parsed or refused with a reason (by the server's APPEND, or by
// the header parser), never a crash or a hang; the header fields parse
// as the Maildir source parses the whole file; Body yields text the
// outbox can read.
func TestCorpus(t *testing.T) {
	t.Parallel()
	files := corpus.Files(t)
	srv := imaptest.Start(t)
	s := newSource(t, srv)
	r := start(t, s)
	listed(t, s, r, 2)

	// Read envelopes while the mail arrives, as the engine's deciders do,
	// so that fetching on demand runs alongside the Source's own syncs.
	stop := make(chan struct{})
	readers := make(chan struct{})
	go func() {
		defer close(readers)
		asked := map[string]bool{}
		for {
			for _, c := range r.all() {
				if c.Kind == maildir.Added && !asked[string(c.Key)] {
					asked[string(c.Key)] = true
					s.envs.drop(c.Key) // force a fetch
					s.Envelope(c.Key)
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	byUID := map[goimap.UID]string{}
	refusedByServer := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		uid, err := srv.AppendMessage(imaptest.UserAlice, "INBOX", raw)
		if err != nil {
			refusedByServer++
			t.Logf("%s: refused by the server: %v", filepath.Base(f), err)
			continue
		}
		byUID[uid] = f
	}
	cs := r.wait(t, "every appended message", atLeast(len(byUID), maildir.Added, "INBOX"))
	close(stop)
	<-readers
	validity := validityOf(t, srv, "INBOX")
	parsed, refused, differ := 0, 0, 0
	for uid, f := range byUID {
		name := filepath.Base(f)
		k := Key([]byte("test salt"), "INBOX", validity, uid)
		if _, ok := s.Folder(k); !ok {
			t.Errorf("%s: UID %d was not reported", name, uid)
			continue
		}
		env, err := within(t, name, func() (maildir.Envelope, error) { return s.Envelope(k) })
		if err != nil {
			if errors.Is(err, ErrOffline) || errors.Is(err, maildir.ErrGone) {
				t.Errorf("%s: %v", name, err)
			}
			refused++
			t.Logf("%s: refused: %v", name, err)
			continue
		}
		parsed++
		want, werr := parseFile(f)
		same := werr == nil && sameEnvelope(env, want)
		if reason, expected := parsedDifferently[name]; expected == same {
			if same {
				t.Errorf("%s parses alike over IMAP now; remove it from parsedDifferently (%s)", name, reason)
			} else {
				t.Errorf("%s: the header fields parse differently from the file:\n  imap    %+v\n  maildir %+v %v", name, env, want, werr)
			}
		}
		if !same {
			differ++
		}
		if _, err := within(t, name+" body", func() (string, error) {
			b, err := s.Body(k)
			if err != nil {
				return "", err
			}
			defer b.Close()
			text, _, err := outbox.BodyText(b)
			return text, err
		}); err != nil {
			t.Errorf("%s: Body: %v", name, err)
		}
	}
	t.Logf("%d files: %d refused by the server, %d parsed, %d refused by the parser, %d parsed differently; %d changes",
		len(files), refusedByServer, parsed, refused, differ, len(cs))
	if parsed+refused != len(byUID) {
		t.Errorf("%d parsed + %d refused != %d appended", parsed, refused, len(byUID))
	}
}

// parsedDifferently are the corpus files whose envelope over IMAP is not
// the one the Maildir source reads from the file, and why. The server
// picks the header fields, by its own reading of the header.
var parsedDifferently = map[string]string{
	// The file starts with a byte order mark, so its first field is not
	// "From" to the server.
	"mimekit-feedback-report.eml": "BOM before the first field",
	// "From" folded before its colon: the server does not take it for a
	// From field, the Maildir parser takes the first one.
	"rspamd-phish_sender2.eml": "field name folded before the colon",
	// No header at all: the Maildir parser refuses the file, the server
	// answers no fields, which reads as a message without them.
	"letters-test_english_empty.eml":      "no header (starts with an empty line)",
	"spamassassin-spam-bsmtpnull.eml":     "empty file",
	"enmime-erroneous.eml":                "no header",
	"mime4j-malformedHeader-noheader.eml": "no header",
	"spamscope-mail_outlook_1.eml":        "no header (binary)",
}

// within runs f, failing the test if it takes longer than waitFor: a hang
// is a failure, not a timeout of the whole run.
func within[T any](t testing.TB, what string, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(waitFor):
		t.Fatalf("%s: no answer within %s", what, waitFor)
		var zero T
		return zero, nil
	}
}

// parseFile parses the header of a message file as the Maildir source does.
func parseFile(path string) (maildir.Envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return maildir.Envelope{}, err
	}
	defer f.Close()
	return maildir.ParseHeader(io.Reader(f))
}

// sameEnvelope compares what a decision uses. A synthetic Message-ID of
// a message without any of the fields it is made from cannot be the
// same: the Maildir source hashes the rest of the header instead, which
// is never fetched over IMAP.
func sameEnvelope(a, b maildir.Envelope) bool {
	if a.Synthetic && b.Synthetic && a.From.Addr == "" && len(a.To) == 0 && len(a.Cc) == 0 && a.Subject == "" && a.Date.IsZero() {
		a.MessageID = b.MessageID
	}
	addrs := func(as []maildir.Address) string {
		var s []string
		for _, a := range as {
			s = append(s, a.Addr)
		}
		return strings.Join(s, ",")
	}
	return a.MessageID == b.MessageID && a.From.Addr == b.From.Addr && a.Subject == b.Subject &&
		addrs(a.To) == addrs(b.To) && addrs(a.Cc) == addrs(b.Cc) && a.InReplyTo == b.InReplyTo
}
