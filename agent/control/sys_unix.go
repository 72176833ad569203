//go:build unix

package control

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownerUID returns the uid that owns fi's file.
func ownerUID(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// tryLock takes an exclusive flock on f without waiting; held is false if
// another open file holds it.
func tryLock(f *os.File) (held bool, err error) {
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
