package batch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"unicode/utf8"
)

// maxURL is the longest inner URL: batches exist partly to carry URLs up
// to 64 KB (65,536 characters), longer than a request line may be.
const maxURL = 65536

// op is one inner request of a batch, as written.
type op struct {
	where     string // "part 3" or "operation 2 of the change set in part 3", for messages
	contentID string // the part's Content-ID, "" when none
	method    string
	target    string // the request target as written on the request line
	header    http.Header
	body      []byte
}

// part is one top-level part of a batch: a lone operation or a change set.
type part struct {
	op  *op   // a lone operation; nil for a change set
	set []*op // the operations of a change set, in order
}

// parse reads a whole $batch body. Every structural error is found here,
// before anything runs, so that a malformed batch changes nothing.
func parse(body []byte, contentType string, maxOps int) ([]part, *apiError) {
	boundary, err := boundaryOf(contentType, "The $batch request")
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(body, []byte("--"+boundary)) {
		return nil, bad("The body contains no delimiter --%s; it does not match the boundary of the Content-Type.", boundary)
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []part
	ops := 0
	for n := 1; ; n++ {
		p, perr := mr.NextRawPart()
		if perr == io.EOF {
			break
		}
		where := fmt.Sprintf("part %d", n)
		if perr != nil {
			return nil, multipartError(perr, where, boundary)
		}
		data, rerr := io.ReadAll(p)
		if rerr != nil {
			return nil, multipartError(rerr, where, boundary)
		}
		mt, params, merr := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case merr != nil:
			return nil, bad("%s of the batch has no valid Content-Type (%q); use application/http for an operation or multipart/mixed for a change set.", where, p.Header.Get("Content-Type"))
		case mt == "application/http":
			o, err := readOp(data, p.Header, where)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{op: o})
			ops++
		case mt == "multipart/mixed":
			set, err := readChangeSet(data, params, where)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{set: set})
			ops += len(set)
		default:
			return nil, bad("%s of the batch has Content-Type %q; use application/http for an operation or multipart/mixed for a change set.", where, mt)
		}
		if ops > maxOps {
			return nil, bad("The batch contains more than %d operations (operations inside change sets count too); split it into several batches.", maxOps)
		}
	}
	if len(parts) == 0 {
		return nil, bad("The batch contains no operations.")
	}
	return parts, nil
}

// boundaryOf checks a multipart/mixed Content-Type and returns its boundary.
func boundaryOf(contentType, what string) (string, *apiError) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" {
		return "", bad("%s must have Content-Type multipart/mixed with a boundary, for example multipart/mixed; boundary=\"batch_<id>\"; got %q.", what, contentType)
	}
	b := params["boundary"]
	if b == "" {
		return "", bad("The Content-Type of %s has no boundary parameter: %q.", lowerFirst(what), contentType)
	}
	return b, checkBoundary(b, what)
}

// checkBoundary applies RFC 2046: a boundary is 1 to 70 characters.
func checkBoundary(b, what string) *apiError {
	if b == "" || len(b) > 70 || strings.ContainsAny(b, "\r\n") {
		return bad("The boundary %q of %s is not a valid multipart boundary (1 to 70 characters).", truncate(b, 80), lowerFirst(what))
	}
	return nil
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

// multipartError explains a failure of the multipart reader.
func multipartError(err error, where, boundary string) *apiError {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return bad("The body ends inside %s, before the closing delimiter --%s--.", where, boundary)
	}
	return bad("%s is not valid multipart content (%v).", where, err)
}

// readChangeSet parses the body of a change-set part.
func readChangeSet(data []byte, params map[string]string, where string) ([]*op, *apiError) {
	boundary := params["boundary"]
	if boundary == "" {
		return nil, bad("The change set in %s has no boundary parameter in its Content-Type.", where)
	}
	if err := checkBoundary(boundary, "The change set in "+where); err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	var set []*op
	ids := map[string]bool{}
	for n := 1; ; n++ {
		p, perr := mr.NextRawPart()
		if perr == io.EOF {
			break
		}
		in := fmt.Sprintf("operation %d of the change set in %s", n, where)
		if perr != nil {
			return nil, multipartError(perr, in, boundary)
		}
		body, rerr := io.ReadAll(p)
		if rerr != nil {
			return nil, multipartError(rerr, in, boundary)
		}
		mt, _, merr := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch {
		case merr == nil && mt == "multipart/mixed":
			return nil, bad("Change sets cannot be nested: %s is itself a change set.", in)
		case merr != nil || mt != "application/http":
			return nil, bad("%s must have Content-Type application/http; got %q.", in, p.Header.Get("Content-Type"))
		}
		o, err := readOp(body, p.Header, in)
		if err != nil {
			return nil, err
		}
		switch o.method {
		case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		default:
			return nil, bad("%s is a %s request; a change set may only contain POST, PATCH, PUT and DELETE requests (send reads outside change sets).", in, o.method)
		}
		if o.contentID != "" {
			if ids[o.contentID] {
				return nil, bad("The Content-ID '%s' is used more than once in the change set in %s; Content-IDs must be unique within a change set.", o.contentID, where)
			}
			ids[o.contentID] = true
		}
		set = append(set, o)
	}
	if len(set) == 0 {
		return nil, bad("The change set in %s contains no operations.", where)
	}
	return set, nil
}

// readOp parses the body of an application/http part: request line,
// headers, blank line, body.
func readOp(data []byte, partHeader textproto.MIMEHeader, where string) (*op, *apiError) {
	if cte := partHeader.Get("Content-Transfer-Encoding"); !strings.EqualFold(strings.TrimSpace(cte), "binary") {
		return nil, bad("%s must have the header Content-Transfer-Encoding: binary (got %q).", where, cte)
	}
	o := &op{where: where, contentID: strings.TrimSpace(partHeader.Get("Content-ID"))}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(data)))
	line, err := tp.ReadLine()
	if err != nil || strings.TrimSpace(line) == "" {
		return nil, bad("%s has no request line; it must start with a line such as 'GET accounts HTTP/1.1'.", where)
	}
	f := strings.Fields(line)
	if len(f) != 3 {
		return nil, bad("The request line of %s is not of the form 'METHOD URL HTTP/1.1': %q.", where, truncate(line, 200))
	}
	o.method, o.target = f[0], f[1]
	if f[2] != "HTTP/1.1" && f[2] != "HTTP/1.0" {
		return nil, bad("The request line of %s names %q; only HTTP/1.1 is supported.", where, truncate(f[2], 40))
	}
	if !isToken(o.method) {
		return nil, bad("The request line of %s has an invalid method %q.", where, truncate(o.method, 40))
	}
	if len(o.target) > maxURL {
		return nil, bad("The URL of %s is longer than %d characters.", where, maxURL)
	}
	if !utf8.ValidString(o.target) {
		return nil, bad("The URL of %s is not valid UTF-8.", where)
	}
	h, herr := tp.ReadMIMEHeader()
	if herr != nil && herr != io.EOF { // EOF: the part ends after the headers, so no body
		return nil, bad("The headers of %s are malformed (%v).", where, herr)
	}
	o.header = http.Header(h)
	if o.header == nil {
		o.header = http.Header{}
	}
	rest, _ := io.ReadAll(tp.R) // reading from memory cannot fail
	if len(bytes.TrimSpace(rest)) > 0 {
		o.body = rest
	}
	if err := checkJSON(o); err != nil {
		return nil, err
	}
	return o, nil
}

// checkJSON refuses a JSON body that is not UTF-8: Dataverse accepts
// UTF-8 only, and re-encoding anything else here would hide the mistake.
func checkJSON(o *op) *apiError {
	if o.body == nil {
		return nil
	}
	mt, params, err := mime.ParseMediaType(o.header.Get("Content-Type"))
	if err != nil || !isJSON(mt) {
		return nil // not declared JSON: the operation itself answers
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		return bad("The body of %s is declared charset=%s; only UTF-8 JSON is supported.", o.where, truncate(cs, 40))
	}
	if !utf8.Valid(o.body) {
		return bad("The JSON body of %s is not valid UTF-8.", o.where)
	}
	return nil
}

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// isToken reports whether s is an HTTP token (RFC 9110), as a method must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// truncate shortens s for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
