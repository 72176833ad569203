package smtp_test

import (
	"strings"
	"testing"

	"crmsync/agent"
	"crmsync/agent/smtp"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    smtp.Account
		addr    string
		url     string
		wantErr string // a piece of the refusal
	}{
		{in: "smtps://alice@mail.example.com", want: smtp.Account{Host: "mail.example.com", Security: agent.SecurityTLS, Username: "alice"},
			addr: "mail.example.com:465", url: "smtps://alice@mail.example.com:465"},
		{in: "smtp://alice@mail.example.com", want: smtp.Account{Host: "mail.example.com", Security: agent.SecuritySTARTTLS, Username: "alice"},
			addr: "mail.example.com:587", url: "smtp://alice@mail.example.com:587"},
		{in: "SMTPS://bob@mail.example.com:2465/", want: smtp.Account{Host: "mail.example.com", Port: 2465, Security: agent.SecurityTLS, Username: "bob"},
			addr: "mail.example.com:2465", url: "smtps://bob@mail.example.com:2465"},
		{in: "smtp://alice@example.com@smtp.office365.com:587", want: smtp.Account{Host: "smtp.office365.com", Port: 587, Security: agent.SecuritySTARTTLS, Username: "alice@example.com"},
			addr: "smtp.office365.com:587", url: "smtp://alice%40example.com@smtp.office365.com:587"},
		{in: "smtp://alice%40example.com@smtp.example.com", want: smtp.Account{Host: "smtp.example.com", Security: agent.SecuritySTARTTLS, Username: "alice@example.com"},
			addr: "smtp.example.com:587", url: "smtp://alice%40example.com@smtp.example.com:587"},
		{in: "smtp://127.0.0.1:2525", want: smtp.Account{Host: "127.0.0.1", Port: 2525, Security: agent.SecuritySTARTTLS},
			addr: "127.0.0.1:2525", url: "smtp://127.0.0.1:2525"},
		{in: "smtp://localhost", want: smtp.Account{Host: "localhost", Security: agent.SecuritySTARTTLS},
			addr: "localhost:587", url: "smtp://localhost:587"},
		{in: "smtp://[::1]:2525", want: smtp.Account{Host: "::1", Port: 2525, Security: agent.SecuritySTARTTLS},
			addr: "[::1]:2525", url: "smtp://[::1]:2525"},
		{in: "smtps://carol@[2001:db8::1]:465", want: smtp.Account{Host: "2001:db8::1", Port: 465, Security: agent.SecurityTLS, Username: "carol"},
			addr: "[2001:db8::1]:465", url: "smtps://carol@[2001:db8::1]:465"},
		{in: "  smtps://alice@mail.example.com:465  ", want: smtp.Account{Host: "mail.example.com", Port: 465, Security: agent.SecurityTLS, Username: "alice"},
			addr: "mail.example.com:465", url: "smtps://alice@mail.example.com:465"},

		{in: "smtp://mail.example.com", wantErr: "no user name; write it as smtp://USER@mail.example.com"},
		{in: "smtps://[2001:db8::1]", wantErr: "no user name"},
		{in: "smtps://alice:secret@mail.example.com", wantErr: "do not put the password in the address"},
		{in: "smtp://alice:@mail.example.com", wantErr: "do not put the password"},
		{in: "imaps://alice@mail.example.com", wantErr: "must start with smtps:// (TLS) or smtp:// (STARTTLS)"},
		{in: "mail.example.com", wantErr: "must start with smtps://"},
		{in: "smtps://alice@", wantErr: "no server name"},
		{in: "smtps://alice@mail.example.com:0", wantErr: "not a port number"},
		{in: "smtps://alice@mail.example.com:70000", wantErr: "not a port number"},
		{in: "smtps://alice@mail.example.com:smtp", wantErr: ""},
		{in: "smtps://alice@mail.example.com/inbox", wantErr: "without a path or options"},
		{in: "smtps://alice@mail.example.com?tls=no", wantErr: "without a path or options"},
	}
	for _, tt := range tests {
		got, err := smtp.ParseURL(tt.in)
		if tt.wantErr != "" || tt.url == "" {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURL(%q) error %q, want it to say %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.Addr() != tt.addr {
			t.Errorf("ParseURL(%q).Addr() = %q, want %q", tt.in, got.Addr(), tt.addr)
		}
		if got.URL() != tt.url {
			t.Errorf("ParseURL(%q).URL() = %q, want %q", tt.in, got.URL(), tt.url)
		}
		// URL is the inverse: parsing it again gives the same server, with
		// the default port spelt out.
		again, err := smtp.ParseURL(got.URL())
		if err != nil || again.URL() != got.URL() {
			t.Errorf("ParseURL(%q) = %+v, %v; want the same account", got.URL(), again, err)
		}
	}
}

func TestCheckAccount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a       smtp.Account
		wantErr string
	}{
		{smtp.Account{Host: "mail.example.com", Username: "alice"}, ""},
		{smtp.Account{Host: "127.0.0.1", Security: agent.SecurityNone}, ""},
		{smtp.Account{Host: "::1", Security: agent.SecurityNone, Port: 25}, ""},
		{smtp.Account{Username: "alice"}, "no name"},
		{smtp.Account{Host: "mail.example.com:465", Username: "alice"}, "enter just the name"},
		{smtp.Account{Host: "mail.example.com", Username: "alice", Port: -1}, "not a port number"},
		{smtp.Account{Host: "mail.example.com", Username: "alice", Security: agent.SecurityNone}, "use smtps:// or smtp:// with STARTTLS"},
		{smtp.Account{Host: "mail.example.com", Security: agent.SecurityTLS}, "no user name"},
		{smtp.Account{Host: "mail.example.com", Username: "alice\r\nRCPT TO:<x@y>"}, "control character"},
		{smtp.Account{Host: "mail.example.com", Username: "alice", Security: 7}, "unknown connection security"},
	}
	for _, tt := range tests {
		err := smtp.CheckAccount(tt.a)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckAccount(%+v): %v", tt.a, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckAccount(%+v) = %v, want an error saying %q", tt.a, err, tt.wantErr)
		}
	}
}
