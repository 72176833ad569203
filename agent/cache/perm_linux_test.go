package cache

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// asUnprivileged runs fn with permission checks in force. A root process
// passes every permission check, so as root the effective user becomes
// nobody for the duration: the paths in own are given to nobody (they stand
// for the user's own files) and the folders in reach are opened for
// traversal. The saved user ID stays root, so root is restored afterwards.
func asUnprivileged(t *testing.T, own, reach []string, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	const nobody = 65534
	for _, p := range own {
		if err := os.Lchown(p, nobody, -1); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	for _, d := range reach {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Setresuid(-1, nobody, -1); err != nil {
		t.Skipf("running as root, and cannot drop to an unprivileged user to make permissions bite (%v)", err)
	}
	defer func() {
		if err := syscall.Setresuid(-1, 0, -1); err != nil {
			panic("cannot return to root after a permission test: " + err.Error())
		}
	}()
	fn()
}
