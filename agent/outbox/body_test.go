package outbox

import (
	"strings"
	"testing"
)

func TestBodyText(t *testing.T) {
	tests := []struct {
		name, msg, want string
		truncated       bool
	}{
		{"plain", "Subject: x\r\n\r\nHello there.\r\n", "Hello there.\r\n", false},
		{"quoted-printable latin-1", "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me\r\n", "Café crème\r\n", false},
		{"base64 with line breaks", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8s\r\nIHdvcmxk\r\n", "Hello, world", false},
		{"multipart prefers plain", "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlain\r\n--b--\r\n", "Plain", false},
		{"html only, tags removed", "Content-Type: text/html\r\n\r\n<html><style>p{}</style><p>Dear&nbsp;Ann,</p><br>See you.</html>", "Dear\u00a0Ann,\n\nSee you.", false},
		{"unknown charset falls back", "Content-Type: text/plain; charset=x-unknown\r\n\r\nna\xefve", "naïve", false},
		{"broken multipart keeps what it read", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPart one\r\n", "Part one", false},
		{"attachment only", "Content-Type: application/pdf\r\n\r\n%PDF-1.4", "", false},
		{"NULs and escapes dropped, tabs kept", "Subject: x\r\n\r\nA\x00\x00B\x1b[31m\tC\x7f\r\n", "AB[31m\tC", false},
	}
	for _, tt := range tests {
		got, truncated, err := BodyText(strings.NewReader(tt.msg))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if strings.TrimSpace(got) != strings.TrimSpace(tt.want) || truncated != tt.truncated {
			t.Errorf("%s: got %q (truncated %v), want %q", tt.name, got, truncated, tt.want)
		}
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("é", MaxBodyText)
	got, truncated, err := BodyText(strings.NewReader(big))
	if err != nil || !truncated || len(got) > MaxBodyText+len("\n[…]") || !strings.HasSuffix(got, "[…]") {
		t.Errorf("big body: len %d truncated %v err %v", len(got), truncated, err)
	}
	// A sparse or padded file: megabytes of NUL after a short text. Only the
	// text is kept, and the cut is still reported.
	padded := "Subject: padded\r\n\r\nHello" + strings.Repeat("\x00", 2*MaxBodyText)
	got, truncated, err = BodyText(strings.NewReader(padded))
	if err != nil || !truncated || got != "Hello\n[…]" {
		t.Errorf("padded body: got %q truncated %v err %v", got, truncated, err)
	}
	// UTF-16 halves in UTF-8: a cut raw part is reported even when the text
	// that is left is shorter than the bound.
	utf16 := "Content-Type: text/plain; charset=utf-16le\r\n\r\n" + strings.Repeat("a\x00", MaxBodyText)
	got, truncated, err = BodyText(strings.NewReader(utf16))
	if err != nil || !truncated || !strings.HasPrefix(got, "aaaa") || len(got) > MaxBodyText+len("\n[…]") {
		t.Errorf("utf-16 body: len %d truncated %v err %v", len(got), truncated, err)
	}
	if _, _, err := BodyText(strings.NewReader("")); err == nil {
		t.Error("an empty file is not a message")
	}
}

func TestIdemGUID(t *testing.T) {
	if got := idemGUID("0123456789ABCDEF0123456789abcdef"); got != "01234567-89ab-cdef-0123-456789abcdef" {
		t.Errorf("idemGUID = %q", got)
	}
	for _, bad := range []string{"", "short", "zz23456789abcdef0123456789abcdef"} {
		if got := idemGUID(bad); got != "" {
			t.Errorf("idemGUID(%q) = %q, want none", bad, got)
		}
	}
	if BracketID("a@b") != "<a@b>" || BracketID("<a@b>") != "<a@b>" || BracketID("") != "" {
		t.Error("BracketID")
	}
}
