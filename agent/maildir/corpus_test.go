package maildir

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"crmsync/agent/internal/corpus"
)

// expectedRefusals are the corpus files that are not messages, with the
// reason ParseHeader must give.
var expectedRefusals = map[string]string{
	"enmime-erroneous.eml":                "no line before the first empty line is a header field", // one line of text
	"mime4j-malformedHeader-noheader.eml": "no line before the first empty line is a header field", // text, no header
	"spamscope-mail_outlook_1.eml":        "no line before the first empty line is a header field", // OLE2 binary
	"letters-test_english_empty.eml":      "starts with an empty line",                             // zero fields
	"spamassassin-spam-bsmtpnull.eml":     "starts with an empty line",                             // a lone LF
}

func TestCorpus(t *testing.T) {
	files := corpus.Files(t)
	parsed, refused := 0, 0
	for _, f := range files {
		base := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ParseHeader(bytes.NewReader(data))
		want, expectRefusal := expectedRefusals[base]
		switch {
		case err != nil && expectRefusal:
			refused++
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refused with %q, want a reason containing %q", base, err, want)
			}
		case err != nil:
			refused++
			t.Errorf("%s: unexpectedly refused: %v", base, err)
		case expectRefusal:
			parsed++
			t.Errorf("%s: parsed, but it is not a message", base)
		default:
			parsed++
			checkUTF8(t, e)
			if e.MessageID == "" {
				t.Errorf("%s: empty MessageID", base)
			}
		}
	}
	t.Logf("corpus: %d files, %d parsed, %d refused", len(files), parsed, refused)
	if refused > len(expectedRefusals) {
		t.Errorf("%d refused, at most %d expected", refused, len(expectedRefusals))
	}
}

// TestCorpusDecoding pins the decoded text of corpus messages whose header
// exercises one charset or defect each.
func TestCorpusDecoding(t *testing.T) {
	dir := corpus.Dir(t)
	tests := []struct {
		file, what, want string
		get              func(Envelope) string
	}{
		{"jpmobile-au-email.eml", "ISO-2022-JP subject", "※本文はこのままで送信してね", subject},
		{"mimekit-japanese.eml", "ISO-2022-JP split over a fold", "日本語メールテスト (testing Japanese emails)", subject},
		{"mikelmail-example14.eml", "ISO-2022-JP after whitespace-only fold", "Re: TEST テストテスト", subject},
		{"letters-test_chinese_plaintext_gb18030_over_base64.eml", "GB18030 subject", "📧 Test 施氏食狮史", subject},
		{"letters-test_chinese_plaintext_gb18030_over_base64.eml", "GB18030 name", "艾莉絲 发件人", fromName},
		{"letters-test_chinese_plaintext_gbk_over_quoted-printable.eml", "GBK subject", "📧 Test 施氏食狮史", subject},
		{"spamscope-mail_test_9.eml", "GB2312 label holding GBK", "我把镜头拉近些，你们看看这个是什么屄，这种场合自然少不了内射", subject},
		{"letters-test_japanese_plaintext_euc-jp_over_base64.eml", "EUC-JP name", "郵便アリス", fromName},
		{"letters-test_korean_plaintext_euc-kr_over_base64.eml", "EUC-KR subject", "📧 Test 한국어 팬그램", subject},
		{"webklex-ks_c_5601-1987_headers.eml", "ks_c_5601-1987 subject", "RE: 회원님께 Ersi님이 메시지를 보냈습니다.", subject},
		{"letters-test_thai_plaintext_tis-620_over_quoted-printable.eml", "TIS-620 subject", "📧 Test แพนแกรมภาษาไทย", subject},
		{"letters-test_thai_plaintext_windows-874_over_base64.eml", "windows-874 subject", "📧 Test แพนแกรมภาษาไทย", subject},
		{"webklex-mixed_filename.eml", "windows-1251 subject", "Свежий прайс-лист", subject},
		{"webklex-mixed_filename.eml", "windows-1251 name", "Прайсы || ПартКом", fromName},
		{"phpmimeparser-issue116.eml", "ISO-2022-JP with Cyrillic and an NEC character", "ЖД№41 от 28.09.2016", subject},
		{"phpmimeparser-issue149.eml", "iso-8859-8-i subject", "מענה 'אני לא נמצא': Invoice 02722027", subject},
		{"spamassassin-nice-unicode1.eml", "character split across words, language suffix", "Domače omrežje", subject},
		{"spamassassin-spam-utf16.eml", "UTF-16 without byte order mark", "Design and manufacturing", subject},
		{"flanker-broken-headers.eml", "raw windows-1252 byte", "Forget Asking For A Link Exchange…", subject},
		{"flanker-from-encoding.eml", "raw Latin-1 name", "Ingo Lütkebohle", fromName},
		{"webklex-undefined_charset_header.eml", "unknown charset", "Submit your tax refund | Australian Taxation Office.", subject},
		{"mikelmail-bad_encoded_subject.eml", "charset NONE, bad padding", "TEST", subject},
		{"flanker-encoded-header.eml", "encoded comma in name", "Foo, Bar", fromName},
		{"rspamd-phish_sender2.eml", "field name and colon on two lines", "any@attack.com", fromAddr},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			e, err := ParseHeader(f)
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if got := tc.get(e); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}

func subject(e Envelope) string  { return e.Subject }
func fromName(e Envelope) string { return e.From.Name }
func fromAddr(e Envelope) string { return e.From.Addr }

func BenchmarkParseHeader(b *testing.B) {
	var msgs [][]byte
	total := 0
	for _, f := range corpus.Files(b) {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, data)
		total += len(data)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			ParseHeader(bytes.NewReader(m))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
}
