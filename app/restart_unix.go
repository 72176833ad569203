//go:build unix

package app

import (
	"fmt"
	"os"
	"syscall"
)

// restartProcess replaces this process with a fresh run of the same
// executable, with the same arguments and environment. A full restart is
// the honest way to rebuild an engine that failed: every piece of state is
// made anew, as at login. It returns only if the exec failed.
func restartProcess() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the crmsync program to restart it: %w; start crmsync again yourself", err)
	}
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("cannot restart %s: %w; start crmsync again yourself", exe, err)
	}
	return nil
}
