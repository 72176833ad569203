package imaptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Dial returns a client signed in as user over the plaintext port. The
// caller closes it.
func (s *Server) Dial(user string) (*imapclient.Client, error) {
	return s.DialWith(user, nil)
}

// DialWith is Dial with client options, for a handler of unilateral data
// such as EXISTS.
func (s *Server) DialWith(user string, o *imapclient.Options) (*imapclient.Client, error) {
	if o == nil {
		o = &imapclient.Options{}
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{Timeout: 5 * time.Second}
	}
	c, err := imapclient.DialInsecure(s.Addr(), o)
	if err != nil {
		return nil, fmt.Errorf("imaptest: dial: %w", err)
	}
	if err := c.Login(user, s.Password(user)).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imaptest: login as %s: %w", user, err)
	}
	return c, nil
}

// session runs f on a fresh connection signed in as user.
func (s *Server) session(user string, f func(c *imapclient.Client) error) error {
	c, err := s.Dial(user)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := f(c); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// AppendMessage appends raw to user's mailbox and returns its UID, or the
// server's reason for refusing it.
func (s *Server) AppendMessage(user, mailbox string, raw []byte) (imap.UID, error) {
	var uid imap.UID
	err := s.session(user, func(c *imapclient.Client) error {
		cmd := c.Append(mailbox, int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			return fmt.Errorf("imaptest: append: %w", err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("imaptest: append: %w", err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("imaptest: append: %w", err)
		}
		uid = data.UID
		return nil
	})
	return uid, err
}

// Append appends raw to user's mailbox and returns its UID; a refusal
// fails the test.
func (s *Server) Append(t testing.TB, user, mailbox string, raw []byte) imap.UID {
	t.Helper()
	uid, err := s.AppendMessage(user, mailbox, raw)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// Move moves message uid of user's mailbox from to mailbox to with UID
// MOVE and returns its UID there.
func (s *Server) Move(t testing.TB, user, from, to string, uid imap.UID) imap.UID {
	t.Helper()
	var moved imap.UID
	err := s.session(user, func(c *imapclient.Client) error {
		if _, err := c.Select(from, nil).Wait(); err != nil {
			return fmt.Errorf("imaptest: select %s: %w", from, err)
		}
		data, err := c.Move(imap.UIDSetNum(uid), to).Wait()
		if err != nil {
			return fmt.Errorf("imaptest: move: %w", err)
		}
		if dest, ok := data.DestUIDs.(imap.UIDSet); ok {
			if uids, ok := dest.Nums(); ok && len(uids) == 1 {
				moved = uids[0]
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return moved
}

// CreateMailbox creates user's mailbox.
func (s *Server) CreateMailbox(t testing.TB, user, mailbox string) {
	t.Helper()
	err := s.session(user, func(c *imapclient.Client) error {
		return c.Create(mailbox, nil).Wait()
	})
	if err != nil {
		t.Fatalf("imaptest: create %s: %v", mailbox, err)
	}
}

// DeleteMailbox deletes user's mailbox and its messages. Creating it
// again gives it a new UIDVALIDITY.
func (s *Server) DeleteMailbox(t testing.TB, user, mailbox string) {
	t.Helper()
	err := s.session(user, func(c *imapclient.Client) error {
		return c.Delete(mailbox).Wait()
	})
	if err != nil {
		t.Fatalf("imaptest: delete %s: %v", mailbox, err)
	}
}

// Flags returns the flags of message uid in user's mailbox, read without
// changing them.
func (s *Server) Flags(t testing.TB, user, mailbox string, uid imap.UID) []imap.Flag {
	t.Helper()
	var flags []imap.Flag
	err := s.session(user, func(c *imapclient.Client) error {
		if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			return err
		}
		if len(msgs) != 1 {
			return fmt.Errorf("message %d not found", uid)
		}
		flags = msgs[0].Flags
		return nil
	})
	if err != nil {
		t.Fatalf("imaptest: flags of %d in %s: %v", uid, mailbox, err)
	}
	return flags
}

// Capabilities returns what the server advertises to user after login.
func (s *Server) Capabilities(t testing.TB, user string) imap.CapSet {
	t.Helper()
	var caps imap.CapSet
	err := s.session(user, func(c *imapclient.Client) error {
		var err error
		caps, err = c.Capability().Wait()
		return err
	})
	if err != nil {
		t.Fatalf("imaptest: capability: %v", err)
	}
	return caps
}

// Deliver writes raw straight into user's mailbox on disk, as a local
// delivery agent does, whether the server runs or not: mail that arrives
// while the IMAP server is down. Dovecot gives it a UID when it next
// looks at the mailbox.
func (s *Server) Deliver(t testing.TB, user, mailbox string, raw []byte) {
	t.Helper()
	dir := filepath.Join(s.dir, "mail", user)
	if mailbox != "INBOX" {
		dir = filepath.Join(dir, filepath.FromSlash(mailbox))
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%d.M%dP%d.%s", time.Now().Unix(), time.Now().Nanosecond()/1000, os.Getpid(), hex.EncodeToString(rnd[:]))
	own, err := currentOwner()
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"", "tmp", "new", "cur"} {
		if err := mkdirOwned(filepath.Join(dir, sub), own); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, bytes.Clone(raw), 0o600); err != nil {
		t.Fatalf("imaptest: deliver: %v", err)
	}
	if own.root {
		if err := os.Chown(tmp, own.uid, own.gid); err != nil {
			t.Fatalf("imaptest: deliver: %v", err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		t.Fatalf("imaptest: deliver: %v", err)
	}
}
