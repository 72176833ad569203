package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
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
		// HTML goes through mimetext.HTMLText; the old hand-made stripper got
		// each of these wrong (its output in the comment).
		{"html br in capitals", "Content-Type: text/html\r\n\r\nLine one<BR>Line two<Br/>three", "Line one\nLine two\nthree", false},                                            // "Line oneLine twothree"
		{"html comment holding tags", "Content-Type: text/html\r\n\r\na<!-- <p>hidden</p> -->b", "ab", false},                                                                   // "ahidden\n\n -->b"
		{"html gt in an attribute", "Content-Type: text/html\r\n\r\n<a title=\"a > b\" href=\"x\">link</a> text", "link text", false},                                           // "b\" href=\"x\">link text"
		{"html head and script dropped", "Content-Type: text/html\r\n\r\n<html><head><title>News</title></head><body><script>x()</script><p>Hi</p></body></html>", "Hi", false}, // "NewsHi"
		{"html source layout collapsed", "Content-Type: text/html\r\n\r\n<ul>\r\n  <li>one</li>\r\n  <li>two</li>\r\n</ul>", "• one\n• two", false},                             // "one\r\n  two"
		{"html in windows-1252, quoted-printable", "Content-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Caf=E9&nbsp;&amp; cr=E8me</p>", "Café\u00a0& crème", false},
		// Charsets go through mimetext.Decode, as the header parser's do.
		{"unknown charset keeps utf-8", "Content-Type: text/plain; charset=x-unknown\r\n\r\nna\xc3\xafve", "naïve", false},              // "naÃ¯ve"
		{"utf-8 with a stray latin-1 byte", "Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 cr\xc3\xa8me", "café crème", false}, // "café crÃ¨me"
		{"utf-16 without bom, big-endian", "Content-Type: text/plain; charset=utf-16\r\n\r\n\x00h\x00i", "hi", false},                   // "栀椀"
		{"charset alias", "Content-Type: text/plain; charset=cp932\r\n\r\n\x83e\x83X\x83g", "テスト", false},                               // "ƒeƒXƒg"
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
	// HTML of 2 MB, whose text alone is longer than the description, and
	// HTML beyond what is read of a part: both cut to the bound and marked.
	for _, size := range []int{2 << 20, 5 * MaxBodyText} {
		var sb strings.Builder
		sb.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
		for sb.Len() < size {
			sb.WriteString("<p>Some text, <B>bold</B> &amp; <a title=\"x > y\">more</a>: " + strings.Repeat("words and words ", 20) + "</p><!-- <br> --><BR>\r\n")
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got, truncated, err := BodyText(strings.NewReader(sb.String()))
		runtime.ReadMemStats(&after)
		if err != nil || !truncated || len(got) > MaxBodyText+len("\n[…]") || len(got) < MaxBodyText-100 ||
			!strings.HasSuffix(got, "[…]") || strings.Contains(got, "<") || strings.Contains(got, "\n\n\n") {
			t.Errorf("%d bytes of html: len %d truncated %v err %v", size, len(got), truncated, err)
		}
		// What is read of a part is bounded (readLimit), so the memory one
		// message costs is too, however large the part.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*4*MaxBodyText {
			t.Errorf("%d bytes of html: %d bytes allocated", size, alloc)
		}
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

// TestBodyTextCorpus reads the body of every message of the project's mail
// corpus ($CRMSYNC_MAIL_CORPUS, or shared/corpus/mail above the working
// directory): each gives valid UTF-8 within the bound, or an error that says
// why, and none panics.
func TestBodyTextCorpus(t *testing.T) {
	dir := os.Getenv("CRMSYNC_MAIL_CORPUS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for d := wd; ; d = filepath.Dir(d) {
			if fi, err := os.Stat(filepath.Join(d, "shared", "corpus", "mail")); err == nil && fi.IsDir() {
				dir = filepath.Join(d, "shared", "corpus", "mail")
				break
			}
			if filepath.Dir(d) == d {
				t.Fatal("mail corpus not found: set CRMSYNC_MAIL_CORPUS or provide shared/corpus/mail in a parent directory")
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .eml files in %s (%v)", dir, err)
	}
	read, refused := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := BodyText(bytes.NewReader(data))
		if err != nil {
			refused++
			if !strings.HasPrefix(err.Error(), "outbox: read message: ") {
				t.Errorf("%s: error without its reason: %v", filepath.Base(f), err)
			}
			continue
		}
		read++
		if !utf8.ValidString(text) || len(text) > MaxBodyText+len("\n[…]") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v", filepath.Base(f), len(text), utf8.ValidString(text))
		}
	}
	t.Logf("corpus: %d files, %d bodies read, %d refused", len(files), read, refused)
}
