package maildir

import (
	"errors"
	"testing"

	"crmsync/agent"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		base  string
		key   agent.MessageKey
		flags string
		bad   bool
	}{
		{"123.M1P2.host", "123.M1P2.host", "", false},
		{"123.M1P2.host:2,S", "123.M1P2.host", "S", false},
		{"123.M1P2.host:2,FRS", "123.M1P2.host", "FRS", false},
		{"123.M1P2.host:2,", "123.M1P2.host", "", false},
		{"1700000000.M1P2.host,S=1234,W=1260:2,S", "1700000000.M1P2.host,S=1234,W=1260", "S", false},
		{"123.host:1,experimental", "123.host", "", false},
		{"123.host!2,S", "123.host", "S", false},
		{"123.host;2,RS", "123.host", "RS", false},
		{"odd:name.host:2,S", "odd:name.host", "S", false},
		{"a!b.host", "a!b.host", "", false},
		{"", "", "", true},
		{".", "", "", true},
		{"..", "", "", true},
		{".hidden:2,S", "", "", true},
		{":2,S", "", "", true},
		{"a/b", "", "", true},
	}
	for _, tc := range tests {
		key, flags, err := ParseName(tc.base)
		if tc.bad {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("ParseName(%q) err = %v, want ErrBadName", tc.base, err)
			}
			continue
		}
		if err != nil || key != tc.key || flags != tc.flags {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tc.base, key, flags, err, tc.key, tc.flags)
		}
	}
	// The same message in new/ and in cur/ with flags has one key.
	k1, _, _ := ParseName("123.M1P2.host")
	k2, _, _ := ParseName("123.M1P2.host:2,S")
	if k1 != k2 {
		t.Errorf("keys differ: %q %q", k1, k2)
	}
}
