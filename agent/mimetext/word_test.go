package mimetext

import (
	"strings"
	"testing"
	"time"
)

func TestHeader(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"plain", " Hello world", "Hello world"},
		{"q utf-8", "=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
		{"b utf-8", "=?UTF-8?B?w6lsw6h2ZQ==?=", "élève"},
		{"latin-1 q", "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"},
		{"alias charset", "=?cp1251?B?z/Do4uXy?=", "Привет"},
		{"adjacent words joined", "=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"text between words stays", "=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"},
		{"fold between words", "=?utf-8?q?foo?=\r\n  =?utf-8?q?bar?=", "foobar"},
		{"char split across words", "=?utf-8?q?Doma=C4?= =?utf-8?q?=8De?=", "Domače"},
		{"split across b words", "=?utf-8?B?0J/RgNC4?= =?UTF-8?b?0LLQtdGC?=", "Привет"},
		{"different charsets in a row", "=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "éé"},
		{"language suffix", "=?utf-8*en?Q?hello_world?=", "hello world"},
		{"unknown charset readable", "=?X-IAS-German?B?U3VibWl0?=", "Submit"},
		{"unknown charset, 8-bit", "=?x-unknown?q?na=EFve?=", "naïve"},
		{"charset NONE", "=?NONE?Q?plain?=", "plain"},
		{"space before encoding letter", "=?UTF-8? Q?x=3Dy?=", "x=y"},
		{"blanks inside base64", "=?utf-8?B?w6ls w6h2 ZQ==?=", "élève"},
		{"broken padding decodes", "=?utf-8?B?VEVTVA=?=", "TEST"},
		{"bad base64 kept raw", "=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="},
		{"one stray base64 char kept raw", "=?utf-8?B?QUJDR?=", "=?utf-8?B?QUJDR?="},
		{"base64 without padding", "=?utf-8?B?QUJDRA?=", "ABCD"},
		{"bad q escape kept", "=?utf-8?q?100=?=", "100="},
		{"bad q hex kept", "=?utf-8?q?a=ZZb?=", "a=ZZb"},
		{"empty encoded text", "a =?UTF-8?B??= b", "a b"},
		{"empty charset", "=??q?x?=", "=??q?x?="},
		{"unknown encoding letter", "=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
		{"not a word", "1 =? 2 ?= 3", "1 =? 2 ?= 3"},
		{"unterminated word", "=?utf-8?q?abc", "=?utf-8?q?abc"},
		{"opener inside a word's text", "=?utf-8?q?a=?b?= c", "a=?b c"},
		{"raw latin-1", "Forma\xe7\xe3o", "Formação"},
		{"raw windows-1252", "Link Exchange\x85", "Link Exchange…"},
		{"8-bit junk around a word", "\xff=?utf-8?q?ok?=\xfe", "ÿokþ"},
		{"decoded control chars", "=?utf-8?q?a=0D=0Ab?=", "a b"},
		{"decoded nul", "=?utf-8?q?a=00b?=", "ab"},
		{"whitespace collapsed", "  a \t  b  ", "a b"},
		{"utf-16 with bom", "=?UTF-16?B?//5oAGkA?=", "hi"},
		{"utf-16 le without bom", "=?utf-16?B?aABpAA==?=", "hi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Header([]byte(tc.raw)); got != tc.want {
				t.Errorf("Header(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestCollapse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a b", "a b"},
		{" a", "a"},
		{"a ", "a"},
		{"a  b", "a b"},
		{"a\tb", "a b"},
		{"a\r\n b", "a b"},
		{"a\x7fb", "a b"},
		{"\x01", ""},
		{"é ü", "é ü"},
		{"bad \xff", "bad \ufffd"},
		{"a\u00a0b", "a\u00a0b"}, // no-break space is not collapsed
	}
	for _, tc := range tests {
		if got := Collapse(tc.in); got != tc.want {
			t.Errorf("Collapse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHeaderAllocs: the header path runs for every arriving message; plain
// text costs no allocation beyond the string itself.
func TestHeaderAllocs(t *testing.T) {
	raw := []byte(" Re: quarterly figures for the board")
	if n := testing.AllocsPerRun(100, func() { Header(raw) }); n > 1 {
		t.Errorf("Header of plain text: %v allocations, want 1", n)
	}
	s := "Quarterly figures"
	if n := testing.AllocsPerRun(100, func() { Collapse(DecodeWords(s)) }); n != 0 {
		t.Errorf("Collapse(DecodeWords) of clean text: %v allocations, want 0", n)
	}
}

// TestManyWords checks that tens of thousands of words, or of "=?" openers
// that never close, decode in linear time.
func TestManyWords(t *testing.T) {
	const n = 40000
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"adjacent words", strings.Repeat(" =?utf-8?q?=C3=A9?=\r\n", n), strings.Repeat("é", n)},
		{"split characters", strings.Repeat(" =?utf-8?q?=C3?= =?utf-8?q?=A9?=", n), strings.Repeat("é", n)},
		{"unterminated openers", strings.Repeat("=?utf-8?q?a ", n), strings.TrimSpace(strings.Repeat("=?utf-8?q?a ", n))},
	} {
		start := time.Now()
		got := Header([]byte(tc.raw))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", tc.name, d)
		}
		if got != tc.want {
			t.Errorf("%s: got %d bytes, want %d", tc.name, len(got), len(tc.want))
		}
	}
}

func BenchmarkHeader(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"plain", " Re: quarterly figures for the board"},
		{"encoded", " =?utf-8?q?Re=3A_quarterly_figures?= =?ISO-8859-1?Q?f=FCr_den_Vorstand?="},
		{"8-bit", " Gr\xfc\xdfe aus K\xf6ln"},
	} {
		raw := []byte(bc.raw)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Header(raw)
			}
		})
	}
}
