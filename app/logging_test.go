package app

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLoggerRedactsAddresses(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, true)
	log.Info("event", "plain", "maria.campbell@contoso.example", "err",
		fmt.Errorf("resolve: %w", errors.New("no match for Bob <bob.smith@sub.example.co.uk>")),
		"any", []string{"x@y.example"}, "count", 3)
	out := buf.String()
	for _, leak := range []string{"maria.campbell", "bob.smith@", "x@y.example"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line leaks %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "[address]") || !strings.Contains(out, "count=3") || !strings.Contains(out, "no match for Bob") {
		t.Errorf("redaction removed more than addresses: %s", out)
	}
}
