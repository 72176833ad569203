package maildir

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("From: a@x.test\nSubject: =?utf-8?q?hi?=\n\nbody"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseHeader(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "maildir: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		checkUTF8(t, e)
		if e.MessageID == "" {
			t.Fatal("empty MessageID")
		}
	})
}

func FuzzParseName(f *testing.F) {
	f.Add("123.M1P2.host:2,S")
	f.Fuzz(func(t *testing.T, base string) {
		key, flags, err := ParseName(base)
		if err != nil {
			return
		}
		if key == "" || strings.ContainsAny(string(key), "/\x00") || key[0] == '.' {
			t.Fatalf("ParseName(%q) key %q", base, key)
		}
		// Moving the message to cur/ with flags keeps its key.
		k2, f2, err := ParseName(string(key) + ":2," + flags)
		if err != nil || k2 != key || f2 != flags {
			t.Fatalf("ParseName(%q+\":2,\"+%q) = %q, %q, %v", key, flags, k2, f2, err)
		}
	})
}
