package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"crmsync/agent"
	"crmsync/agent/engine"
	"crmsync/agent/imap/imaptest"
)

// imapArrivals is how many messages the IMAP arrival measurement sends,
// one at a time: Dovecot announces a change to an IDLE client half a
// second after it (a fixed delay in its mailbox watcher, which gathers
// changes), so arrivals closer together would share one announcement.
const imapArrivals = 60

// imapArrival measures an IMAP account's arrival-to-decision latency: a
// private Dovecot (plaintext on loopback, as imap://alice@127.0.0.1:PORT
// reaches it) and alice's engine watching its INBOX through IDLE, in
// this process as the Maildir step runs it, against the local CRM in its
// own. Each message is APPENDed, and timed from the APPEND's completion
// to the decision the engine publishes. The floor is measured on the same
// APPENDs: a bare go-imap client in IDLE on the same INBOX, timed from
// the APPEND's completion to its EXISTS. That floor holds Dovecot's own
// half-second notification delay, so the agent's share is reported too:
// from the bare client's EXISTS to the decision, message by message.
func (h *harness) imapArrival(ctx context.Context) error {
	dir := filepath.Join(h.tmp, "imap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	srv, err := imaptest.Launch(dir, imaptest.NoTLS())
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()

	acct := srv.Account(imaptest.UserAlice, agent.SecuritySTARTTLS) // no STARTTLS offered: plaintext on loopback
	r, err := h.startIMAPEngine(ctx, filepath.Join(dir, "agent"), acct, srv.Password(imaptest.UserAlice), c.url)
	if err != nil {
		return err
	}
	defer r.stop()
	if err := r.waitOnline(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decided := decisions(sctx, r.e)

	exists := make(chan time.Time, 16)
	floor, err := srv.DialWith(imaptest.UserAlice, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case exists <- time.Now():
				default:
				}
			}
		},
	}})
	if err != nil {
		return err
	}
	defer floor.Close()
	if _, err := floor.Select("INBOX", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return err
	}
	idle, err := floor.Idle()
	if err != nil {
		return err
	}
	defer idle.Close()
	appender, err := srv.Dial(imaptest.UserAlice)
	if err != nil {
		return err
	}
	defer appender.Close()

	now := time.Now()
	send := func(i int) (time.Time, string, error) {
		subject := fmt.Sprintf("IMAP arrival %d", i)
		raw := message(contacts[i%len(contacts)], subject, fmt.Sprintf("imap-arrival-%06d@bench.example", i), now, 2048)
		cmd := appender.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			return time.Time{}, "", err
		}
		if err := cmd.Close(); err != nil {
			return time.Time{}, "", err
		}
		if _, err := cmd.Wait(); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), subject, nil
	}
	// The first message warms the path up (connections, first listing)
	// and is not counted.
	var lat, flo, past []time.Duration
	for i := -1; i < imapArrivals; i++ {
		t0, subject, err := send(i + 1)
		if err != nil {
			return fmt.Errorf("APPEND: %w", err)
		}
		var seen, done time.Time
		deadline := time.After(30 * time.Second)
		for seen.IsZero() || done.IsZero() {
			select {
			case at := <-exists:
				seen = at
			case d := <-decided:
				if d.subject == subject {
					done = d.at
				}
			case <-deadline:
				return fmt.Errorf("message %d: no decision (or no EXISTS to the bare client) within 30 s", i+1)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if i < 0 {
			continue
		}
		lat = append(lat, done.Sub(t0))
		flo = append(flo, seen.Sub(t0))
		past = append(past, done.Sub(seen))
	}
	h.metric("imap_arrival_to_decision_p99_ms", ms(percentile(lat, 99)), "ms")
	h.metric("imap_arrival_to_decision_p50_ms", ms(percentile(lat, 50)), "ms")
	h.metric("floor_imap_idle_exists_p99_ms", ms(percentile(flo, 99)), "ms")
	h.metric("floor_imap_idle_exists_p50_ms", ms(percentile(flo, 50)), "ms")
	h.metric("imap_arrival_to_decision_p99_over_floor_p99", float64(percentile(lat, 99))/float64(percentile(flo, 99)), "ratio")
	h.metric("imap_decision_after_exists_p99_ms", ms(percentile(past, 99)), "ms")
	h.metric("imap_decision_after_exists_p50_ms", ms(percentile(past, 50)), "ms")
	return nil
}

// decision is one decision the engine published: the message's subject
// (the bench's messages are told apart by it) and when.
type decision struct {
	subject string
	at      time.Time
}

// decisions forwards, until ctx ends, the first event of each message the
// engine decides, timed on arrival.
func decisions(ctx context.Context, e *engine.Engine) <-chan decision {
	events := e.Subscribe(ctx)
	out := make(chan decision, 64)
	go func() {
		for ev := range events {
			if ev.Item == nil || ev.Item.Track == agent.Tracked || !strings.HasPrefix(ev.Item.Subject, "IMAP arrival") {
				continue
			}
			select {
			case out <- decision{ev.Item.Subject, time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// startIMAPEngine starts alice's engine on the IMAP account a, its cache
// in dir, signed in to the CRM.
func (h *harness) startIMAPEngine(ctx context.Context, dir string, a agent.IMAPAccount, password, crmURL string) (*rig, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := agent.Settings{ConnectionEnabled: true, IMAP: a, AutoTrack: agent.TrackFromCRMRecords}
	return h.runEngine(ctx, dir, s, benchPasswords(password), crmURL, "alice@demo.local", "demo-alice")
}

// benchPasswords gives the engine the mail password for this run, as
// --password-stdin does, without a keychain.
type benchPasswords string

// MailPassword returns the password, whatever the account.
func (p benchPasswords) MailPassword(context.Context, string) (string, error) { return string(p), nil }

// SaveMailPassword keeps nothing: the password is the run's.
func (p benchPasswords) SaveMailPassword(context.Context, string, string) error { return nil }
