//go:build !linux

package control

import (
	"errors"
	"net"
)

// peerCred is not implemented on this system, so every connection is
// refused: without knowing the peer, the agent cannot keep other users out.
func peerCred(conn *net.UnixConn) (peer, error) {
	return peer{}, errors.New("control: peer credentials are not supported on this system")
}
