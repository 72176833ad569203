package mimetext

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// TestDecodeCharsets encodes a text in each charset and decodes it back
// under the label mail gives it, aliases included.
func TestDecodeCharsets(t *testing.T) {
	tests := []struct {
		label string
		enc   encoding.Encoding
		text  string
	}{
		{"ISO-8859-1", charmap.ISO8859_1, "Jørn Støylen"},
		{"latin1", charmap.ISO8859_1, "Jørn"},
		{"iso-8859-2", charmap.ISO8859_2, "Odbierający"},
		{"ISO-8859-15", charmap.ISO8859_15, "Lähettäjä €"},
		{"windows-1251", charmap.Windows1251, "Свежий прайс-лист"},
		{"cp1251", charmap.Windows1251, "Свежий"},
		{"cp1252", charmap.Windows1252, "“quoted” – dash"},
		{"KOI8-R", charmap.KOI8R, "Простой"},
		{"Shift_JIS", japanese.ShiftJIS, "テスト題名"},
		{"cp932", japanese.ShiftJIS, "テスト"},
		{"sjis", japanese.ShiftJIS, "テスト"},
		{"ISO-2022-JP", japanese.ISO2022JP, "日本語メールテスト"},
		{"iso-2022-jp-2", japanese.ISO2022JP, "日本語"},
		{"EUC-JP", japanese.EUCJP, "郵便アリス"},
		{"GB2312", simplifiedchinese.GBK, "施氏食狮史"}, // GBK text under a GB2312 label
		{"euc-cn", simplifiedchinese.GBK, "施氏食狮史"},
		{"GB18030", simplifiedchinese.GB18030, "艾莉絲 发件人"},
		{"Big5", traditionalchinese.Big5, "繁體中文"},
		{"cp950", traditionalchinese.Big5, "繁體中文"},
		{"ks_c_5601-1987", korean.EUCKR, "회원님께"},
		{"cp949", korean.EUCKR, "한국어"},
		{"TIS-620", charmap.Windows874, "ภาษาไทย"},
		{"tis620", charmap.Windows874, "ภาษาไทย"},
		{"iso-8859-11", charmap.Windows874, "ภาษาไทย"},
		{"UTF-16", unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "Design ✔"},
		{"utf-16le", unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "hi ✔"},
		{"utf-16be", unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "hi ✔"},
		{"utf8", unicode.UTF8, "naïve ✔"},
		{`"UTF-8"`, unicode.UTF8, "quoted label"},
		{" utf-8*en ", unicode.UTF8, "language suffix"},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			raw, err := tc.enc.NewEncoder().Bytes([]byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if !Known(tc.label) {
				t.Errorf("Known(%q) = false", tc.label)
			}
			if got := Decode(tc.label, raw); got != tc.text {
				t.Errorf("Decode(%q) = %q, want %q", tc.label, got, tc.text)
			}
		})
	}
}

// TestDecodeFallback pins what happens to bytes no known charset explains:
// UTF-8 sequences stay, every other byte is windows-1252, NULs go.
func TestDecodeFallback(t *testing.T) {
	tests := []struct {
		name, label, in, want string
		known                 bool
	}{
		{"unknown label, 8-bit", "x-unknown", "na\xefve", "naïve", false},
		{"unknown label, utf-8 kept", "x-unknown", "naïve ✔", "naïve ✔", false},
		{"unknown label, windows-1252 range", "X-IAS-German", "Link Exchange\x85 \x93q\x94", "Link Exchange… “q”", false},
		{"charset NONE", "NONE", "plain", "plain", false},
		{"empty label is us-ascii", "", "plain", "plain", true},
		{"utf-8 label, stray latin-1 byte", "utf-8", "caf\xe9 \xc3\xa9", "café é", true},
		{"us-ascii label, 8-bit", "us-ascii", "Forma\xe7\xe3o", "Formação", true},
		{"nul dropped", "utf-8", "a\x00b", "ab", true},
		{"nul dropped after decoding", "utf-16le", "a\x00\x00\x00b\x00", "ab", true},
		{"utf-16 without bom, little-endian guessed", "utf-16", "h\x00i\x00", "hi", true},
		{"utf-16 with le bom", "UTF-16", "\xff\xfeh\x00i\x00", "hi", true},
		{"utf-16 without bom, big-endian", "utf-16", "\x00h\x00i", "hi", true},
		{"odd utf-16 length", "utf-16be", "\x00h\x00", "h\ufffd", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decode(tc.label, []byte(tc.in))
			if got != tc.want {
				t.Errorf("Decode(%q, %q) = %q, want %q", tc.label, tc.in, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("not valid UTF-8: %q", got)
			}
			if k := Known(tc.label); k != tc.known {
				t.Errorf("Known(%q) = %v, want %v", tc.label, k, tc.known)
			}
		})
	}
	if Fallback != "windows-1252" {
		t.Errorf("Fallback = %q; the UTF8 doc and the fallback of Decode say windows-1252", Fallback)
	}
}

func TestUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"Säying £600 🎉", "Säying £600 🎉"},
		{"\xc3\xa9 \xe9", "é é"},
		{"\xff\xfe", "ÿþ"},
		{"\x81\x8d", "\ufffd\ufffd"}, // undefined in windows-1252
		{"trunc\xe2\x82", "truncâ‚"},
		{"a\x00b", "ab"},
	}
	for _, tc := range tests {
		if got := UTF8([]byte(tc.in)); got != tc.want {
			t.Errorf("UTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
