package smtptest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"crmsync/agent/internal/testserver"
)

// Option changes how a server is set up.
type Option func(*config)

// config is what the generated main.cf says.
type config struct {
	refuse   [][3]string // recipient address, REJECT or DEFER, and the words
	mechs    string      // smtpd_sasl_mechanism_filter; "" offers Dovecot's
	starttls bool        // offer STARTTLS with a self-signed certificate
	auth     bool        // SASL through a private Dovecot; implies starttls
}

// RefuseRecipient makes the server refuse RCPT TO addr with a 5xx whose
// text includes text, as a check_recipient_access table does, so that a
// test sees a refusal in the server's own words.
func RefuseRecipient(addr, text string) Option {
	return func(c *config) { c.refuse = append(c.refuse, [3]string{addr, "REJECT", text}) }
}

// DeferRecipient makes the server answer RCPT TO addr with a temporary
// 450 whose text includes text, as a greylisting server does.
func DeferRecipient(addr, text string) Option {
	return func(c *config) { c.refuse = append(c.refuse, [3]string{addr, "DEFER", text}) }
}

// OnlyMechanisms makes a WithAuth server offer only the SASL mechanisms
// named (as "login"), to test a client's choice. It implies WithAuth.
func OnlyMechanisms(mechs ...string) Option {
	return func(c *config) {
		c.auth, c.starttls = true, true
		c.mechs = strings.Join(mechs, ", ")
	}
}

// STARTTLS makes the server offer STARTTLS (smtpd_tls_security_level =
// may) with a self-signed certificate, which Server.CAFile names.
func STARTTLS() Option { return func(c *config) { c.starttls = true } }

// WithAuth makes the server offer AUTH PLAIN and LOGIN, checked by a
// private Dovecot with imaptest's users (alice, bob), and only after
// STARTTLS, as a submission server should; unauthenticated clients may
// not send. It implies STARTTLS.
func WithAuth() Option { return func(c *config) { c.auth, c.starttls = true, true } }

// layout is where one instance keeps its files, all under one directory.
type layout struct {
	dir    string
	conf   string // main.cf and master.cf; root's, not group- or world-writable, as postfix check wants
	queue  string
	data   string // owned by the postfix user, who writes its caches there
	mail   string // virtual_mailbox_base; the sink is mail/sink/
	tls    string // cert.pem and key.pem
	access string // the texthash table of refused recipients
	socket string // Dovecot's auth listener, with WithAuth
	log    string // everything Postfix logs, through maillog_file = /dev/stdout
}

func newLayout(dir string) layout {
	return layout{
		dir:    dir,
		conf:   filepath.Join(dir, "conf"),
		queue:  filepath.Join(dir, "queue"),
		data:   filepath.Join(dir, "data"),
		mail:   filepath.Join(dir, "mail"),
		tls:    filepath.Join(dir, "tls"),
		access: filepath.Join(dir, "conf", "refused"),
		socket: filepath.Join(dir, "auth"),
		log:    filepath.Join(dir, "postfix.log"),
	}
}

// mailUID is who the virtual delivery agent writes the sink as: nobody.
// Postfix will not deliver as root.
const mailUID = 65534

// writeConfig writes main.cf, master.cf, the recipient table and the
// certificate, and makes the directories with the owners Postfix wants.
func writeConfig(l layout, c config, port int) error {
	for _, d := range []string{l.conf, l.queue, l.data, l.mail, l.tls} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("smtptest: %w", err)
		}
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("smtptest: the postfix user is missing (is postfix installed?): %w", err)
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	pfGID, _ := strconv.Atoi(pf.Gid)
	if err := os.Chown(l.data, pfUID, pfGID); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	if err := makeQueue(l.queue, pfUID); err != nil {
		return err
	}
	// The delivery agent creates sink/{tmp,new,cur} itself, as nobody, so
	// the base must be nobody's.
	if err := os.Chown(l.mail, mailUID, mailUID); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	if c.starttls {
		if err := testserver.WriteCert(l.tls, "crmsync test SMTP server"); err != nil {
			return err
		}
	}
	var refused strings.Builder
	for _, r := range c.refuse {
		fmt.Fprintf(&refused, "%s %s %s\n", r[0], r[1], r[2])
	}
	if err := os.WriteFile(l.access, []byte(refused.String()), 0o644); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(l.conf, "main.cf"), []byte(mainCF(l, c)), 0o644); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	master, err := masterCF(port)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.conf, "master.cf"), []byte(master), 0o644); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	return nil
}

// queueDirs are the queue's subdirectories as postfix check makes them:
// owned by the postfix user (pid/ by root), private but for the two the
// postdrop group writes to.
var queueDirs = []struct {
	name    string
	mode    os.FileMode
	postfix bool // owned by the postfix user and the postdrop group
}{
	{"active", 0o700, true}, {"bounce", 0o700, true}, {"corrupt", 0o700, true},
	{"defer", 0o700, true}, {"deferred", 0o700, true}, {"flush", 0o700, true},
	{"hold", 0o700, true}, {"incoming", 0o700, true}, {"private", 0o700, true},
	{"saved", 0o700, true}, {"trace", 0o700, true},
	{"maildrop", 0o730, true}, {"public", 0o710, true}, {"pid", 0o755, false},
}

// makeQueue makes the queue's directories and marks the queue for a
// quick start: postfix start-fg otherwise runs postfix check first,
// which takes over a second of every test to make the same directories.
func makeQueue(queue string, pfUID int) error {
	gid := 0
	if g, err := user.LookupGroup("postdrop"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	for _, d := range queueDirs {
		p := filepath.Join(queue, d.name)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return fmt.Errorf("smtptest: %w", err)
		}
		if d.postfix {
			g := 0
			if d.name == "maildrop" || d.name == "public" {
				g = gid
			}
			if err := os.Chown(p, pfUID, g); err != nil {
				return fmt.Errorf("smtptest: %w", err)
			}
		}
		// Chmod, not MkdirAll's mode, which the umask would trim.
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("smtptest: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(queue, "quick-start"), nil, 0o644); err != nil {
		return fmt.Errorf("smtptest: %w", err)
	}
	return nil
}

// mainCF is a catch-all instance: every address of every domain is a
// virtual mailbox delivered to the one Maildir sink.
func mainCF(l layout, c config) string {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, v) }
	set("compatibility_level", "3.6")
	set("queue_directory", l.queue)
	set("data_directory", l.data)
	set("inet_interfaces", "127.0.0.1")
	set("inet_protocols", "ipv4")
	// A name of its own, so that the machine's DNS is never asked.
	set("myhostname", "smtptest.invalid")
	set("mydestination", "")
	// No aliases: the default also asks NIS, which logs a warning per
	// connection on machines without it.
	set("alias_maps", "")
	set("alias_database", "")
	set("virtual_mailbox_domains", "static:all")
	set("virtual_mailbox_base", l.mail)
	set("virtual_mailbox_maps", "static:sink/")
	set("virtual_uid_maps", "static:"+strconv.Itoa(mailUID))
	set("virtual_gid_maps", "static:"+strconv.Itoa(mailUID))
	set("virtual_minimum_uid", "1")
	set("mynetworks", "127.0.0.0/8")
	set("smtpd_relay_restrictions", "permit_mynetworks, reject")
	set("maillog_file", "/dev/stdout")
	// Tests send wrong things on purpose; Postfix would otherwise slow a
	// misbehaving client down by seconds.
	set("smtpd_error_sleep_time", "0")
	set("smtpd_soft_error_limit", "100")
	set("smtpd_hard_error_limit", "100")
	// Delivery goes to a local Maildir only: nothing is ever relayed, and
	// a deferred message is retried soon instead of after minutes.
	set("default_transport", "error:smtptest delivers to its sink only")
	set("queue_run_delay", "1s")
	set("minimal_backoff_time", "1s")
	set("maximal_backoff_time", "2s")
	recipient := []string{"check_recipient_access texthash:" + l.access}
	if c.starttls {
		set("smtpd_tls_cert_file", filepath.Join(l.tls, "cert.pem"))
		set("smtpd_tls_key_file", filepath.Join(l.tls, "key.pem"))
		set("smtpd_tls_security_level", "may")
		set("smtpd_tls_loglevel", "1")
	}
	if c.auth {
		set("smtpd_sasl_auth_enable", "yes")
		set("smtpd_sasl_type", "dovecot")
		set("smtpd_sasl_path", l.socket)
		set("smtpd_tls_auth_only", "yes")
		if c.mechs != "" {
			set("smtpd_sasl_mechanism_filter", c.mechs)
		}
		// Every domain is a local one here, which relay restrictions do
		// not cover: refuse the unauthenticated at RCPT TO instead.
		recipient = append(recipient, "permit_sasl_authenticated", "reject")
	}
	set("smtpd_recipient_restrictions", strings.Join(recipient, ", "))
	return b.String()
}

// masterCF is the system's master.cf with the smtp listener moved to the
// instance's loopback port and nothing chrooted: a chroot would be the
// private queue directory, which lacks what the daemons read from /etc.
func masterCF(port int) (string, error) {
	sys, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		return "", fmt.Errorf("smtptest: %w", err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(sys), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 8 && f[0] == "smtp" && f[1] == "inet":
			fmt.Fprintf(&b, "127.0.0.1:%d inet n - n - - smtpd\n", port)
			continue
		case len(f) >= 8 && !strings.HasPrefix(line, "#") && line[0] != ' ' && line[0] != '\t':
			f[4] = "n"
			line = strings.Join(f, " ")
		}
		b.WriteString(line + "\n")
	}
	return b.String(), nil
}

// traversable lets Postfix's unprivileged daemons reach dir: a test's
// temporary directories are private (0700) to their creator, root here.
// It stops at the system's temporary directory, which is already open.
func traversable(dir string) error {
	stop := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != stop && d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("smtptest: %w", err)
		}
		if fi.Mode().Perm()&0o011 == 0o011 {
			continue
		}
		// Traversable but not group- or world-writable: postfix check
		// refuses a configuration under a directory others may write.
		if err := os.Chmod(d, fi.Mode().Perm()&^0o022|0o011); err != nil {
			return fmt.Errorf("smtptest: make %s traversable: %w", d, err)
		}
	}
	return nil
}
