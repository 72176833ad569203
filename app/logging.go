package app

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
)

// addrRE matches anything shaped like an email address. Log lines must
// never carry one: the redacting handler replaces them wherever they hide
// (an error's text, a path, a value passed by mistake).
var addrRE = regexp.MustCompile(`[^\s<>"'(),;:@]+@[^\s<>"'(),;:@]+\.[A-Za-z]{2,}`)

// redact replaces every address in s.
func redact(s string) string { return addrRE.ReplaceAllString(s, "[address]") }

// newLogger logs text lines to w with every address redacted. Subjects and
// secrets are never passed to a logger in the first place.
func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}))
}

func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(redact(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(redact(err.Error()))
		} else {
			a.Value = slog.StringValue(redact(fmt.Sprint(a.Value.Any())))
		}
	}
	return a
}
