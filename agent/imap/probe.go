package imap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
)

// probeTimeout bounds a connection test whose context has no deadline.
const probeTimeout = 30 * time.Second

// Probe is the settings window's "test connection": it looks the server
// up, connects, secures the connection, signs in with password and lists
// the mailboxes, and reports in a's MailReport which step failed, in
// words that say what to do. A server without IDLE is reported in Idle,
// which is not a failure. Latency is the round trip of one NOOP after
// signing in. Nothing is fetched and nothing is kept.
func Probe(ctx context.Context, a agent.IMAPAccount, password string) agent.MailReport {
	var r agent.MailReport
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	switch {
	case a.Host == "":
		r.DNS = errors.New("no server name is set")
		return r
	case a.Security == agent.SecurityNone && !transport.IsLoopback(a.Host):
		r.TLS = fmt.Errorf("%w: a server that is not on this computer must be reached with TLS or STARTTLS, or the password would cross the network readable", ErrTLS)
		return r
	}
	cfg, err := tlsConfig(a)
	if err != nil {
		r.TLS = err
		return r
	}
	if net.ParseIP(strings.Trim(a.Host, "[]")) == nil && !transport.IsLoopback(a.Host) {
		if _, err := net.DefaultResolver.LookupHost(ctx, a.Host); err != nil {
			r.DNS = classifyDial(a.Addr(), err)
			return r
		}
	}
	d := dialer{a: a, tls: cfg, password: password, timeout: DefaultDialTimeout}
	c, err := d.open(ctx, nil)
	if err != nil {
		var se *stepError
		switch {
		case !errors.As(err, &se):
			r.Connect = err
		case se.step == stepDNS:
			r.DNS = err
		case se.step == stepTLS:
			r.TLS = err
		default:
			r.Connect = err
		}
		return r
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := d.login(ctx, c); err != nil {
		r.Login = err
		return r
	}
	caps := c.Caps()
	if !caps.Has(goimap.CapIdle) && !caps.Has(goimap.CapIMAP4rev2) {
		r.Idle = fmt.Errorf("the server does not offer IDLE; new mail will be found by checking every %s", durationWords(DefaultPoll))
	}
	start := time.Now()
	if err := c.Noop().Wait(); err != nil {
		r.Connect = fmt.Errorf("the connection broke after signing in: %w", err)
		return r
	}
	r.Latency = time.Since(start)
	boxes, err := list(c)
	if err != nil {
		r.Connect = fmt.Errorf("the mailboxes could not be listed: %w", err)
		return r
	}
	for _, b := range boxes {
		if !b.noSelect {
			r.Folders++
		}
	}
	_ = c.Logout().Wait()
	return r
}

// durationWords says d as a person would: "30 seconds", "2 minutes".
func durationWords(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		if d == time.Minute {
			return "minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return fmt.Sprintf("%d seconds", d/time.Second)
}
