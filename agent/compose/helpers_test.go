package compose

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock of the tests.
var fixedNow = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func init() { now = func() time.Time { return fixedNow } }

// checkLines fails unless every line ends in CRLF (no bare CR or LF) and
// none is longer than 998 octets.
func checkLines(t testing.TB, msg []byte) {
	t.Helper()
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		t.Errorf("the message does not end in CRLF")
	}
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > maxLine {
			t.Fatalf("line %d is %d octets long: %.80q…", i+1, len(line), line)
		}
	}
}

// leaf is one non-multipart part of a message, decoded.
type leaf struct {
	path     string // media types from the top, as "multipart/mixed/multipart/alternative/text/plain"
	ctype    string
	params   map[string]string
	header   map[string][]string
	filename string
	data     []byte
}

// parse reads msg with net/mail and mime/multipart into its leaves.
func parse(t testing.TB, msg []byte) (*mail.Message, []leaf) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v", err)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []leaf
	walkPart(t, "", m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Header, body, &leaves)
	return m, leaves
}

func walkPart(t testing.TB, path, ctype, cte, filename string, h map[string][]string, body []byte, out *[]leaf) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("%s: Content-Type %q: %v", path, ctype, err)
	}
	path += "/" + mt
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			walkPart(t, path, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.FileName(), p.Header, b, out)
		}
	}
	var data []byte
	switch strings.ToLower(cte) {
	case "quoted-printable":
		data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	case "base64":
		data, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(body)))
	default:
		data = body
	}
	if err != nil {
		t.Fatalf("%s: decode %s: %v", path, cte, err)
	}
	*out = append(*out, leaf{path: strings.TrimPrefix(path, "/"), ctype: mt, params: params, header: h, filename: filename, data: data})
}

// paths lists the leaves' paths.
func paths(leaves []leaf) []string {
	var ps []string
	for _, l := range leaves {
		ps = append(ps, l.path)
	}
	return ps
}

// decodeHeader decodes the encoded words of a header value.
func decodeHeader(t testing.TB, s string) string {
	t.Helper()
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return d
}

// sample is an email every test starts from.
func sample() Email {
	return Email{
		MessageID: "crm-0b7d6c1e-1f2a-4c3b-9d8e-7f6a5b4c3d2e@crmsync.invalid",
		Date:      time.Date(2026, 3, 2, 14, 5, 0, 0, time.FixedZone("CET", 3600)),
		From:      Address{Name: "Ann Example", Addr: "ann@example.com"},
		To:        []Address{{Name: "Bob", Addr: "bob@example.org"}},
		Subject:   "Hello",
		HTML:      "<p>Hi Bob,</p><p>see you.</p>",
	}
}

func mustBuild(t testing.TB, e Email) []byte {
	t.Helper()
	msg, err := Build(e)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	checkLines(t, msg)
	return msg
}
