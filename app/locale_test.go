package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cLocaleEnv is the environment with the locale set to lang only: the
// other locale variables would take precedence over LANG.
func cLocaleEnv(lang string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG="+lang)
}

// TestNoLocaleNoise runs the real binary under C locales: Fyne's lang
// package reads the locale in its init, before main, so only a built
// program shows whether crmsync/app/locale ran first.
func TestNoLocaleNoise(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "crmsync")
	if out, err := exec.Command("go", "build", "-o", bin, "crmsync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, lang := range []string{"C", "C.UTF-8", "C.utf8", "POSIX"} {
		for _, args := range [][]string{{"--help"}, {"status", "--data", "/nonexistent"}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = cLocaleEnv(lang)
			out, _ := cmd.CombinedOutput()
			if strings.Contains(string(out), "Fyne error") || strings.Contains(string(out), "locale") {
				t.Errorf("LANG=%s crmsync %s printed locale noise:\n%s", lang, strings.Join(args, " "), out)
			}
			if len(out) == 0 {
				t.Errorf("LANG=%s crmsync %s printed nothing", lang, strings.Join(args, " "))
			}
		}
	}
}
