// Command crmserver serves the local CRM, with the demo seed, on a
// loopback port for the benchmarks. It runs in its own process, as a CRM
// does: its work and its garbage are not the agent's to collect. It prints
// its URL on the first line of its output and stops when its standard
// input is closed.
//
// Around the CRM it counts what the benchmarks judge, always after the
// answer is on its way so that counting adds nothing to the latency being
// measured:
//
//	GET /bench/checks     "<CheckIncomingEmail calls> <bytes of the requests carrying them>"
//	GET /bench/stats      JSON: Web API requests, 429 answers, $batch requests, per user,
//	                      decision requests and their bytes, body markers seen early
//	GET /bench/completed  JSON: Message-ID -> Unix nanoseconds at which the request that
//	                      completed its email (statecode 1) was answered
//
// Flags set the service-protection limit, add fleet users and cap the
// requests served at once (see flag usage).
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"crmsync/agent/crm/localcrm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "crmserver:", err)
		os.Exit(1)
	}
}

func run() error {
	limit := flag.Int("limit-requests", 0, "Web API requests one user may make per window; 0 means no throttling")
	window := flag.Duration("limit-window", localcrm.DefaultRateWindow, "the sliding window of -limit-requests")
	users := flag.Int("users", 0, "fleet users to add: fleetNN@demo.local with password fleet-NN, who may sync")
	maxConc := flag.Int("max-concurrent", 0, "requests served at once, the rest wait as for a worker pool; 0 means no cap")
	marker := flag.String("marker", "", "text of the benchmark's message bodies that no decision request may carry")
	flag.Parse()

	// Few password iterations: the benchmarks sign in often. Without a
	// limit, no throttling: they send thousands of requests a minute on
	// purpose.
	opts := localcrm.Options{PasswordIterations: 1000, RateLimit: 1 << 30, RateWindow: *window}
	if *limit > 0 {
		opts.RateLimit = *limit
	}
	srv, err := localcrm.New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.SeedDemo(); err != nil {
		return err
	}
	for i := 1; i <= *users; i++ {
		if _, err := srv.AddUser(fleetUser(i), fleetPassword(i), fmt.Sprintf("Fleet User%02d", i), true); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m := newMeter(*marker)
	var h http.Handler = srv
	if *maxConc > 0 {
		h = capConcurrency(h, *maxConc)
	}
	hs := &http.Server{Handler: m.wrap(h), ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(ln)
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return hs.Close()
}

// fleetUser is the sign-in of the i-th fleet user (from 1); bench/run
// derives the same names (fleetCreds).
func fleetUser(i int) string { return fmt.Sprintf("fleet%02d@demo.local", i) }

// fleetPassword is the password of the i-th fleet user.
func fleetPassword(i int) string { return fmt.Sprintf("fleet-%02d", i) }

// capConcurrency lets at most n requests into h at once; the others wait
// in line, as on a server whose worker pool is busy.
func capConcurrency(h http.Handler, n int) http.Handler {
	sem := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-sem }()
		h.ServeHTTP(w, r)
	})
}
