package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// xdgAutostart starts crmsync at login through an XDG autostart entry.
type xdgAutostart struct {
	dir  string // the autostart directory, normally ~/.config/autostart
	exec string // the command line to start
}

func newAutostart() (*xdgAutostart, error) {
	cfg, err := os.UserConfigDir()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &xdgAutostart{dir: filepath.Join(cfg, "autostart"), exec: exe}, nil
}

func (a *xdgAutostart) path() string { return filepath.Join(a.dir, AppID+".desktop") }

// Enabled reports whether the autostart entry exists.
func (a *xdgAutostart) Enabled() bool { return exists(a.path()) }

// SetEnabled writes or removes the autostart entry.
func (a *xdgAutostart) SetEnabled(on bool) error {
	if !on {
		if err := os.Remove(a.path()); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove %s: %w", a.path(), err)
		}
		return nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return err
	}
	entry := strings.Join([]string{
		"[Desktop Entry]",
		"Type=Application",
		"Name=crmsync",
		"Comment=Track email into your CRM",
		"Exec=" + quoteExec(a.exec),
		"Icon=" + AppID,
		"Terminal=false",
		"X-GNOME-Autostart-enabled=true",
		"",
	}, "\n")
	return writeFileAtomic(a.path(), []byte(entry), 0o600)
}

// quoteExec quotes a path for a desktop entry's Exec key.
func quoteExec(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\$`") {
		return p
	}
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\\"`, "`", "\\\\`", "$", `\\$`)
	return `"` + r.Replace(p) + `"`
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
