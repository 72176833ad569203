// Command run is crmsync's benchmark harness (make bench). It measures,
// in one run on one machine, how fast the agent reacts to arrivals, how
// fast it decides a large backlog, what it sends per decision and per
// tracked message, how it drains a backlog under the CRM's request limit,
// how a fleet of agents shares one CRM, what it costs while idle, and how
// its window compares with a minimal Fyne app; each figure next to the
// floor it is judged against. It prints one line per figure, "metric
// NAME VALUE UNIT", then one per bounded figure, "bound NAME VALUE
// ok|MISSED (...)" (bounds.go), writes them with the machine's
// description to bench/results.txt, and exits non-zero if a step failed
// or a bound was missed.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type result struct {
	name  string
	value float64
	unit  string
}

type harness struct {
	root    string // the module root
	tmp     string // scratch space, removed at the end
	log     *slog.Logger
	results []result
	out     io.Writer
	// backlogDir is the generated 100,000-message Maildir, reused by the
	// idle measurement.
	backlogDir string
	crmBin     string // the local CRM server, built once
}

func (h *harness) metric(name string, value float64, unit string) {
	h.results = append(h.results, result{name, value, unit})
	fmt.Fprintf(h.out, "metric %s %s %s\n", name, format(value), unit)
}

func format(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}

func main() {
	root, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	tmp, err := os.MkdirTemp("", "crmsync-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	h := &harness{root: root, tmp: tmp, out: os.Stdout,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	start := time.Now()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"arrival latency", h.arrivals},
		{"imap arrival latency", h.imapArrival},
		{"backlog", h.backlog},
		{"idle agent", h.idle},
		{"tracking throughput", h.tracking},
		{"arrival to activity", h.arrivalToActivity},
		{"requests per message", h.requestsPerMessage},
		{"throttled backlog", h.throttledBacklog},
		{"agent fleet", h.fleet},
		{"records sync", h.recordsSync},
		{"window memory", h.gui},
	}
	failed := false
	only := os.Getenv("CRMSYNC_BENCH_ONLY") // run one step, e.g. "backlog" (with its prerequisites)
	for _, s := range steps {
		if only != "" && s.name != only && !(only == "idle agent" && s.name == "backlog") {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s…\n", s.name)
		err := s.fn(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", s.name, err)
			failed = true
		}
	}
	fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(start).Round(time.Second))
	if !h.judge(os.Stdout) {
		failed = true
	}
	if err := h.write(filepath.Join(root, "bench", "results.txt")); err != nil {
		fatal(err)
	}
	if failed {
		os.Exit(1)
	}
}

// write saves the results with the machine's description at the top.
func (h *harness) write(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# crmsync benchmark, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# cpu: %s\n# cores: %d\n# go: %s %s/%s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, r := range h.results {
		fmt.Fprintf(&b, "metric %s %s %s\n", r.name, format(r.value), r.unit)
	}
	h.judge(&b)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown"
}

// build compiles a package of this module into the scratch directory.
func (h *harness) build(pkg, name string) (string, error) {
	out := filepath.Join(h.tmp, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = h.root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// startProfile writes a CPU profile of one step to dir (when set), so a
// missed bound can be explained with the profile that shows why.
func startProfile(dir, step string) func() {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(step, " ", "-")+".cpu.pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if m, err := os.Create(filepath.Join(dir, strings.ReplaceAll(step, " ", "-")+".heap.pprof")); err == nil {
			pprof.WriteHeapProfile(m)
			m.Close()
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
