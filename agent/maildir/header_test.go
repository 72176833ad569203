package maildir

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// mustParse parses a header written with \n line ends and fails the test on
// error.
func mustParse(t *testing.T, h string) Envelope {
	t.Helper()
	e, err := ParseHeader(strings.NewReader(h))
	if err != nil {
		t.Fatalf("ParseHeader(%q): %v", h, err)
	}
	checkUTF8(t, e)
	return e
}

// checkUTF8 fails the test when any text of e is not valid UTF-8.
func checkUTF8(t testing.TB, e Envelope) {
	t.Helper()
	bad := func(what, s string) {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", what, s)
		}
	}
	bad("MessageID", e.MessageID)
	bad("Subject", e.Subject)
	bad("InReplyTo", e.InReplyTo)
	bad("From.Name", e.From.Name)
	bad("From.Addr", e.From.Addr)
	for _, l := range [][]Address{e.To, e.Cc} {
		for _, a := range l {
			bad("Name", a.Name)
			bad("Addr", a.Addr)
		}
	}
	for _, r := range e.References {
		bad("References", r)
	}
}

func addrs(l []Address) []string {
	var out []string
	for _, a := range l {
		out = append(out, a.Name+" <"+a.Addr+">")
	}
	return out
}

func TestSubjectDecoding(t *testing.T) {
	tests := []struct {
		name, field, want string
	}{
		{"plain", "Subject: Hello world", "Hello world"},
		{"q utf-8", "Subject: =?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
		{"b utf-8", "Subject: =?UTF-8?B?w6lsw6h2ZQ==?=", "élève"},
		{"latin-1 q", "Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"},
		{"adjacent words lose the space between them", "Subject: =?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"space between word and text stays", "Subject: =?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"},
		{"fold between words", "Subject: =?utf-8?q?foo?=\n  =?utf-8?q?bar?=", "foobar"},
		{"utf-8 char split across words", "Subject: =?utf-8?q?Doma=C4?= =?utf-8?q?=8De?=", "Domače"},
		{"split across words, b", "Subject: =?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "éé"},
		{"split base64 char across words", "Subject: =?utf-8?B?0J/RgNC4?= =?UTF-8?b?0LLQtdGC?=", "Привет"},
		{"rfc 2231 language", "Subject: =?utf-8*en?Q?hello_world?=", "hello world"},
		{"language differs, same charset joins", "Subject: =?utf-8*sl?Q?=C5?= =?Utf-8*SL?q?=BE?=", "ž"},
		{"bad base64 kept raw", "Subject: =?utf-8?B?!!!?=", "=?utf-8?B?!!!?="},
		{"broken padding decodes", "Subject: =?utf-8?B?VEVTVA=?=", "TEST"},
		{"empty encoded text", "Subject: a =?UTF-8?B??= b", "a b"},
		{"unknown charset readable", "Subject: =?X-IAS-German?B?U3VibWl0?=", "Submit"},
		{"charset NONE", "Subject: =?NONE?Q?plain?=", "plain"},
		{"space before encoding letter", "Subject: =?UTF-8? Q?x=3Dy?=", "x=y"},
		{"not a word", "Subject: 1 =? 2 ?= 3", "1 =? 2 ?= 3"},
		{"unterminated word", "Subject: =?utf-8?q?abc", "=?utf-8?q?abc"},
		{"raw utf-8 kept", "Subject: Säying £600 🎉", "Säying £600 🎉"},
		{"raw latin-1", "Subject: Forma\xe7\xe3o", "Formação"},
		{"raw windows-1252", "Subject: Link Exchange\x85", "Link Exchange…"},
		{"mixed valid and invalid 8-bit", "Subject: \xc3\xa9 \xe9", "é é"},
		{"nul dropped", "Subject: a\x00b", "ab"},
		{"whitespace collapsed", "Subject:  a \t  b  ", "a b"},
		{"whitespace-only fold line", "Subject: Re: TEST\n \n\t=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\n  =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "Re: TEST テストテスト"},
		{"first subject wins", "Subject: one\nSubject: two", "one"},
		{"empty first subject skipped", "Subject:\nSubject: two", "two"},
		{"space before colon", "Subject : obsolete", "obsolete"},
		{"no space after colon", "Subject:tight", "tight"},
		{"utf-16 with bom", "Subject: =?UTF-16?B?//5oAGkA?=", "hi"},
		{"utf-16 le without bom", "Subject: =?utf-16?B?aABpAA==?=", "hi"},
		{"utf-16be", "Subject: =?utf-16be?B?AGgAaQ==?=", "hi"},
		{"decoded control chars", "Subject: =?utf-8?q?a=0D=0Ab?=", "a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, "From: a@b.example\n"+tc.field+"\n\nbody\n")
			if e.Subject != tc.want {
				t.Errorf("Subject = %q, want %q", e.Subject, tc.want)
			}
		})
	}
}

// TestCharsets encodes a text in each charset, wraps it in B and Q words and
// checks that it decodes back.
func TestCharsets(t *testing.T) {
	tests := []struct {
		label string
		enc   encoding.Encoding
		text  string
	}{
		{"ISO-8859-1", charmap.ISO8859_1, "Jørn Støylen"},
		{"iso-8859-2", charmap.ISO8859_2, "Odbierający, Bob"},
		{"ISO-8859-5", charmap.ISO8859_5, "Привет"},
		{"iso-8859-7", charmap.ISO8859_7, "Καλημέρα"},
		{"ISO-8859-15", charmap.ISO8859_15, "Lähettäjä €"},
		{"windows-1250", charmap.Windows1250, "Automatyczna odpowiedź"},
		{"windows-1251", charmap.Windows1251, "Свежий прайс-лист"},
		{"Windows-1252", charmap.Windows1252, "“quoted” – dash"},
		{"KOI8-R", charmap.KOI8R, "Простой заголовок"},
		{"koi8-u", charmap.KOI8U, "Привіт"},
		{"ISO-2022-JP", japanese.ISO2022JP, "日本語メールテスト"},
		{"Shift_JIS", japanese.ShiftJIS, "テスト題名"},
		{"cp932", japanese.ShiftJIS, "テスト"},
		{"EUC-JP", japanese.EUCJP, "郵便アリス"},
		{"GB2312", simplifiedchinese.GBK, "代开各地增值税发票"},
		{"gbk", simplifiedchinese.GBK, "施氏食狮史"},
		{"GB18030", simplifiedchinese.GB18030, "艾莉絲 发件人"},
		{"Big5", traditionalchinese.Big5, "繁體中文"},
		{"EUC-KR", korean.EUCKR, "한국어 팬그램"},
		{"ks_c_5601-1987", korean.EUCKR, "회원님께"},
		{"TIS-620", charmap.Windows874, "แพนแกรมภาษาไทย"},
		{"WiNdOWs-874", charmap.Windows874, "ภาษาไทย"},
		{"UTF-16", unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "Design ✔"},
		{"us-ascii", charmap.ISO8859_1, "plain ascii"},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			raw, err := tc.enc.NewEncoder().Bytes([]byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			b := "=?" + tc.label + "?B?" + base64.StdEncoding.EncodeToString(raw) + "?="
			if got := decodeText([]byte(b)); got != tc.text {
				t.Errorf("B word %s: got %q, want %q", b, got, tc.text)
			}
			var q strings.Builder
			for _, c := range raw {
				q.WriteString("=")
				q.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
			}
			w := "=?" + tc.label + "?Q?" + q.String() + "?="
			if got := decodeText([]byte(w)); got != tc.text {
				t.Errorf("Q word: got %q, want %q", got, tc.text)
			}
			// Split the bytes over two adjacent words, mid character.
			if len(raw) > 3 {
				h := len(raw)/2 + 1
				two := "=?" + tc.label + "?B?" + base64.StdEncoding.EncodeToString(raw[:h]) + "?=\n =?" +
					tc.label + "?B?" + base64.StdEncoding.EncodeToString(raw[h:]) + "?="
				if got := decodeText([]byte(two)); got != tc.text {
					t.Errorf("split words: got %q, want %q", got, tc.text)
				}
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		name, field string
		want        []string
	}{
		{"simple", "To: a@b.example", []string{" <a@b.example>"}},
		{"domain lower-cased", "To: John.Doe@Example.COM", []string{" <John.Doe@example.com>"}},
		{"name and angle", "To: Mary Smith <mary@x.test>", []string{"Mary Smith <mary@x.test>"}},
		{"list", "To: a@x.test, B <b@x.test>,c@x.test", []string{" <a@x.test>", "B <b@x.test>", " <c@x.test>"}},
		{"escaped quotes", `To: "Joe \"Q\" Public" <j@x.test>`, []string{`Joe "Q" Public <j@x.test>`}},
		{"quoted specials", `To: "Giant; \"Big\" Box" <sys@x.test>`, []string{`Giant; "Big" Box <sys@x.test>`}},
		{"empty group", "To: undisclosed-recipients:;", nil},
		{"group", "To: team: a@x.test, b@y.test;", []string{" <a@x.test>", " <b@y.test>"}},
		{"group and mailbox", "To: team: a@x.test;, c@z.test", []string{" <a@x.test>", " <c@z.test>"}},
		{"odd nested group", "To: a: b: c@x.test;;", []string{" <c@x.test>"}},
		{"malformed group", "To: undisclosed-recipients;;", nil},
		{"comment names bare address", "To: joe@x.test (Joe Bloggs)", []string{"Joe Bloggs <joe@x.test>"}},
		{"comments everywhere", `To: Pete(A wonderful \) chap) <pete(his account)@silly.test(his host)>`, []string{"Pete <pete@silly.test>"}},
		{"missing comma", "To: a@x.test b@y.test", []string{" <a@x.test>", " <b@y.test>"}},
		{"missing comma with names", "To: Bob Dunite <bob@extern> Alice <alice@intern>", []string{"Bob Dunite <bob@extern>", "Alice <alice@intern>"}},
		{"unquoted at in name", "To: Mikel@Lindsaar <m@x.test>", []string{"Mikel@Lindsaar <m@x.test>"}},
		{"route address", "To: Mary <@node.test:mary@example.net>", []string{"Mary <mary@example.net>"}},
		{"empty list element", "To: , a@b.test,", []string{" <a@b.test>"}},
		{"empty angle dropped", `To: "Undisclosed Recipients" <>`, nil},
		{"no domain in angle", "To: Moderator <moderator>", []string{"Moderator <moderator>"}},
		{"encoded name", "To: =?utf-8?q?Miros=C5=82aw?= <m@x.test>", []string{"Mirosław <m@x.test>"}},
		{"encoded name hiding a comma", "To: =?UTF-8?B?Rm9vLCBCYXI=?= <f@x.test>", []string{"Foo, Bar <f@x.test>"}},
		{"encoded word in quotes", `To: "=?utf-8?B?0JDQu9C10LrRgdCw0L3QtNGA?=" <a@x.test>`, []string{"Александр <a@x.test>"}},
		{"encoded word glued to angle", "To: =?X-IAS-German?B?bXlHb3Y=?=<info@bla.bla>", []string{"myGov <info@bla.bla>"}},
		{"raw utf-8 name and address", "To: Märy Smith <märy@exämple.net>", []string{"Märy Smith <märy@exämple.net>"}},
		{"raw latin-1 name", "To: Ingo L\xfctkebohle <ingo@x.test>", []string{"Ingo Lütkebohle <ingo@x.test>"}},
		{"junk inside angle", "To: \"postmaster@\" <junk.tld postmaster@junk.tld>", []string{"postmaster@ <postmaster@junk.tld>"}},
		{"spaces in dotted domain", "To: jdoe@test  . example", []string{" <jdoe@test.example>"}},
		{"folded inside quotes", "To: \"My\n Name\" <my@x.test>", []string{"My Name <my@x.test>"}},
		{"email as display name", "To: alice@x.test <bob@x.test>", []string{"alice@x.test <bob@x.test>"}},
		{"bare word dropped", "To: test", nil},
		{"unbalanced quote", `To: "Broken <a@x.test>, b@y.test`, []string{"Broken <a@x.test>", " <b@y.test>"}},
		{"unbalanced angle", "To: Someone <a@x.test", []string{"Someone <a@x.test>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, "From: f@x.test\n"+tc.field+"\n\n")
			got := addrs(e.To)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("To = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFieldRules(t *testing.T) {
	h := "From: First <first@x.test>\n" +
		"From: Second <second@x.test>\n" +
		"To: a@x.test\n" +
		"Cc: c1@x.test\n" +
		"To: b@x.test\n" +
		"Cc: c2@x.test\n" +
		"Message-ID: <one@x.test>\n" +
		"Message-ID: <two@x.test>\n" +
		"Subject: first\n" +
		"Subject: second\n\n" +
		"To: body@x.test\n"
	e := mustParse(t, h)
	if e.From.Addr != "first@x.test" || e.From.Name != "First" {
		t.Errorf("From = %+v, want the first", e.From)
	}
	if got := addrs(e.To); strings.Join(got, ",") != " <a@x.test>, <b@x.test>" {
		t.Errorf("To = %q, want both fields accumulated and nothing from the body", got)
	}
	if got := addrs(e.Cc); len(got) != 2 {
		t.Errorf("Cc = %q, want 2", got)
	}
	if e.MessageID != "one@x.test" || e.Synthetic {
		t.Errorf("MessageID = %q (synthetic %v), want one@x.test", e.MessageID, e.Synthetic)
	}
	if e.Subject != "first" {
		t.Errorf("Subject = %q", e.Subject)
	}
}

func TestFolding(t *testing.T) {
	tests := []struct {
		name, header string
		check        func(t *testing.T, e Envelope)
	}{
		{"crlf", "From: a@x.test\r\nSubject: crlf\r\n\r\nbody", func(t *testing.T, e Envelope) {
			if e.Subject != "crlf" || e.From.Addr != "a@x.test" {
				t.Errorf("got %+v", e)
			}
		}},
		{"mixed line ends", "From: a@x.test\nSubject: mixed\r\n folded\n\r\nbody", func(t *testing.T, e Envelope) {
			if e.Subject != "mixed folded" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"leading continuation line skipped", " stray continuation\nSubject: ok\n\n", func(t *testing.T, e Envelope) {
			if e.Subject != "ok" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"leading blank-padded line", "      \nSubject: ok\n\n", func(t *testing.T, e Envelope) {
			if e.Subject != "ok" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"missing colon line skipped with its folds", "Subject: ok\nthis is junk\n more junk\nTo: a@x.test\n\n", func(t *testing.T, e Envelope) {
			if e.Subject != "ok" || len(e.To) != 1 {
				t.Errorf("got %+v", e)
			}
		}},
		{"invalid field name skipped", "Sub ject: no\nX-Script/fn/\t !\"#$: v\nSubject: yes\n\n", func(t *testing.T, e Envelope) {
			if e.Subject != "yes" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"whitespace-only continuation", "To: a@x.test,\n\t\n b@x.test\nSubject: s\n\n", func(t *testing.T, e Envelope) {
			if len(e.To) != 2 || e.Subject != "s" {
				t.Errorf("got %+v", e)
			}
		}},
		{"whitespace-only separator", "Subject: s\n \nBody: looks like a field\n", func(t *testing.T, e Envelope) {
			if e.Subject != "s" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"mbox line", "From someone@x.test  Mon Aug 22 09:45:15 2011\nFrom: real@x.test\n\n", func(t *testing.T, e Envelope) {
			if e.From.Addr != "real@x.test" {
				t.Errorf("From = %+v", e.From)
			}
		}},
		{"byte order mark", "\xef\xbb\xbfFrom: bom@x.test\n\n", func(t *testing.T, e Envelope) {
			if e.From.Addr != "bom@x.test" {
				t.Errorf("From = %+v", e.From)
			}
		}},
		{"name and colon on separate lines", "From\n : <split@x.test>\nSubject: s\n\n", func(t *testing.T, e Envelope) {
			if e.From.Addr != "split@x.test" {
				t.Errorf("From = %+v", e.From)
			}
		}},
		{"header runs to end of file", "From: a@x.test\nSubject: no body", func(t *testing.T, e Envelope) {
			if e.Subject != "no body" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
		{"nul bytes", "Subj\x00ect: a\x00b\n\n", func(t *testing.T, e Envelope) {
			if e.Subject != "ab" {
				t.Errorf("Subject = %q", e.Subject)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustParse(t, tc.header))
		})
	}
}

func TestMessageIDs(t *testing.T) {
	tests := []struct {
		name, field, want string
	}{
		{"brackets", "Message-ID: <abc@x.test>", "abc@x.test"},
		{"no brackets", "Message-ID: 12223", "12223"},
		{"comments and spaces", "Message-ID  : <1234   @   local(blah)  .machine .example>", "1234@local.machine.example"},
		{"folded inside", "Message-ID: <abc\n def@x.test>", "abcdef@x.test"},
		{"value on continuation", "Message-ID:\n <cont@x.test>", "cont@x.test"},
		{"several ids", "Message-ID: <first@x.test> <second@x.test>", "first@x.test"},
		{"several at signs", "Message-Id: <a@b@c.test>", "a@b@c.test"},
		{"utf-8", "Message-ID: <b497e6c2@example.срб>", "b497e6c2@example.срб"},
		{"leading comment", "Message-ID: (note) <c@x.test>", "c@x.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, tc.field+"\nSubject: s\n\n")
			if e.MessageID != tc.want || e.Synthetic {
				t.Errorf("MessageID = %q (synthetic %v), want %q", e.MessageID, e.Synthetic, tc.want)
			}
		})
	}
	for _, field := range []string{"Message-ID: <>", "Message-ID:", "Message-ID: (only a comment)", "X-Other: 1",
		// Words are not an ID: two such messages must not share "no".
		"Message-ID: (a comment) no angle brackets @ all"} {
		e := mustParse(t, field+"\nSubject: s\n\n")
		if !e.Synthetic || !strings.HasPrefix(e.MessageID, "synthetic-") || !strings.HasSuffix(e.MessageID, "@crmsync.invalid") {
			t.Errorf("%q: MessageID = %q (synthetic %v), want a synthetic ID", field, e.MessageID, e.Synthetic)
		}
	}
}

func TestThreading(t *testing.T) {
	e := mustParse(t, "In-Reply-To: <p@x.test> (Bob's message)\n"+
		"References: <r1@x.test>\n <r2@x.test> <r3\n @x.test>\n"+
		"References: <ignored@x.test>\n\n")
	if e.InReplyTo != "p@x.test" {
		t.Errorf("InReplyTo = %q", e.InReplyTo)
	}
	if got := strings.Join(e.References, " "); got != "r1@x.test r2@x.test r3@x.test" {
		t.Errorf("References = %q", got)
	}
	e = mustParse(t, "In-Reply-To:\nReferences:\nSubject: s\n\n")
	if e.InReplyTo != "" || e.References != nil {
		t.Errorf("empty fields: %q %q", e.InReplyTo, e.References)
	}
}

func TestDates(t *testing.T) {
	tests := []struct {
		value string
		want  time.Time // zero: unparseable
	}{
		{"Fri, 21 Nov 1997 09:55:06 -0600", time.Date(1997, 11, 21, 15, 55, 6, 0, time.UTC)},
		{"Thu, 13 Feb 1969 23:32:54 -0330", time.Date(1969, 2, 14, 3, 2, 54, 0, time.UTC)},
		{"21 Nov 97 09:55:06 GMT", time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)},
		{"Wed, 11 Feb 98 11:51 CST", time.Date(1998, 2, 11, 17, 51, 0, 0, time.UTC)},
		{"Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", time.Date(1997, 11, 21, 15, 55, 6, 0, time.UTC)},
		{"Thu, 16 Jun 2016 00:41:19 (UTC)", time.Date(2016, 6, 16, 0, 41, 19, 0, time.UTC)},
		{"Wed, 1 May 2019 12:20", time.Date(2019, 5, 1, 12, 20, 0, 0, time.UTC)},
		{"Mon, 01 Apr 2019 07:55:00 +0800 (CST)", time.Date(2019, 3, 31, 23, 55, 0, 0, time.UTC)},
		{"", time.Time{}},
		{"Malformed Date.", time.Time{}},
		{"{{date}}", time.Time{}},
	}
	for _, tc := range tests {
		e := mustParse(t, "Date: "+tc.value+"\nSubject: s\n\n")
		if !e.Date.Equal(tc.want) {
			t.Errorf("Date %q = %v, want %v", tc.value, e.Date, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name, input string
	}{
		{"empty", ""},
		{"lone newline", "\n"},
		{"starts with empty line", "\r\nFrom: a@x.test\r\n"},
		{"text without header", "Hello there, this is just text.\nNo fields.\n"},
		{"only continuation lines", "  indented\n\tmore\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(strings.NewReader(tc.input))
			if !errors.Is(err, ErrNotMessage) {
				t.Fatalf("err = %v, want ErrNotMessage", err)
			}
			if !strings.HasPrefix(err.Error(), "maildir: ") || len(err.Error()) < 30 {
				t.Errorf("error %q does not give a reason", err)
			}
		})
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	// A 2 MB header block (a long DKIM-like field) still parses.
	big := "X-Big: " + strings.Repeat("a", 100) + strings.Repeat("\n "+strings.Repeat("b", 998), 2048) + "\n"
	e, err := ParseHeader(strings.NewReader("From: a@x.test\n" + big + "Subject: after\n\nbody"))
	if err != nil {
		t.Fatalf("2 MB header: %v", err)
	}
	if e.Subject != "after" {
		t.Errorf("Subject = %q", e.Subject)
	}
	// Beyond the cap: refused, without reading on.
	huge := "From: a@x.test\nX-Huge: " + strings.Repeat("x", MaxHeaderBytes) + "\n\n"
	_, err = ParseHeader(strings.NewReader(huge))
	if !errors.Is(err, ErrHeaderTooLarge) || !strings.Contains(err.Error(), "header block too large") {
		t.Fatalf("err = %v, want ErrHeaderTooLarge", err)
	}
}

// failReader fails the test when read: it stands for a body that must not be read.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the body was read")
	return 0, io.EOF
}

func TestStopsAtEmptyLine(t *testing.T) {
	r := io.MultiReader(strings.NewReader("From: a@x.test\r\nSubject: s\r\n\r\n"), failReader{t})
	if _, err := ParseHeader(r); err != nil {
		t.Fatal(err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadError(t *testing.T) {
	_, err := ParseHeader(io.MultiReader(strings.NewReader("From: a@x.test\n"), errReader{}))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the read error", err)
	}
}

// TestManyWords checks that a field of tens of thousands of adjacent encoded
// words decodes in linear time.
func TestManyWords(t *testing.T) {
	const n = 40000
	var sb strings.Builder
	sb.WriteString("From: a@x.test\nSubject:")
	for i := 0; i < n; i++ {
		sb.WriteString(" =?utf-8?q?=C3=A9?=\n")
	}
	sb.WriteString("To: Name")
	for i := 0; i < n; i++ {
		sb.WriteString(" =?utf-8?q?=C3?= =?utf-8?q?=A9?=\n")
	}
	sb.WriteString(" <to@x.test>\n\n")
	start := time.Now()
	e := mustParse(t, sb.String())
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if e.Subject != strings.Repeat("é", n) {
		t.Errorf("Subject has %d runes, want %d", utf8.RuneCountInString(e.Subject), n)
	}
	if len(e.To) != 1 || e.To[0].Name != "Name "+strings.Repeat("é", n) {
		t.Errorf("To = %d addresses", len(e.To))
	}
}

func TestSyntheticID(t *testing.T) {
	base := "Date: Mon, 1 Apr 2019 07:55:00 +0800\nFrom: a@x.test\nTo: b@x.test\nCc: c@x.test\nSubject: hello\n"
	id := func(h string) string {
		e := mustParse(t, h+"\n")
		if !e.Synthetic {
			t.Fatalf("not synthetic: %q", e.MessageID)
		}
		return e.MessageID
	}
	a := id(base)
	if a != id(base) {
		t.Error("same input, different IDs")
	}
	if len(a) != len("synthetic-")+32+len("@crmsync.invalid") {
		t.Errorf("unexpected form %q", a)
	}
	// Folding and volatile fields do not matter.
	if b := id(strings.Replace(base, "Subject: hello", "Subject:\n  hello", 1) + "Status: RO\nX-Keywords: x\n"); b != a {
		t.Errorf("refolded: %q != %q", b, a)
	}
	if b := id("Received: from somewhere\n" + base); b != a {
		t.Errorf("extra Received changed the ID")
	}
	for _, change := range []string{"Subject: hello!", "From: z@x.test", "To: z@x.test", "Cc: z@x.test", "Date: Mon, 1 Apr 2019 07:55:01 +0800"} {
		name := change[:strings.IndexByte(change, ':')]
		lines := strings.Split(base, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, name+":") {
				lines[i] = change
			}
		}
		if b := id(strings.Join(lines, "\n")); b == a {
			t.Errorf("changing %s kept the ID", name)
		}
	}
	// Messages with none of the five fields still differ.
	if id("Content-Type: text/plain\n") == id("Content-Type: text/html\n") {
		t.Error("field-less messages share an ID")
	}
}

func TestNeverPanicsOnJunk(t *testing.T) {
	junk := []string{
		"=?", "=?utf-8?", "=?utf-8?q?", "=?utf-8?b?=?=", ":", "::::", "From:<", "From:\"", "From:(", "To: <<<>>>",
		"To: \"\\", "To: (\\", "Subject: =?utf-8?q?=?=", "Subject: =?utf-8?q?=F?=", "To: @", "To: @:;", "To: :;,<>@",
		string(bytes.Repeat([]byte{0xff}, 100)), "From: \xff\xfe<\xff@\xfe>",
	}
	for _, j := range junk {
		e, err := ParseHeader(strings.NewReader(j + "\n\n"))
		if err == nil {
			checkUTF8(t, e)
		}
	}
}
