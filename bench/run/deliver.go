package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// mail is one message a benchmark delivers.
type mail struct {
	from, to, subject string
	id                string // Message-ID without angle brackets
}

// contacts are demo contacts: CheckIncomingEmail finds the sender, so
// mail from them is tracked under the "mail from CRM records" scope.
var contacts = []string{"Maria Campbell <maria.campbell@contoso.example>", "Thomas Andersen <thomas.andersen@contoso.example>",
	"Yvonne McKay <yvonne.mckay@fabrikam.example>", "Rene Valdes <rene.valdes@tailspin.example>",
	"Susan Burk <susan.burk@example.com>"}

// trackedMail returns n messages from contacts to "to", with Message-IDs
// "<prefix>-<i>@bench.example".
func trackedMail(n int, prefix, to string) []mail {
	out := make([]mail, n)
	for i := range out {
		out[i] = mail{from: contacts[i%len(contacts)], to: to, subject: fmt.Sprintf("Order %s %d", prefix, i),
			id: fmt.Sprintf("%s-%06d@bench.example", prefix, i)}
	}
	return out
}

// ids lists the Message-IDs of ms.
func ids(ms []mail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}

// deliver writes ms into the Maildir as a delivery agent does: each file
// complete in tmp/, then renamed into new/, burst messages at a time
// with every between bursts. It returns when each was renamed, by
// Message-ID: the arrival the latencies start from.
func deliver(ctx context.Context, mdir string, ms []mail, burst int, every time.Duration) (map[string]time.Time, error) {
	at := make(map[string]time.Time, len(ms))
	now := time.Now()
	next := now
	for start := 0; start < len(ms); start += burst {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		next = next.Add(every)
		end := min(start+burst, len(ms))
		names := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			m := ms[i]
			name := fmt.Sprintf("%d.M%dP%d.%s", now.Unix(), i, os.Getpid(), m.id[:len(m.id)-len("@bench.example")])
			if err := os.WriteFile(filepath.Join(mdir, "tmp", name), messageTo(m.from, m.to, m.subject, m.id, now, 4096), 0o600); err != nil {
				return nil, err
			}
			names = append(names, name)
		}
		for j, name := range names {
			t0 := time.Now()
			if err := os.Rename(filepath.Join(mdir, "tmp", name), filepath.Join(mdir, "new", name)); err != nil {
				return nil, err
			}
			at[ms[start+j].id] = t0
		}
	}
	return at, nil
}

// place writes ms straight into new/, before any agent looks: a backlog.
func place(mdir string, ms []mail) error {
	now := time.Now()
	for i, m := range ms {
		name := fmt.Sprintf("%d.M%dP%d.backlog", now.Unix(), i, os.Getpid())
		if err := os.WriteFile(filepath.Join(mdir, "new", name), messageTo(m.from, m.to, m.subject, m.id, now, 4096), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// latencies returns, for each message completed, the time from its
// arrival to its completion in the CRM.
func latencies(arrived, completed map[string]time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(arrived))
	for id, t0 := range arrived {
		if t1, ok := completed[id]; ok {
			out = append(out, t1.Sub(t0))
		}
	}
	return out
}

// countDone counts the ids of want in done.
func countDone(want []string, done map[string]time.Time) int {
	n := 0
	for _, id := range want {
		if _, ok := done[id]; ok {
			n++
		}
	}
	return n
}
