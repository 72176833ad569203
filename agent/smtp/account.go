package smtp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"crmsync/agent"
	"crmsync/agent/internal/transport"
)

// Account is the user's outgoing mail server (SMTP submission). The
// password is never in it: it is in the keychain.
type Account struct {
	Host string
	// Port 0 means the security's default: 465 for TLS (implicit), 587
	// for STARTTLS, 25 for none.
	Port int
	// Security is SecurityTLS (smtps://, implicit TLS), SecuritySTARTTLS
	// (smtp://, STARTTLS required but for a loopback server that offers
	// none) or SecurityNone (plaintext, to a loopback server only).
	Security agent.Security
	// Username signs in; "" sends without AUTH, which only a server on
	// this computer is allowed to take.
	Username string
	// CAFile is an optional PEM bundle trusted besides the system roots,
	// for a server with a private certificate authority.
	CAFile string
}

// Addr returns host:port, with the security's default port when Port is 0.
func (a Account) Addr() string {
	port := a.Port
	if port == 0 {
		switch a.Security {
		case agent.SecurityTLS:
			port = 465
		case agent.SecuritySTARTTLS:
			port = 587
		default:
			port = 25
		}
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(port))
}

// URL returns the account as the command line writes it, the inverse of
// ParseURL: smtps://USER@HOST:PORT for TLS, smtp:// otherwise. It is
// shown in the settings and is the account's keychain key.
func (a Account) URL() string {
	scheme := "smtps"
	if a.Security != agent.SecurityTLS {
		scheme = "smtp"
	}
	u := url.URL{Scheme: scheme, Host: a.Addr()}
	if a.Username != "" {
		u.User = url.User(a.Username)
	}
	return u.String()
}

// CheckAccount refuses an account that cannot be right, with a sentence
// saying what to change. It refuses plaintext (SecurityNone) and sending
// without signing in to anything but this computer: the first would let
// anyone on the way read the password and the mail, the second is what
// an open relay does. Send and Probe check again.
func CheckAccount(a Account) error {
	switch {
	case a.Host == "":
		return errors.New("the outgoing mail server has no name")
	case strings.ContainsAny(a.Host, " /\\@") || (strings.Contains(a.Host, ":") && net.ParseIP(strings.Trim(a.Host, "[]")) == nil):
		return fmt.Errorf("%q is not a server name; enter just the name, like smtp.example.com", a.Host)
	case a.Port < 0 || a.Port > 65535:
		return fmt.Errorf("port %d is not a port number; leave it empty for the usual one", a.Port)
	case a.Security != agent.SecurityTLS && a.Security != agent.SecuritySTARTTLS && a.Security != agent.SecurityNone:
		return fmt.Errorf("unknown connection security %d", a.Security)
	case a.Security == agent.SecurityNone && !transport.IsLoopback(a.Host):
		return errors.New("refusing to send without TLS to a server that is not on this computer: " +
			"the password and the mail would cross the network readable by anyone on the way; use smtps:// or smtp:// with STARTTLS")
	case a.Username == "" && !transport.IsLoopback(a.Host):
		return errors.New("the outgoing mail account has no user name; write it as smtps://USER@" + hostPort(a) +
			" (only a server on this computer may be used without signing in)")
	case strings.ContainsAny(a.Username, "\x00\r\n"):
		return errors.New("the user name holds a control character; enter it again")
	}
	return nil
}

// hostPort is the host and port as a URL writes them, for messages.
func hostPort(a Account) string {
	if a.Port == 0 {
		if strings.Contains(a.Host, ":") {
			return "[" + a.Host + "]"
		}
		return a.Host
	}
	return a.Addr()
}

// ParseURL reads an account as the command line writes it:
// smtps://USER@HOST[:PORT] is implicit TLS, smtp://USER@HOST[:PORT] is
// STARTTLS. A user name that is an address may keep its "@" or spell it
// %40. Without a user, mail is sent without signing in, which is
// accepted only for a server on this computer.
//
// smtp:// always means STARTTLS. Only when the host is this computer
// and the server there offers no STARTTLS does the connection fall back
// to plaintext, since nothing then crosses a network; anywhere else a
// server without STARTTLS is refused. SecurityNone is therefore never
// the result of parsing; it is for accounts built in code.
func ParseURL(s string) (Account, error) {
	u, err := url.Parse(transport.EscapeUserAt(strings.TrimSpace(s)))
	if err != nil {
		return Account{}, fmt.Errorf("smtp: %q is not an address: %w", s, err)
	}
	var a Account
	switch strings.ToLower(u.Scheme) {
	case "smtps":
		a.Security = agent.SecurityTLS
	case "smtp":
		a.Security = agent.SecuritySTARTTLS
	default:
		return Account{}, errors.New("smtp: the outgoing mail server must start with smtps:// (TLS) or smtp:// (STARTTLS), as in smtps://USER@HOST:465")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return Account{}, fmt.Errorf("smtp: the address has no server name; write it as %s://USER@HOST:PORT", u.Scheme)
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return Account{}, errors.New("smtp: do not put the password in the address, where command lines and logs would show it; " +
				"give it on standard input (--password-stdin) or save it in the keychain")
		}
		a.Username = u.User.Username()
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Account{}, errors.New("smtp: the address must be only smtp[s]://USER@HOST:PORT, without a path or options")
	}
	a.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Account{}, fmt.Errorf("smtp: %q is not a port number", p)
		}
		a.Port = n
	}
	if a.Username == "" && !transport.IsLoopback(a.Host) {
		return Account{}, fmt.Errorf("smtp: the address has no user name; write it as %s://USER@%s "+
			"(only a server on this computer may be used without signing in)", u.Scheme, u.Host)
	}
	if err := CheckAccount(a); err != nil {
		return Account{}, fmt.Errorf("smtp: %w", err)
	}
	return a, nil
}
