package imaptest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"crmsync/agent/internal/testserver"
)

// The users every server has, with their passwords.
const (
	UserAlice     = "alice"
	PasswordAlice = "pw-alice"
	UserBob       = "bob"
	PasswordBob   = "pw-bob"
)

// noIdleCapability is Dovecot 2.3's default post-login capability list
// without IDLE. Dovecot can add to its list but not take away, so a
// server without IDLE has to spell out the rest.
const noIdleCapability = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY " +
	"THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT " +
	"CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES " +
	"WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE " +
	"SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"

// Option changes how a server is set up.
type Option func(*config)

// config is what the generated dovecot.conf says.
type config struct {
	noIdle bool // advertise no IDLE after login
	noTLS  bool // ssl = no: no STARTTLS and no implicit-TLS port
	// authSocket is the path of an extra auth listener for another
	// server's SASL (Postfix's smtpd_sasl_type = dovecot); "" for none.
	authSocket string
}

// NoIdle makes the server advertise no IDLE, as some servers do; clients
// then have to poll.
func NoIdle() Option { return func(c *config) { c.noIdle = true } }

// NoTLS makes a plaintext-only server: no STARTTLS, no implicit-TLS port.
// A client that asks for STARTTLS to a loopback address falls back to
// plaintext on such a server.
func NoTLS() Option { return func(c *config) { c.noTLS = true } }

// AuthSocket adds a Dovecot auth listener at path (absolute), open to
// every local user, so that another server (Postfix, for smtptest) can
// check the users' passwords through it. Nothing else changes.
func AuthSocket(path string) Option { return func(c *config) { c.authSocket = path } }

// owner is who the mail processes run as and own the mail files.
type owner struct {
	root       bool
	uid, gid   int
	user, grup string // names for the userdb and the login user
}

// currentOwner picks the accounts Dovecot runs under: as root, nobody for
// mail and dovenull for logins (imap-login refuses root); otherwise the
// current user for everything, which an unprivileged Dovecot allows.
func currentOwner() (owner, error) {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return owner{}, fmt.Errorf("imaptest: the user nobody is needed to run dovecot as root: %w", err)
		}
		var uid, gid int
		fmt.Sscan(u.Uid, &uid)
		fmt.Sscan(u.Gid, &gid)
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return owner{}, fmt.Errorf("imaptest: group of nobody: %w", err)
		}
		return owner{root: true, uid: uid, gid: gid, user: u.Username, grup: g.Name}, nil
	}
	u, err := user.Current()
	if err != nil {
		return owner{}, fmt.Errorf("imaptest: current user: %w", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return owner{}, fmt.Errorf("imaptest: current group: %w", err)
	}
	return owner{uid: os.Getuid(), gid: os.Getgid(), user: u.Username, grup: g.Name}, nil
}

// writeConfig writes dovecot.conf, the password file and the TLS
// certificate into dir, and returns the configuration file's path.
func writeConfig(dir string, c config, o owner, port, tlsPort int) (string, error) {
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", fmt.Errorf("imaptest: %w", err)
		}
	}
	passwd := fmt.Sprintf("%s:{PLAIN}%s\n%s:{PLAIN}%s\n", UserAlice, PasswordAlice, UserBob, PasswordBob)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		return "", fmt.Errorf("imaptest: %w", err)
	}
	for _, u := range []string{UserAlice, UserBob} {
		if err := mkdirOwned(filepath.Join(dir, "mail", u), o); err != nil {
			return "", err
		}
	}
	if !c.noTLS {
		if err := testserver.WriteCert(dir, "crmsync test IMAP server"); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "base_dir = %s\nstate_dir = %s\n", filepath.Join(dir, "run"), filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "log_path = %s\ninfo_log_path = %[1]s\n", filepath.Join(dir, "dovecot.log"))
	b.WriteString("protocols = imap\nlisten = 127.0.0.1\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n")
	// Tests try wrong passwords on purpose; the default 2 s delay would
	// only slow them down.
	b.WriteString("auth_failure_delay = 0\n")
	b.WriteString("mail_max_userip_connections = 100\n")
	if o.root {
		b.WriteString("default_login_user = dovenull\ndefault_internal_user = root\n")
	} else {
		// Unprivileged, Dovecot can switch to no other account: every
		// process and socket is the current user's.
		fmt.Fprintf(&b, "default_login_user = %s\ndefault_internal_user = %[1]s\ndefault_internal_group = %s\n", o.user, o.grup)
	}
	fmt.Fprintf(&b, "first_valid_uid = 1\nfirst_valid_gid = 0\n")
	if c.noTLS {
		b.WriteString("ssl = no\n")
	} else {
		fmt.Fprintf(&b, "ssl = yes\nssl_cert = <%s\nssl_key = <%s\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	}
	if c.noIdle {
		fmt.Fprintf(&b, "imap_capability = %s\n", noIdleCapability)
	}
	fmt.Fprintf(&b, "mail_location = maildir:%s:LAYOUT=fs\n", filepath.Join(dir, "mail", "%u"))
	fmt.Fprintf(&b, "passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s\n}\n", filepath.Join(dir, "passwd"))
	fmt.Fprintf(&b, "userdb {\n  driver = static\n  args = uid=%s gid=%s home=%s\n}\n", o.user, o.grup, filepath.Join(dir, "mail", "%u"))
	b.WriteString("namespace inbox {\n  inbox = yes\n  separator = /\n" +
		"  mailbox Sent {\n    special_use = \\Sent\n    auto = create\n  }\n}\n")
	tlsListener := "  inet_listener imaps {\n    port = 0\n  }\n"
	if !c.noTLS {
		tlsListener = fmt.Sprintf("  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n    ssl = yes\n  }\n", tlsPort)
	}
	fmt.Fprintf(&b, "service imap-login {\n  chroot =\n  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n%s}\n", port, tlsListener)
	b.WriteString("service anvil {\n  chroot =\n}\n")
	if c.authSocket != "" {
		fmt.Fprintf(&b, "service auth {\n  unix_listener %s {\n    mode = 0666\n  }\n}\n", c.authSocket)
	}
	path := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("imaptest: %w", err)
	}
	return path, nil
}

// mkdirOwned makes dir and hands it to the mail user, who must be able to
// write it.
func mkdirOwned(dir string, o owner) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("imaptest: %w", err)
	}
	if o.root {
		if err := os.Chown(dir, o.uid, o.gid); err != nil {
			return fmt.Errorf("imaptest: %w", err)
		}
	}
	return nil
}

// traversable lets Dovecot's unprivileged processes reach dir: a test's
// temporary directories are private (0700) to their creator, root here.
// It stops at the system's temporary directory, which is already open.
func traversable(dir string) error {
	stop := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != stop && d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("imaptest: %w", err)
		}
		if fi.Mode().Perm()&0o011 == 0o011 {
			continue
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
			return fmt.Errorf("imaptest: make %s traversable: %w", d, err)
		}
	}
	return nil
}
