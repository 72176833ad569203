package odata

import (
	"strings"
	"testing"
	"time"
)

func TestLikePattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, text string
		want          bool
	}{
		{"", "", true},
		{"", "a", false},
		{"%", "", true},
		{"%%", "anything", true},
		{"a%b%c", "aXXbYYc", true},
		{"a%b%c", "aXXbYY", false},
		{"_", "é", true},
		{"__", "é", false},
		{"[é]", "É", true},
		{"[-a]", "-", true},
		{"[a-]", "-", true},
		{"[z-a]", "m", true},
		{"[^a-c]", "d", true},
		{"[^a-c]", "b", false},
		{"%[%]", "50%", true},
		{"[[]x", "[x", true},
		{"%ab%ab%", "xxabyyabzz", true},
		{"%aab", "aaaab", true},
	} {
		p, err := compileLike(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := p.match(tc.text); got != tc.want {
			t.Errorf("%q LIKE %q = %v, want %v", tc.text, tc.pattern, got, tc.want)
		}
	}
	// A long hostile pattern stays fast: backtracking is bounded.
	p, _ := compileLike(strings.Repeat("%a", 50) + "b")
	start := time.Now()
	p.match(strings.Repeat("a", 5000))
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("match took %v", d)
	}
}
