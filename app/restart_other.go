//go:build !unix

package app

import "errors"

// restartProcess cannot replace the process where exec is not available;
// the user is told to start crmsync again.
func restartProcess() error {
	return errors.New("crmsync cannot restart itself on this system; quit it and start it again")
}
