package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// idle runs the headless agent (a separate crmsync process) signed in
// against the 100,000-message Maildir, waits until the scan is done and
// the process has gone quiet, then measures its memory and the CPU it
// uses over a minute of idling.
func (h *harness) idle(ctx context.Context) error {
	if h.backlogDir == "" {
		return fmt.Errorf("needs the backlog Maildir")
	}
	bin, err := h.build("crmsync", "crmsync")
	if err != nil {
		return err
	}
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()
	data, err := os.MkdirTemp("", "cs-idle")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	cmd := exec.CommandContext(ctx, bin, "agent", "--crm", c.url, "--user", "alice@demo.local",
		"--maildir", h.backlogDir, "--data", data, "--password-stdin")
	cmd.Stdin = strings.NewReader("demo-alice\n")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	pid := cmd.Process.Pid
	// Quiet: less than 20 ms of CPU over two seconds, after the scan.
	start := time.Now()
	prev, err := cpuTime(pid)
	if err != nil {
		return err
	}
	for {
		time.Sleep(2 * time.Second)
		cur, err := cpuTime(pid)
		if err != nil {
			return err
		}
		if time.Since(start) > 10*time.Second && cur-prev < 20*time.Millisecond {
			break
		}
		prev = cur
		if time.Since(start) > 3*time.Minute {
			return fmt.Errorf("the agent did not go quiet within 3 minutes")
		}
	}
	before, err := cpuTime(pid)
	if err != nil {
		return err
	}
	var peak int64
	for range 60 {
		time.Sleep(time.Second)
		if rss, err := rssKB(pid); err == nil && rss > peak {
			peak = rss
		}
	}
	after, err := cpuTime(pid)
	if err != nil {
		return err
	}
	h.metric("agent_idle_rss_mb", float64(peak)/1024, "MB")
	// The split says where the memory is: the Go heap and C allocations
	// (anon) or pages of the binary and shared libraries (file).
	if anon, file, err := rssSplitKB(pid); err == nil {
		h.metric("agent_idle_rss_anon_mb", float64(anon)/1024, "MB")
		h.metric("agent_idle_rss_file_mb", float64(file)/1024, "MB")
	}
	if dir := os.Getenv("CRMSYNC_BENCH_PROFILE"); dir != "" {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
			os.WriteFile(filepath.Join(dir, "idle-agent.smaps"), b, 0o644)
		}
	}
	h.metric("agent_idle_cpu_ms_per_min", float64(after-before)/float64(time.Millisecond), "ms")
	return nil
}

// cpuTime is the user plus system CPU time of a process.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name may hold spaces; fields start after its ")".
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

// rssSplitKB is a process's anonymous and file-backed resident memory in KiB.
func rssSplitKB(pid int) (anon, file int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			anon = n
		case "RssFile", "RssShmem":
			file += n
		}
	}
	return anon, file, nil
}

// rssKB is a process's resident set size in KiB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
