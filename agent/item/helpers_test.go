package item

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	now = func() time.Time { return fixedNow }
	os.Exit(m.Run())
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nonEmpty drops "" values, which mean the same as absent keys.
func nonEmpty(v Values) Values {
	out := Values{}
	for k, s := range v {
		if s != "" {
			out[k] = s
		}
	}
	return out
}

func keys(v Values) []string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func assertValues(t *testing.T, got, want Values) {
	t.Helper()
	if g, w := nonEmpty(got), nonEmpty(want); !reflect.DeepEqual(g, w) {
		for _, k := range keys(mergeKeys(g, w)) {
			if g[k] != w[k] {
				t.Errorf("%s: got %q, want %q", k, g[k], w[k])
			}
		}
	}
}

func mergeKeys(a, b Values) Values {
	m := Values{}
	for k := range a {
		m[k] = ""
	}
	for k := range b {
		m[k] = ""
	}
	return m
}

// lines returns the unfolded content lines of a vCard or iCalendar text.
func lines(b []byte) []string {
	var out []string
	for _, l := range unfold(string(b)) {
		out = append(out, l.text)
	}
	return out
}

func hasLine(b []byte, line string) bool {
	for _, l := range lines(b) {
		if l == line {
			return true
		}
	}
	return false
}

func countPrefix(b []byte, prefix string) int {
	n := 0
	for _, l := range lines(b) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func mustLine(t *testing.T, b []byte, line string) {
	t.Helper()
	if !hasLine(b, line) {
		t.Errorf("missing line %q in\n%s", line, b)
	}
}
