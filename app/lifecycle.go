package app

import (
	"errors"
	"fmt"
	"time"
)

// engineStopTimeout bounds the wait for the engine once shutdown has
// begun: a process that was asked to stop must stop, even if a request or
// a keychain call inside the engine hangs.
const engineStopTimeout = 15 * time.Second

// errEngineStuck says the engine was still running when the process gave
// up waiting for it.
var errEngineStuck = errors.New("engine still running")

// waitEngine waits at most d for the engine's Run to return on done and
// returns its error. If d passes first it returns an error wrapping
// errEngineStuck that says what is left behind; the caller must then not
// close the cache under the still-running engine (SQLite's write-ahead log
// keeps it consistent across the exit, and it is replayed on the next
// start).
func waitEngine(done <-chan error, d time.Duration) error {
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("%w: it did not stop within %v of being asked to, so crmsync exits without it. "+
			"Actions already queued are kept and sent on the next start; an action you took in the last moments "+
			"may need to be done again", errEngineStuck, d)
	}
}

// errRestart is returned by the tray app when the user asked to restart
// it; runGUI then replaces the process with a fresh one.
var errRestart = errors.New("restart requested")
