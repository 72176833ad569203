package control

import (
	"strings"
	"testing"

	"crmsync/agent"
)

func TestParseRecordRef(t *testing.T) {
	tests := []struct {
		in   string
		want agent.RecordRef
		err  string
	}{
		{in: "contact:" + guid1, want: agent.RecordRef{Entity: "contact", ID: guid1}},
		{in: " Account:" + strings.ToUpper(guid2) + " ", want: agent.RecordRef{Entity: "account", ID: guid2}},
		{in: "case:{" + guid1 + "}", want: agent.RecordRef{Entity: "incident", ID: guid1}},
		{in: "opportunity:" + guid2, want: agent.RecordRef{Entity: "opportunity", ID: guid2}},
		{in: guid1, err: "is not ENTITY:GUID"},
		{in: "", err: "is not ENTITY:GUID"},
		{in: ":" + guid1, err: "needs an entity"},
		{in: "lead:" + guid1, err: `"lead" cannot be a regarding record; use contact, account, opportunity or incident`},
		{in: "contact:", err: "needs an id"},
		{in: "contact:1234", err: `"1234" is not a record id`},
		{in: "contact:" + strings.ReplaceAll(guid1, "-", ""), err: "is not a record id"},
		{in: "contact:" + guid1 + "x", err: "is not a record id"},
	}
	for _, tt := range tests {
		got, err := ParseRecordRef(tt.in)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseRecordRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseRecordRef(%q) error = %v; want one containing %q", tt.in, err, tt.err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"1710408360.M1P2.host", "1710408360.M1P2.host:2,S", strings.Repeat("k", 255), "a b"} {
		if err := validateKey(k); err != nil {
			t.Errorf("validateKey(%q) = %v", k, err)
		}
	}
	for _, k := range []string{"", ".", "..", "a/b", "/", "a\x00", strings.Repeat("k", 256)} {
		if err := validateKey(k); err == nil {
			t.Errorf("validateKey(%q) accepted", k)
		}
	}
}
