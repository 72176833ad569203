// Command crmserver serves the local CRM, with the demo seed, on a
// loopback port for the benchmarks. It runs in its own process, as a CRM
// does: its work and its garbage are not the agent's to collect. It prints
// its URL on the first line of its output, counts the bytes of every
// CheckIncomingEmail request, answers GET /bench/checks with
// "<requests> <bytes>", and stops when its standard input is closed.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync/atomic"

	"crmsync/agent/crm/localcrm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crmserver:", err)
		os.Exit(1)
	}
}

func run() error {
	// Few password iterations and no throttling: the benchmarks sign in
	// often and send thousands of requests a minute on purpose.
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000, RateLimit: 1 << 30})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.SeedDemo(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var checks, size atomic.Int64
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bench/checks" {
			fmt.Fprintf(w, "%d %d\n", checks.Load(), size.Load())
			return
		}
		srv.ServeHTTP(w, r)
		if !strings.Contains(r.URL.Path, "CheckIncomingEmail") {
			return
		}
		// Counted once the answer is on its way, so that counting adds
		// nothing to the latency being measured. Serving a GET leaves the
		// request as it came: it has no body to consume.
		_ = http.NewResponseController(w).Flush()
		dump, _ := httputil.DumpRequest(r, true)
		checks.Add(1)
		size.Add(int64(len(dump)))
	})}
	go hs.Serve(ln)
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return hs.Close()
}
