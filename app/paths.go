package app

import (
	"errors"
	"os"
	"path/filepath"
)

// AppID is the application's reverse-DNS ID: the keychain service name and
// the folder name under the user's config and data directories.
const AppID = "io.github.crmsync"

// dataDir returns the directory for the agent's cache and the demo data,
// following the XDG base directory convention.
func dataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, AppID), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find your home directory to keep data in; set HOME or pass --data DIR")
	}
	return filepath.Join(home, ".local", "share", AppID), nil
}
