package batch

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// answerPart is one top-level part of the answer: the answer of a lone
// operation, or the answers of a change set (of a failed one, the failing
// answer alone).
type answerPart struct {
	single *answer
	set    []*answer
}

// skipHeaders are not copied into a part: they describe the connection, and
// the part's length is given by the delimiters.
var skipHeaders = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Trailer": true, "Upgrade": true,
}

// spelled writes well-known headers the way Dataverse spells them; HTTP
// header names are case-insensitive, but clients' eyes and logs are not.
var spelled = map[string]string{
	"Odata-Entityid":     "OData-EntityId",
	"Odata-Version":      "OData-Version",
	"Odata-Maxversion":   "OData-MaxVersion",
	"Etag":               "ETag",
	"Content-Id":         "Content-ID",
	"Preference-Applied": "Preference-Applied",
}

// encode writes the multipart/mixed body of the answer and returns it with
// its boundary.
func encode(parts []answerPart) (string, []byte) {
	boundary := "batchresponse_" + newUUID()
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "\r\n")
		if p.single != nil {
			writeHTTPPart(&b, p.single)
			continue
		}
		cs := "changesetresponse_" + newUUID()
		b.WriteString("Content-Type: multipart/mixed; boundary=" + cs + "\r\n\r\n")
		for j, a := range p.set {
			if j > 0 {
				b.WriteString("\r\n")
			}
			b.WriteString("--" + cs + "\r\n")
			writeHTTPPart(&b, a)
		}
		b.WriteString("\r\n--" + cs + "--")
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return boundary, b.Bytes()
}

// writeHTTPPart writes one application/http part: MIME headers, then the
// response as it would travel on its own.
func writeHTTPPart(b *bytes.Buffer, a *answer) {
	b.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if a.contentID != "" {
		b.WriteString("Content-ID: " + clean(a.contentID) + "\r\n")
	}
	b.WriteString("\r\n")
	text := http.StatusText(a.status)
	if text == "" {
		text = "Status " + fmt.Sprint(a.status)
	}
	fmt.Fprintf(b, "HTTP/1.1 %d %s\r\n", a.status, text)
	keys := make([]string, 0, len(a.header))
	for k := range a.header {
		if !skipHeaders[http.CanonicalHeaderKey(k)] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := http.CanonicalHeaderKey(k)
		if s, ok := spelled[name]; ok {
			name = s
		}
		for _, v := range a.header[k] {
			b.WriteString(name + ": " + clean(v) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	b.Write(a.body)
}

// clean keeps a header value on one line, as net/http does.
func clean(v string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
}

// newUUID returns a random (version 4) UUID, as Dataverse's boundaries use.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
