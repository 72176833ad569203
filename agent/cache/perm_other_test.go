//go:build !linux

package cache

import (
	"os"
	"testing"
)

// asUnprivileged runs fn with permission checks in force. Root passes every
// permission check, and dropping privileges for a while is done only on
// Linux, so as root the test is skipped.
func asUnprivileged(t *testing.T, own, reach []string, fn func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("running as root, which passes every permission check")
	}
	fn()
}
