package davtest

import (
	"fmt"
	"os"
	"os/exec"
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

// Option changes how a server is set up.
type Option func(*config)

// config is what the generated configuration says.
type config struct {
	tls bool
}

// TLS makes the server speak https with a self-signed certificate for
// 127.0.0.1 and localhost, which Server.CAFile holds.
func TLS() Option { return func(c *config) { c.tls = true } }

// writeConfig writes Radicale's configuration, the password file and, for
// TLS, the certificate into dir, and returns the configuration's path.
func writeConfig(dir string, c config, port int) (string, error) {
	users := filepath.Join(dir, "users")
	for i, u := range [][2]string{{UserAlice, PasswordAlice}, {UserBob, PasswordBob}} {
		// -c creates the file with the first user; -B is bcrypt, which
		// this Radicale accepts where it refuses "autodetect"; -C 4 is
		// the cheapest cost, since every request checks the password.
		args := []string{"-bB", "-C", "4", users, u[0], u[1]}
		if i == 0 {
			args[0] = "-cbB"
		}
		if out, err := exec.Command("htpasswd", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("davtest: htpasswd: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[server]\nhosts = 127.0.0.1:%d\n", port)
	if c.tls {
		if err := testserver.WriteCert(dir, "crmsync test DAV server"); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "ssl = True\ncertificate = %s\nkey = %s\n", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	}
	// delay: Radicale sleeps up to 1.5 s after a wrong password by
	// default, which only slows the tests that try one on purpose.
	fmt.Fprintf(&b, "[auth]\ntype = htpasswd\nhtpasswd_filename = %s\nhtpasswd_encryption = bcrypt\ndelay = 0\n", users)
	fmt.Fprintf(&b, "[storage]\nfilesystem_folder = %s\n", filepath.Join(dir, "storage"))
	b.WriteString("[rights]\ntype = owner_only\n")
	b.WriteString("[web]\ntype = none\n")
	b.WriteString("[logging]\nlevel = info\nmask_passwords = True\n")
	path := filepath.Join(dir, "radicale.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("davtest: %w", err)
	}
	return path, nil
}
