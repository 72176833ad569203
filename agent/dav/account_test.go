package dav_test

import (
	"strings"
	"testing"

	"crmsync/agent/dav"
)

// TestParseURL reads account addresses and refuses the ones that would
// leak the password or cannot work, each with a sentence.
func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    dav.Account
		err     string // part of the error; "" for success
		display string
	}{
		{in: "https://alice@dav.example.com/alice/", want: dav.Account{URL: "https://dav.example.com/alice/", Username: "alice"}, display: "alice@dav.example.com/alice"},
		{in: "https://alice@dav.example.com", want: dav.Account{URL: "https://dav.example.com/", Username: "alice"}, display: "alice@dav.example.com"},
		{in: " https://alice@example.com@dav.example.com:8443/dav/ ", want: dav.Account{URL: "https://dav.example.com:8443/dav/", Username: "alice@example.com"}, display: "alice@example.com@dav.example.com:8443/dav"},
		{in: "https://alice%40example.com@dav.example.com/", want: dav.Account{URL: "https://dav.example.com/", Username: "alice@example.com"}},
		{in: "HTTPS://alice@dav.example.com/", want: dav.Account{URL: "https://dav.example.com/", Username: "alice"}},
		{in: "http://alice@127.0.0.1:5232/alice/", want: dav.Account{URL: "http://127.0.0.1:5232/alice/", Username: "alice"}},
		{in: "http://alice@localhost:5232/", want: dav.Account{URL: "http://localhost:5232/", Username: "alice"}},
		{in: "http://alice@[::1]:5232/", want: dav.Account{URL: "http://[::1]:5232/", Username: "alice"}},
		{in: "http://alice@dav.example.com/", err: "use https://"},
		{in: "http://alice@192.168.1.5/", err: "not on this computer"},
		{in: "https://alice:secret@dav.example.com/", err: "do not put the password"},
		{in: "https://dav.example.com/", err: "no user name"},
		{in: "https://@dav.example.com/", err: "no user name"},
		{in: "ftp://alice@dav.example.com/", err: "must start with https://"},
		{in: "dav.example.com", err: "must start with https://"},
		{in: "alice@dav.example.com", err: "must start with https://"},
		{in: "https://alice@/alice/", err: "no server name"},
		{in: "https://alice@dav.example.com/?x=1", err: "options"},
		{in: "https://alice@dav.example.com:99999/", err: "port"},
		{in: "https://alice@dav.exa mple.com/", err: "not an address"},
	} {
		got, err := dav.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL(%q): the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if tc.display != "" && got.Display() != tc.display {
			t.Errorf("Display() = %q, want %q", got.Display(), tc.display)
		}
		if got.IsZero() {
			t.Errorf("ParseURL(%q).IsZero()", tc.in)
		}
	}
	if !(dav.Account{}).IsZero() {
		t.Error("the zero Account is not IsZero")
	}
}

// TestNewRefuses checks New's own checks of accounts built in code.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		acct     dav.Account
		password string
		err      string
	}{
		{dav.Account{URL: "http://dav.example.com/", Username: "a"}, "pw", "use https://"},
		{dav.Account{URL: "https://a:pw@dav.example.com/", Username: "a"}, "pw", "must not hold"},
		{dav.Account{URL: "https://dav.example.com/"}, "pw", "no user name"},
		{dav.Account{URL: "https://dav.example.com/", Username: "a"}, "", "no password"},
		{dav.Account{URL: "https://dav.example.com/", Username: "a", CAFile: "/nonexistent/ca.pem"}, "pw", "CA file"},
	} {
		if _, err := dav.New(tc.acct, tc.password, dav.Options{}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.acct, err, tc.err)
		}
	}
}
