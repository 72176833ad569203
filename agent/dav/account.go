package dav

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"crmsync/agent/internal/transport"
)

// Account is where the user's address book and calendar live.
type Account struct {
	// URL is https://HOST[:PORT]/PATH/: the principal, or any URL on the
	// server such as its root, without user info.
	URL string
	// Username signs in with HTTP Basic authentication.
	Username string
	// CAFile is an optional PEM file of roots trusted besides the
	// system's, for a server with a private certificate authority.
	CAFile string
}

// IsZero reports whether a is the zero Account, that is, not set up.
func (a Account) IsZero() bool { return a == Account{} }

// Display returns "user@host/path" for status lines: no scheme, no
// trailing slash, nothing secret.
func (a Account) Display() string {
	u, err := url.Parse(a.URL)
	if err != nil || u.Host == "" {
		return a.Username + "@" + a.URL
	}
	return a.Username + "@" + u.Host + strings.TrimSuffix(u.Path, "/")
}

// ParseURL reads an account as the command line writes it,
// https://USER@HOST[:PORT]/PATH/. A user name that is an address may keep
// its "@" or spell it %40. http:// is accepted only for a server on this
// computer, where the password crosses no network.
func ParseURL(s string) (Account, error) {
	u, err := url.Parse(transport.EscapeUserAt(strings.TrimSpace(s)))
	if err != nil {
		return Account{}, fmt.Errorf("dav: %q is not an address; write it as https://USER@HOST/PATH/", s)
	}
	if sc := strings.ToLower(u.Scheme); sc != "https" && sc != "http" {
		return Account{}, errors.New("dav: the address must start with https://, as in https://USER@dav.example.com/")
	}
	if u.User == nil || u.User.Username() == "" {
		return Account{}, errors.New("dav: the address has no user name; write it as https://USER@HOST/PATH/")
	}
	if _, has := u.User.Password(); has {
		return Account{}, errors.New("dav: do not put the password in the address, where command lines and logs would show it; " +
			"give it on standard input or save it in the keychain")
	}
	a := Account{Username: u.User.Username()}
	u.User = nil
	if u.Path == "" {
		u.Path = "/" // the bare host: Discover starts at /.well-known/
	}
	a.URL = u.String()
	if err := checkURL(a.URL); err != nil {
		return Account{}, err
	}
	return a, nil
}

// checkURL refuses an account URL that cannot be right, with a sentence
// saying what to change. New checks again what ParseURL checked, since
// accounts are also built in code and read from settings.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("dav: %q is not an address; write it as https://HOST/PATH/", s)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !transport.IsLoopback(u.Hostname()) {
			return errors.New("dav: refusing http:// to a server that is not on this computer: the password " +
				"would cross the network readable by anyone on the way; use https://")
		}
	default:
		return errors.New("dav: the address must start with https://, as in https://USER@dav.example.com/")
	}
	switch {
	case u.Opaque != "" || u.Hostname() == "":
		return errors.New("dav: the address has no server name; write it as https://USER@HOST/PATH/")
	case u.User != nil:
		return errors.New("dav: the account URL must not hold a user name or password; set the user name on its own")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("dav: the address must not have options (?…) or a fragment (#…); write it as https://USER@HOST/PATH/")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("dav: %q is not a port number", p)
		}
	}
	return nil
}
