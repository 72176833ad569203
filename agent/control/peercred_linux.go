package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred asks the kernel who is at the other end of conn (SO_PEERCRED):
// the credentials the peer had when it connected or listened, which it
// cannot forge.
func peerCred(conn *net.UnixConn) (peer, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return peer{}, fmt.Errorf("control: peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{}, fmt.Errorf("control: peer credentials: %w", err)
	}
	if credErr != nil {
		return peer{}, fmt.Errorf("control: peer credentials: %w", credErr)
	}
	return peer{uid: int(cred.Uid), pid: int(cred.Pid)}, nil
}
