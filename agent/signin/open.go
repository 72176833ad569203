package signin

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

// OpenBrowser opens url with xdg-open (which honours $BROWSER); the default opener.
func OpenBrowser(url string) error {
	// Only web addresses: anything else could be read by the opener as a
	// file or an option.
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return errors.New("signin: open browser: not a web address")
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		// exec's error names the program, never its arguments.
		return fmt.Errorf("signin: open browser: %w", err)
	}
	// xdg-open may stay until the browser exits; reap it whenever it does.
	go func() { _ = cmd.Wait() }()
	return nil
}
