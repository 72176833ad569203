package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"crmsync/agent/control"
)

// runSignOut implements "crmsync signout": the saved sign-in is deleted
// from the keychain, through the running agent when there is one (so it
// also stops using the session), else directly.
func runSignOut(ctx context.Context, args []string, io Stdio) int {
	fs := newFlagSet("signout", io)
	data := fs.String("data", "", "the agent's data directory (default: the user data directory)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	dir := *data
	if dir == "" {
		d, err := dataDir()
		if err != nil {
			fmt.Fprintf(io.Err, "crmsync signout: %v\n", err)
			return ExitFailure
		}
		dir = d
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := control.Dial(ctx, filepath.Join(dir, "control.sock"))
	switch {
	case err == nil:
		defer c.Close()
		if err := c.SignOut(ctx); err != nil {
			fmt.Fprintf(io.Err, "crmsync signout: %v\n", err)
			return ExitFailure
		}
		fmt.Fprintln(io.Out, "Signed out: the saved sign-in is deleted and the agent has stopped its connection. Sign in again to resume.")
		return ExitOK
	case !errors.Is(err, control.ErrNotRunning):
		fmt.Fprintf(io.Err, "crmsync signout: %v\n", err)
		return ExitFailure
	}
	// No agent runs: delete the entries of the accounts its settings name.
	// The headless agent keeps settings in its data directory, the tray
	// app in the user's config directory.
	paths := []string{filepath.Join(dir, "settings.json")}
	if *data == "" {
		if cd, err := os.UserConfigDir(); err == nil {
			paths = append(paths, filepath.Join(cd, AppID, "settings.json"))
		}
	}
	deleted := 0
	for _, p := range paths {
		cfg := NewConfig(p)
		if crmURL, user := cfg.Account(); crmURL == "" || user == "" {
			continue
		}
		k := &Keychain{Service: AppID, Account: cfg.Account}
		if err := k.Delete(ctx); err != nil {
			fmt.Fprintf(io.Err, "crmsync signout: %v\n", err)
			return ExitFailure
		}
		deleted++
	}
	if deleted == 0 {
		fmt.Fprintln(io.Out, "No saved sign-in to delete.")
		return ExitOK
	}
	fmt.Fprintln(io.Out, "Signed out: the saved sign-in is deleted from the system keychain. The next start asks you to sign in.")
	return ExitOK
}
