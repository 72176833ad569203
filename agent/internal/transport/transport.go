// Package transport holds the agent's rules for connections that cross a
// network: which hosts are this computer, where plaintext is allowed, and
// which certificate authorities are trusted. The CRM client, the IMAP
// source and the local CRM apply the same rules through it.
package transport

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
)

// IsLoopback reports whether host (without a port) is this computer:
// "localhost" or an address in 127.0.0.0/8 or ::1, brackets and a
// trailing dot allowed. Names are not resolved, so a name that merely
// points at a loopback address does not count; an empty host (every
// interface) is not loopback.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Roots returns the certificate authorities to trust: the system's, plus
// those of the PEM file caFile. An empty caFile returns nil, which a
// tls.Config reads as the system's alone.
func Roots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the CA file %s: %w", caFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate; export it as PEM (BEGIN CERTIFICATE)", caFile)
	}
	return pool, nil
}

// EscapeUserAt writes every "@" of an account URL's user part but the
// last as %40, so that scheme://alice@example.com@HOST/ parses with the
// address as the user, as people write it.
func EscapeUserAt(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth, path = rest[:i], rest[i:]
	}
	last := strings.LastIndex(auth, "@")
	if last < 0 {
		return s
	}
	return scheme + "://" + strings.ReplaceAll(auth[:last], "@", "%40") + auth[last:] + path
}
