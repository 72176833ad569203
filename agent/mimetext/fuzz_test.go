package mimetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		" =?utf-8?q?caf=C3=A9?= =?utf-8?B?w6k=?=",
		"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=",
		"=?utf-16?B?aABpAA==?= =?x-unknown?q?=EF?= =?utf-8*en? Q?a_b?=",
		"=?utf-8?B?VEVTVA=?= =?utf-8?B?!!!?= =?utf-8?q?abc",
		"Forma\xe7\xe3o \x00 \xff=?gb2312?b?ztLO?=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := Header(raw)
		if !utf8.ValidString(got) {
			t.Fatalf("Header(%q) = %q: not valid UTF-8", raw, got)
		}
		if !collapsed(got) {
			t.Fatalf("Header(%q) = %q: not collapsed", raw, got)
		}
		if strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Header(%q) = %q: holds a NUL", raw, got)
		}
	})
}

func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{
		"<p class=MsoNormal>Hi,<o:p>&nbsp;</o:p></p><div><br></div><BR/>x",
		"<ul><li>a<ol><li>b</ol></ul><table><tr><td>c<td>d</table>",
		"<!-- <p> --><a title='a > b'>t</a><script>x</script><style>y",
		"<pre> a\n\tb </pre><template><p>t</template>&amp;&#x1F600;&nbsp",
	} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit &= 0xffff
		got, cut := HTMLText(s, limit)
		if len(got) > limit {
			t.Fatalf("HTMLText(%q, %d): %d bytes", s, limit, len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("HTMLText(%q, %d) = %q: not valid UTF-8", s, limit, got)
		}
		if strings.Contains(got, "\n\n\n") || strings.HasPrefix(got, "\n") {
			t.Fatalf("HTMLText(%q, %d) = %q: more than one blank line", s, limit, got)
		}
		for _, line := range strings.Split(got, "\n") {
			if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
				t.Fatalf("HTMLText(%q, %d) = %q: a line ends in a blank", s, limit, got)
			}
		}
		if !cut && len(s) <= limit {
			// The whole text fits: a larger bound changes nothing.
			if again, _ := HTMLText(s, 2*limit+16); again != got {
				t.Fatalf("HTMLText(%q): %q at %d, %q at %d", s, got, limit, again, 2*limit+16)
			}
		}
	})
}
