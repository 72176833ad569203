package smtp_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"crmsync/agent"
	"crmsync/agent/smtp"
)

// fake serves one scripted SMTP conversation per connection on a
// loopback port, for what a real Postfix never does: hostile and broken
// answers. script gets the client's lines and writes raw answers.
func fake(t *testing.T, script func(r *bufio.Reader, w net.Conn)) smtp.Account {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				script(bufio.NewReader(c), c)
			}()
		}
	}()
	return smtp.Account{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Security: agent.SecurityNone}
}

// answer reads one client line and writes reply.
func answer(r *bufio.Reader, w net.Conn, reply string) bool {
	if _, err := r.ReadString('\n'); err != nil {
		return false
	}
	_, err := w.Write([]byte(reply))
	return err == nil
}

func TestHostileServers(t *testing.T) {
	t.Parallel()
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	tests := []struct {
		name   string
		script func(r *bufio.Reader, w net.Conn)
		kind   error // nil: permanent, no sentinel
		says   string
	}{
		{"an IMAP server", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"))
		}, nil, "did not answer as an SMTP server should"},
		{"an endless greeting", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("220 "))
			line := []byte(strings.Repeat("x", 4096))
			for {
				if _, err := w.Write(line); err != nil {
					return
				}
			}
		}, nil, "did not answer as an SMTP server should"},
		{"a busy server", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("421 4.3.2 Service shutting down\r\n"))
		}, smtp.ErrTemporary, "421 4.3.2 Service shutting down"},
		{"a refusing server", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("554 5.7.1 No SMTP service here\r\n"))
		}, nil, "refuses connections from this computer"},
		{"control characters", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("220 ok\r\n"))
			answer(r, w, "250 ok\r\n")
			answer(r, w, "550 5.1.0 bad\x1b[31m sender\x00\r\n")
		}, nil, "550 5.1.0 bad[31m sender"},
		{"a dropped connection after the message", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("220 ok\r\n"))
			for _, a := range []string{"250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n"} {
				answer(r, w, a)
			}
			for {
				line, err := r.ReadString('\n')
				if err != nil || line == ".\r\n" {
					return
				}
			}
		}, smtp.ErrTemporary, "may have accepted the message"},
		{"an endless AUTH", func(r *bufio.Reader, w net.Conn) {
			w.Write([]byte("220 ok\r\n"))
			answer(r, w, "250-ok\r\n250 AUTH PLAIN XOAUTH2\r\n")
			// XOAUTH2 answers every error challenge with an empty line.
			for answer(r, w, "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n") {
			}
		}, smtp.ErrAuth, "kept asking"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := fake(t, tt.script)
			o := smtp.Options{Timeout: 5 * time.Second}
			if tt.kind == smtp.ErrAuth {
				a.Username = "alice"
				o.Token = func(context.Context) (string, error) { return "token", nil }
			}
			_, err := smtp.Send(context.Background(), a, o, "a@crm.test", []string{"b@example.test"}, msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if tt.kind != nil {
				wantKind(t, err, tt.kind)
			} else {
				for _, k := range []error{smtp.ErrTemporary, smtp.ErrTLS, smtp.ErrAuth} {
					wantNot(t, err, k)
				}
			}
			wantSentence(t, err, tt.says)
		})
	}
}
