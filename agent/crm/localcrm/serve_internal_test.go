package localcrm

import (
	"net"
	"testing"
)

// TestCheckListenLoopback: every spelling of a loopback host is accepted,
// the demo seed included.
func TestCheckListenLoopback(t *testing.T) {
	for _, host := range []string{"localhost", "LocalHost", "127.0.0.1", "127.0.0.5", "::1"} {
		if err := checkListen(ServeOptions{Listen: net.JoinHostPort(host, "8555"), Seed: "demo"}); err != nil {
			t.Fatalf("%s refused: %v", host, err)
		}
	}
}
