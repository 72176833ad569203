package dav

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"crmsync/agent/internal/transport"
)

// Step is one stage of a connection test, as the settings window shows
// it: OK or not, maybe with a warning, and a sentence a user can act on.
type Step struct {
	Name    string
	OK      bool
	Warning bool // OK, but something works less well than it could
	Detail  string
}

// The names of Probe's steps, in order. StepAddress appears only when
// the account itself is not usable.
const (
	StepAddress      = "Address"
	StepDNS          = "DNS"
	StepConnect      = "Connect"
	StepTLS          = "TLS"
	StepLogin        = "Login"
	StepPrincipal    = "Principal"
	StepAddressBooks = "Address book home"
	StepCalendars    = "Calendar home"
	StepSync         = "Sync"
)

// probeTimeout bounds a connection test whose context has no deadline.
const probeTimeout = 30 * time.Second

// Probe is the settings window's "Test connection": it looks the server
// up, connects, secures the connection, signs in, finds the principal
// and the address book and calendar homes, and checks that the server
// offers sync-collection. It stops at the first step that fails, so the
// last Step says what to fix. Nothing is written to the server.
func Probe(ctx context.Context, acct Account, password string, opts Options) []Step {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	var steps []Step
	add := func(name string, err error, detail string) bool {
		if err != nil {
			steps = append(steps, Step{Name: name, Detail: sentence(err)})
			return false
		}
		steps = append(steps, Step{Name: name, OK: true, Detail: detail})
		return true
	}
	c, err := New(acct, password, opts)
	if err != nil {
		add(StepAddress, err, "")
		return steps
	}
	u, _ := url.Parse(acct.URL) // New parsed it already
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[c.base.Scheme]
	}
	addr := net.JoinHostPort(host, port)
	if net.ParseIP(host) != nil || transport.IsLoopback(host) {
		add(StepDNS, nil, host+" needs no lookup")
	} else {
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			add(StepDNS, errors.New(netSentence(err)), "")
			return steps
		}
		add(StepDNS, nil, host+" is "+strings.Join(ips, ", "))
	}
	conn, err := (&net.Dialer{Timeout: DefaultTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		add(StepConnect, errors.New(connectSentence(addr, err)), "")
		return steps
	}
	add(StepConnect, nil, "the server answers at "+addr)
	if !probeTLS(ctx, conn, c.base.Scheme, acct.CAFile, host, add) {
		return steps
	}
	if _, _, err := c.propfind(ctx, c.start, "0", `<D:current-user-principal/>`, true); err != nil {
		add(StepLogin, err, "")
		return steps
	}
	add(StepLogin, nil, "signed in as "+acct.Username)
	p, err := c.findPrincipal(ctx)
	if !add(StepPrincipal, err, "the user's principal is "+p.href) {
		return steps
	}
	if p, err = c.completeHomes(ctx, p); err != nil {
		add(StepAddressBooks, err, "")
		return steps
	}
	if p.cardHome == "" {
		add(StepAddressBooks, errors.New("the server offers no address books (CardDAV) to this user, so contacts cannot be kept in step; check the address"), "")
	} else {
		add(StepAddressBooks, nil, "address books live under "+p.cardHome)
	}
	if p.calHome == "" {
		add(StepCalendars, errors.New("the server offers no calendars (CalDAV) to this user, so appointments and tasks cannot be kept in step; check the address"), "")
	} else {
		add(StepCalendars, nil, "calendars live under "+p.calHome)
	}
	if p.cardHome == "" && p.calHome == "" {
		return steps
	}
	h := Homes{Principal: p.href, AddressBookHome: p.cardHome, CalendarHome: p.calHome}
	if err := c.listHomes(ctx, &h); err != nil {
		add(StepSync, err, "")
		return steps
	}
	steps = append(steps, syncStep(h))
	return steps
}

// probeTLS runs the TLS step on conn, which it closes: a handshake for
// https://, a note for plain http:// (allowed to this computer only).
func probeTLS(ctx context.Context, conn net.Conn, scheme, caFile, host string, add func(string, error, string) bool) bool {
	defer conn.Close()
	if scheme != "https" {
		return add(StepTLS, nil, "not encrypted, which is allowed only because the server is on this computer")
	}
	roots, err := transport.Roots(caFile)
	if err != nil {
		return add(StepTLS, err, "")
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		return add(StepTLS, errors.New(netSentence(err)), "")
	}
	return add(StepTLS, nil, "the connection is encrypted with "+tls.VersionName(tc.ConnectionState().Version)+" and the certificate is trusted")
}

// syncStep says whether the collections offer sync-collection, which
// RFC 6578 ties to their having a DAV:sync-token.
func syncStep(h Homes) Step {
	cols := append(append([]Collection(nil), h.AddressBooks...), h.Calendars...)
	if len(cols) == 0 {
		return Step{Name: StepSync, OK: true, Warning: true,
			Detail: "there is no address book or calendar yet; sync support is checked once the first one is made"}
	}
	for _, col := range cols {
		if col.SyncToken == "" {
			return Step{Name: StepSync, OK: true, Warning: true,
				Detail: "the server does not offer sync-collection for " + col.Href + "; changes are found by listing every item, which is slower"}
		}
	}
	return Step{Name: StepSync, OK: true, Detail: "the server reports changes with sync-collection"}
}

// connectSentence says why a TCP connection failed.
func connectSentence(addr string, err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "the server at " + addr + " did not answer in time; check the server name, the port and your network"
	}
	return "could not connect to " + addr + "; check the server name and port, and that the server is running"
}

// sentence is an error as a Step shows it, without the package prefix.
func sentence(err error) string {
	return strings.TrimPrefix(err.Error(), "dav: ")
}
