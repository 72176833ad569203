package davtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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
		if err := writeCert(dir); err != nil {
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

// writeCert writes a self-signed certificate for localhost and 127.0.0.1
// (cert.pem, which doubles as the CA file clients trust) and its key.
func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("davtest: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return fmt.Errorf("davtest: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "crmsync test DAV server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("davtest: certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("davtest: key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("davtest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("davtest: %w", err)
	}
	return nil
}
