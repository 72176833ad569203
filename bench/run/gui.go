package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// gui compares the memory of crmsync --demo in a real X server with a
// minimal Fyne window's, in the same run.
func (h *harness) gui(ctx context.Context) error {
	if _, err := exec.LookPath("xvfb-run"); err != nil {
		return fmt.Errorf("xvfb-run is missing (make bench installs it)")
	}
	hello, err := h.build("crmsync/bench/hello", "hello")
	if err != nil {
		return err
	}
	app, err := h.build("crmsync", "crmsync")
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp("", "cs-gui")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	helloRSS, err := windowRSS(ctx, hello)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	appRSS, err := windowRSS(ctx, app, "--demo", "--data", data)
	if err != nil {
		return fmt.Errorf("crmsync --demo: %w", err)
	}
	h.metric("gui_rss_mb", float64(appRSS)/1024, "MB")
	h.metric("hello_fyne_rss_mb", float64(helloRSS)/1024, "MB")
	h.metric("gui_rss_over_hello_fyne", float64(appRSS)/float64(helloRSS), "ratio")
	return nil
}

// windowRSS starts bin under Xvfb and returns its peak RSS in KiB over the
// eight seconds after it starts.
func windowRSS(ctx context.Context, bin string, args ...string) (int64, error) {
	script := `"$@" & p=$!; echo $p; wait $p`
	cmd := exec.CommandContext(ctx, "xvfb-run", append([]string{"-a", "-s", "-screen 0 1280x800x24", "sh", "-c", script, "sh", bin}, args...)...)
	cmd.Env = append(os.Environ(), "LANG=en_US.UTF-8", "DBUS_SESSION_BUS_ADDRESS=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line := make([]byte, 32)
	n, err := out.Read(line)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(line[:n]), "\n", 2)[0]))
	if err != nil {
		return 0, fmt.Errorf("no pid from the wrapper: %q", line[:n])
	}
	defer func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Signal(os.Interrupt)
			time.Sleep(500 * time.Millisecond)
			p.Kill()
		}
	}()
	var peak int64
	for range 16 {
		time.Sleep(500 * time.Millisecond)
		if rss, err := rssKB(pid); err == nil && rss > peak {
			peak = rss
		}
	}
	if peak == 0 {
		return 0, fmt.Errorf("the program did not stay up")
	}
	return peak, nil
}
