package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
)

// Defaults for the zero values of Options.
const (
	DefaultPoll        = 30 * time.Second
	DefaultIdleRestart = 25 * time.Minute
	DefaultDialTimeout = 20 * time.Second
	// MaxIdleRestart is the longest IdleRestart allowed: RFC 9051 lets a
	// server drop a client idle for 30 minutes, and some do at 29.
	MaxIdleRestart = 29 * time.Minute
)

// Options configure a Source.
type Options struct {
	// Account is the mail account.
	Account agent.IMAPAccount
	// Password signs in with LOGIN (or AUTHENTICATE PLAIN where LOGIN is
	// disabled); "" when Token is set.
	Password string
	// Token, when set, returns an OAuth access token and the Source signs
	// in with SASL XOAUTH2 instead of the password (Microsoft 365, Gmail).
	Token func(ctx context.Context) (string, error)
	// Salt is mixed into every message key, so that keys say nothing
	// about mailbox names to whoever reads the agent's store.
	Salt []byte
	// Folders are the mailboxes watched besides INBOX and the \Sent one,
	// as the server names them, separator included ("INBOX/Contoso").
	Folders []string
	// Logger receives operational logs: keys, UIDs and counts, never
	// addresses, subjects or mailbox names. Nil discards them.
	Logger *slog.Logger
	// Poll is how often mailboxes without an IDLE connection are checked;
	// zero means DefaultPoll.
	Poll time.Duration
	// IdleRestart is how long one IDLE command runs before it is renewed;
	// zero means DefaultIdleRestart. It must be below MaxIdleRestart.
	IdleRestart time.Duration
	// Since limits the header prefetch of the first listing: messages
	// received before it are reported, but their header fields are read
	// only when asked for. The zero time prefetches every message, up to
	// the envelope cache's size.
	Since time.Time
	// DialTimeout bounds connecting and signing in; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
}

// CheckAccount refuses an account that cannot be right, with a sentence
// saying what to change. It refuses an unencrypted connection
// (SecurityNone) to anything but this computer, because the password
// would cross the network in clear text. The settings check an account
// with it before saving; New checks again.
func CheckAccount(a agent.IMAPAccount) error {
	switch {
	case a.Host == "":
		return errors.New("the account has no server name")
	case strings.ContainsAny(a.Host, " /\\@") || (strings.Contains(a.Host, ":") && net.ParseIP(strings.Trim(a.Host, "[]")) == nil):
		return fmt.Errorf("%q is not a server name; enter just the name, like imap.example.com", a.Host)
	case a.Username == "":
		return errors.New("the account has no user name")
	case a.Port < 0 || a.Port > 65535:
		return fmt.Errorf("port %d is not a port number; leave it empty for the usual one", a.Port)
	case a.Security == agent.SecurityNone && !transport.IsLoopback(a.Host):
		return errors.New("refusing to sign in without TLS to a server that is not on this computer: " +
			"the password would cross the network readable by anyone on the way; use imaps:// or STARTTLS")
	case a.Security != agent.SecurityTLS && a.Security != agent.SecuritySTARTTLS && a.Security != agent.SecurityNone:
		return fmt.Errorf("unknown connection security %d", a.Security)
	}
	return nil
}

// New checks o and returns a Source for it. Nothing connects until Run.
func New(o Options) (*Source, error) {
	a := o.Account
	if err := CheckAccount(a); err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	switch {
	case o.Password == "" && o.Token == nil:
		return nil, errors.New("imap: no password for the mail account")
	case o.IdleRestart >= MaxIdleRestart:
		return nil, fmt.Errorf("imap: IDLE must be renewed within %s, not every %s", MaxIdleRestart, o.IdleRestart)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.IdleRestart <= 0 {
		o.IdleRestart = DefaultIdleRestart
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	cfg, err := tlsConfig(a)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o.Folders = append([]string(nil), o.Folders...)
	o.Salt = append([]byte(nil), o.Salt...)
	s := &Source{
		o:     o,
		log:   log.With("component", "imap"),
		tls:   cfg,
		index: make(map[agent.MessageKey]msg),
		up:    make(chan struct{}),
		envs:  newEnvCache(envCacheSize),
		wake:  make(chan struct{}, 1),
		extra: o.Folders,
	}
	return s, nil
}

// tlsConfig returns the TLS settings for a: the system's roots plus the
// account's CA file, and the server name to check the certificate for.
func tlsConfig(a agent.IMAPAccount) (*tls.Config, error) {
	roots, err := transport.Roots(a.CAFile)
	if err != nil {
		return nil, fmt.Errorf("imap: %w", err)
	}
	return &tls.Config{ServerName: a.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// ParseURL reads an account as the command line writes it:
// imaps://USER@HOST[:PORT] is implicit TLS, imap://USER@HOST[:PORT] is
// STARTTLS. A user name that is an address may keep its "@" or spell it
// %40.
//
// imap:// always means STARTTLS. Only when the host is this computer
// (transport.IsLoopback) and the server there offers no STARTTLS does the connection
// fall back to plaintext, since nothing then crosses a network; anywhere
// else a server without STARTTLS is refused. SecurityNone is therefore
// never the result of parsing; it is for accounts built in code.
func ParseURL(s string) (agent.IMAPAccount, error) {
	u, err := url.Parse(transport.EscapeUserAt(strings.TrimSpace(s)))
	if err != nil {
		return agent.IMAPAccount{}, fmt.Errorf("imap: %q is not an address: %w", s, err)
	}
	var a agent.IMAPAccount
	switch strings.ToLower(u.Scheme) {
	case "imaps":
		a.Security = agent.SecurityTLS
	case "imap":
		a.Security = agent.SecuritySTARTTLS
	default:
		return agent.IMAPAccount{}, errors.New("imap: the mail account address must start with imaps:// (TLS) or imap:// (STARTTLS), as in imaps://USER@HOST:993")
	}
	if u.Opaque != "" || u.Host == "" {
		return agent.IMAPAccount{}, fmt.Errorf("imap: the address has no server name; write it as %s://USER@HOST:PORT", u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return agent.IMAPAccount{}, fmt.Errorf("imap: the address has no user name; write it as %s://USER@%s", u.Scheme, u.Host)
	}
	if _, has := u.User.Password(); has {
		return agent.IMAPAccount{}, errors.New("imap: do not put the password in the address, where command lines and logs would show it; " +
			"give it on standard input (--password-stdin) or save it in the keychain")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return agent.IMAPAccount{}, errors.New("imap: the address must be only imap[s]://USER@HOST:PORT, without a path or options")
	}
	a.Username = u.User.Username()
	a.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return agent.IMAPAccount{}, fmt.Errorf("imap: %q is not a port number", p)
		}
		a.Port = n
	}
	return a, nil
}
