// Package corpus finds the project's corpus of real-world mail for tests:
// messages with odd charsets, broken encoded words, bad folding and
// missing fields, which every mail source must parse or refuse with a
// reason.
package corpus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env names a directory of real-world messages that overrides the search
// for the project's corpus.
const Env = "CRMSYNC_MAIL_CORPUS"

// Dir returns the mail corpus directory: $CRMSYNC_MAIL_CORPUS, or the
// first shared/corpus/mail found walking up from the working directory.
// A missing corpus fails the test, saying where it looked.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(Env); d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Fatalf("%s=%q is not a directory", Env, d)
		}
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var looked []string
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "corpus", "mail")
		looked = append(looked, c)
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	t.Fatalf("mail corpus not found: set %s, or provide shared/corpus/mail in a parent directory; looked in:\n  %s",
		Env, strings.Join(looked, "\n  "))
	return ""
}

// Files returns the message files of the corpus, sorted.
func Files(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(t), "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .eml files in the corpus (%v)", err)
	}
	return files
}
