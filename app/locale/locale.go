// Package locale keeps a C or POSIX locale from making the window toolkit
// complain on every start. Importing it is all it takes; main does.
//
// Fyne reads the user's languages in the init function of its lang
// package, through github.com/jeandeaual/go-locale. That library takes the
// first of LC_ALL, LC_MESSAGES and LANG that is set; when that is exactly
// "C" or "POSIX" it reports no language, and otherwise it prefers
// LANGUAGE, when set, to that value. For "C.UTF-8" (the default of many
// containers and minimal systems) it reports the language "C", which is
// no language tag, and Fyne prints "Fyne error: Error parsing user locale
// C" to standard error before main even runs, for every command,
// including --help. English is what Fyne falls back to anyway, so this
// package makes that choice explicit, in the one variable go-locale reads
// first: it sets LANGUAGE for this process, and only when the languages
// go-locale would report name C or POSIX.
//
// This is the one init with a side effect in crmsync, and it must be an
// init: the message is printed during package initialisation, before any
// code of main can run. Go initialises packages in the order of their
// import paths among those whose imports are done (the Go specification,
// "Package initialization", from Go 1.21), and this package imports only
// the standard library, so "crmsync/app/locale" is initialised before
// "fyne.io/fyne/v2/lang". Children started by crmsync (a browser for
// sign-in) inherit LANGUAGE; under a C locale gettext ignores it, so they
// are unaffected.
package locale

import (
	"os"
	"strings"
)

func init() {
	if v, ok := language(os.Getenv); ok {
		os.Setenv("LANGUAGE", v)
	}
}

// language returns the value LANGUAGE should take so that go-locale
// reports no C or POSIX language, and whether it must change. It reads the
// environment in go-locale's order (see the package doc).
func language(getenv func(string) string) (string, bool) {
	var loc string
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if loc = getenv(name); loc != "" {
			break
		}
	}
	if loc == "" || loc == "C" || loc == "POSIX" {
		return "", false // go-locale reports no language: Fyne uses English quietly
	}
	list := loc
	if l := getenv("LANGUAGE"); l != "" {
		list = l
	}
	var keep []string
	changed := false
	for _, l := range strings.Split(list, ":") {
		if isC(l) {
			changed = true
			continue
		}
		keep = append(keep, l)
	}
	if !changed {
		return "", false
	}
	if len(keep) == 0 {
		return "en", true
	}
	return strings.Join(keep, ":"), true
}

// isC reports whether a locale name is C or POSIX, with or without a
// codeset or modifier ("C.UTF-8", "C.utf8", "POSIX@x"), or empty.
func isC(l string) bool {
	lang, _, _ := strings.Cut(l, ".")
	lang, _, _ = strings.Cut(lang, "@")
	lang, _, _ = strings.Cut(lang, "_")
	return lang == "" || lang == "C" || lang == "POSIX"
}
