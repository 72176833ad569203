package mimetext

import (
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"br in any case", "a<BR>b<br>c<Br>d", "a\nb\nc\nd"},
		{"self-closing br", "a<br/>b<br />c", "a\nb\nc"},
		{"end tag br is a br", "a</br>b", "a\nb"},
		{"br run capped at one blank line", "a<br><br><br><br>b", "a\n\nb"},
		{"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
		{"paragraph without end tags", "<P>one<P>two", "one\n\ntwo"},
		{"divs are lines", "<div>one</div><div>two</div>", "one\ntwo"},
		{"empty div line", "<div>Hi,</div><div><br></div><div>Thanks</div>", "Hi,\n\nThanks"},
		{"nbsp-only line is an empty line", "<div>Hi,</div><div>&nbsp;</div><div>Thanks</div>", "Hi,\n\nThanks"},
		{"word paragraphs have no margins", "<p class=MsoNormal>Hi,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>" +
			"<p class=\"MsoNormal\" style=\"x\">Thanks<o:p></o:p></p><p class=MsoNormal>Ann</p>", "Hi,\n\nThanks\nAnn"},
		{"word list paragraphs", "<p class=\"MsoListParagraphCxSpFirst\">a</p><p class=MsoListParagraphCxSpLast>b</p><p>c</p>", "a\nb\n\nc"},
		{"quoted word paragraphs", "<p class=\"x_x_MsoNormal\">a</p><p class=\"x_MsoNormal\">b</p>", "a\nb"},
		{"paragraph then br", "<html><style>p{}</style><p>Dear&nbsp;Ann,</p><br>See you.</html>", "Dear\u00a0Ann,\n\nSee you."},
		{"headings", "<h1>Title</h1>text<h2>Sub</h2>more", "Title\n\ntext\n\nSub\n\nmore"},
		{"list", "<ul><li>one</li><li>two</li></ul>after", "• one\n• two\n\nafter"},
		{"ordered list, items unclosed", "<ol><li>x<li>y<li>z</ol>", "1. x\n2. y\n3. z"},
		{"nested lists", "<ul><li>one<ul><li>a</li><li>b<ol><li>i</li></ol></li></ul></li><li>two</li></ul>",
			"• one\n  • a\n  • b\n    1. i\n• two"},
		{"item with paragraph", "<ul><li><p>one</p></li></ul>", "• one"},
		{"empty item shows nothing", "<ul><li></li><li>b</li></ul>", "• b"},
		{"table rows are lines, cells are words", "<table><tr><td>a</td><td>b</td></tr><tr><th>c<th>d</table>", "a b\nc d"},
		{"comment", "x<!-- hidden -->y", "xy"},
		{"comment containing tags", "a<!-- <p>hidden</p><br><script> -->b", "ab"},
		{"conditional comment", "<!--[if mso]><xml><o:x>hidden</o:x></xml><![endif]-->shown", "shown"},
		{"gt inside attribute value", `<a title="a > b" href="x?a>b">link</a> text`, "link text"},
		{"gt inside single-quoted value", `<img alt='1 > 0'>ok`, "ok"},
		{"script dropped", "a<script>document.write('<p>x</p>')</script>b", "ab"},
		{"script with a fake end inside a string", "a<script>var s = '</scr' + 'ipt>';</script>b", "ab"},
		{"style dropped", "<style>p { color: red }</style>text", "text"},
		{"head dropped", "<html><head><title>T</title><meta charset=utf-8><style>b{}</style></head><body>Hi</body></html>", "Hi"},
		{"unclosed script drops the rest", "a<script>b", "a"},
		{"template and noscript dropped", "a<template><p>t</p></template><noscript>n</noscript>b", "ab"},
		{"entities", "&lt;tag&gt; &amp; &quot;q&quot; &#x1F600; &eacute;&#233;", "<tag> & \"q\" 😀 éé"},
		{"entity without semicolon", "AT&amp;T &copy 2024", "AT&T © 2024"},
		{"nbsp kept", "Dear&nbsp;Ann", "Dear\u00a0Ann"},
		{"whitespace collapsed", "  lots   of \n\n\t spaces  ", "lots of spaces"},
		{"whitespace across inline tags", "a <b> bold </b> c", "a bold c"},
		{"no space added across inline tags", "a<b>b</b>c", "abc"},
		{"pre keeps blanks", "<pre>  code\n    indented\r\n</pre>after", "  code\n    indented\n\nafter"},
		{"blockquote", "reply<blockquote>quoted</blockquote>", "reply\n\nquoted"},
		{"hr", "a<hr>b", "a\n\nb"},
		{"unknown tags are inline", "a<o:p>b</o:p><custom-el>c</custom-el>", "abc"},
		{"bare lt", "1 < 2 and 3 > 2", "1 < 2 and 3 > 2"},
		{"text only", "just text", "just text"},
		{"empty", "", ""},
		{"only markup", "<html><body><div></div></body></html>", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := HTMLText(tc.in, 1<<20)
			if got != tc.want || cut {
				t.Errorf("HTMLText(%q) = %q (cut %v), want %q", tc.in, got, cut, tc.want)
			}
		})
	}
}

func TestHTMLTextBound(t *testing.T) {
	got, cut := HTMLText("<p>éééé</p><p>more</p>", 5)
	if got != "éé" || !cut {
		t.Errorf("cut in a character: %q (cut %v)", got, cut)
	}
	if got, cut := HTMLText("abc", 0); got != "" || !cut {
		t.Errorf("max 0: %q (cut %v)", got, cut)
	}
	if got, cut := HTMLText("abc", 3); got != "abc" || cut {
		t.Errorf("exact fit: %q (cut %v)", got, cut)
	}
}

// TestHTMLTextLarge: a 2 MB HTML body yields at most limit bytes of text and
// costs memory in proportion to its size, not more.
func TestHTMLTextLarge(t *testing.T) {
	var sb strings.Builder
	for sb.Len() < 2<<20 {
		sb.WriteString(`<div class="row"><p style="margin:0">Line of text &amp; more <a title="x > y" href="https://x.test/">link</a></p>` +
			"<!-- comment <br> --><ul><li>item<li>item</ul><script>var a = '<p>';</script><BR></div>\n")
	}
	in := sb.String()
	const limit = 256 << 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, cut := HTMLText(in, limit)
	runtime.ReadMemStats(&after)
	if !cut || len(got) > limit || len(got) < limit-200 {
		t.Errorf("len %d cut %v, want about %d and cut", len(got), cut, limit)
	}
	if !utf8.ValidString(got) || strings.Contains(got, "<") || strings.Contains(got, "var a") || strings.Contains(got, "\n\n\n") {
		t.Errorf("unexpected text: %q…", got[:200])
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(in)) {
		t.Errorf("allocated %d bytes for %d bytes of HTML", alloc, len(in))
	}
	// The whole of it, without a cut.
	got, cut = HTMLText(in, len(in))
	if cut || len(got) > len(in) {
		t.Errorf("uncut: len %d cut %v", len(got), cut)
	}
}

// TestHTMLTextDeepNesting: hostile nesting costs linear time and bounded
// indentation.
func TestHTMLTextDeepNesting(t *testing.T) {
	in := strings.Repeat("<ul><li>x", 100000)
	got, _ := HTMLText(in, 1<<20)
	for _, line := range strings.Split(got, "\n") {
		if len(line) > 2*maxIndent+len("• x") {
			t.Fatalf("line of %d bytes: %q", len(line), line)
		}
	}
	got, _ = HTMLText(strings.Repeat("<template>", 100000)+"x", 1<<20)
	if got != "" {
		t.Errorf("inside templates: %q", got)
	}
}

func BenchmarkHTMLText(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 64<<10 {
		sb.WriteString(`<p class=MsoNormal>Dear Ann, <b>thanks</b> &amp; <a href="https://x.test/?a=1&b=2">see here</a><o:p></o:p></p>` +
			"<!-- note --><ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		HTMLText(s, 1<<20)
	}
}
