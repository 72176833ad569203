package crm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
)

// A $batch carries many operations in one HTTP request, encoded as
// multipart/mixed exactly as [PAD] webapi/execute-batch-operations-using-web-api.md
// shows: each part is an application/http request; a change set is a
// nested multipart/mixed part whose operations succeed or fail together
// and may refer to an earlier one's new record as $<Content-ID>. It counts
// as one request against the service protection request limit ([PAD]
// api-limits.md), which is why the client asks and tracks in batches.

// maxBatchOps is Dataverse's limit of operations in one batch; larger
// work is split into several batches.
const maxBatchOps = 1000

// maxBatchParts bounds the parts read from an answer, so a malformed one
// cannot make the client build millions of tiny values.
const maxBatchParts = 2 * maxBatchOps

// batchOp is one operation of a batch.
type batchOp struct {
	name   string      // what it does, for errors ("resolve addresses in contacts")
	method string      // GET, POST, PATCH, DELETE
	path   string      // relative to the API root, an absolute URL on its origin, or a $n reference
	header http.Header // the operation's own headers (Prefer, If-Match)
	body   any         // JSON-encoded when non-nil
}

// batchItem is one part of a batch: a lone operation, or a change set.
type batchItem struct {
	ops       []batchOp
	changeSet bool // ops run atomically; op i has Content-ID i+1
}

// batchAnswer is the CRM's answer to one operation of a batch.
type batchAnswer struct {
	status int
	header http.Header
	body   []byte
	err    error // the operation's classified failure; nil when 2xx
}

// response returns the answer in the shape single requests decode.
func (a batchAnswer) response() *response {
	return &response{status: a.status, header: a.header, body: a.body}
}

// batchPart is one part of a batch answer as read from the wire.
type batchPart struct {
	contentID string
	status    int
	header    http.Header
	body      []byte
	set       []batchPart // the answers of a change set
	isSet     bool
}

// batch sends items as one or more $batch requests of at most
// maxBatchOps operations, and returns one answer per operation, per item.
// A failure of a whole batch request returns its error; the answers of
// items in batches already sent are kept, those not sent carry the error.
func (c *HTTPClient) batch(ctx context.Context, op string, items []batchItem) ([][]batchAnswer, error) {
	out := make([][]batchAnswer, len(items))
	for start := 0; start < len(items); {
		end, n := start, 0
		for end < len(items) && (n+len(items[end].ops) <= maxBatchOps || end == start) {
			n += len(items[end].ops)
			end++
		}
		var answers [][]batchAnswer
		err := error(&Error{Op: op, Kind: KindBadRequest, Message: fmt.Sprintf("a change set of %d operations exceeds the batch limit of %d", n, maxBatchOps)})
		if n <= maxBatchOps {
			answers, err = c.sendBatch(ctx, op, items[start:end])
		}
		if err != nil {
			for i := start; i < len(items); i++ {
				out[i] = failAll(items[i], err)
			}
			return out, err
		}
		copy(out[start:end], answers)
		start = end
	}
	return out, nil
}

// sendBatch sends one $batch and maps its answer onto items.
func (c *HTTPClient) sendBatch(ctx context.Context, op string, items []batchItem) ([][]batchAnswer, error) {
	body, ctype, err := c.encodeBatch(items, newBoundaryID)
	if err != nil {
		return nil, &Error{Op: op, Kind: KindBadRequest, Message: err.Error()}
	}
	readOnly := true
	for _, it := range items {
		for _, o := range it.ops {
			readOnly = readOnly && o.method == http.MethodGet
		}
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "$batch", raw: body, contentType: ctype,
		// Without it Dataverse stops at the first failing operation and
		// fails the whole batch with it; with it every part answers.
		header:          http.Header{"Prefer": {"odata.continue-on-error"}},
		idempotent:      readOnly,
		multipartErrors: true})
	if err != nil {
		return nil, err
	}
	parts, err := decodeBatch(resp.header.Get("Content-Type"), resp.body)
	if err != nil {
		return nil, &Error{Op: op, Kind: KindBadResponse, Status: resp.status, Message: "the batch answer could not be read: " + err.Error()}
	}
	return c.matchBatch(items, parts), nil
}

// matchBatch pairs the answer parts with the items, in order, as
// Dataverse answers them; within a change set by Content-ID.
func (c *HTTPClient) matchBatch(items []batchItem, parts []batchPart) [][]batchAnswer {
	out := make([][]batchAnswer, len(items))
	for i, it := range items {
		if i >= len(parts) {
			out[i] = failAll(it, &Error{Op: it.ops[0].name, Kind: KindUnavailable,
				Message: "the CRM stopped the batch at an earlier failure; this operation did not run"})
			continue
		}
		p := parts[i]
		switch {
		case !p.isSet && !(it.changeSet && p.status >= 200 && p.status < 300):
			// A lone answer, or a change set that failed as a whole
			// (it answers with one error part).
			if it.changeSet {
				a := c.answer(it.ops[0].name, p)
				out[i] = failAll(it, a.err)
				continue
			}
			out[i] = []batchAnswer{c.answer(it.ops[0].name, p)}
		case p.isSet && it.changeSet:
			out[i] = make([]batchAnswer, len(it.ops))
			byID := map[string]batchPart{}
			for _, sp := range p.set {
				if sp.contentID != "" {
					byID[sp.contentID] = sp
				}
			}
			for j, o := range it.ops {
				sp, ok := byID[strconv.Itoa(j+1)]
				if !ok && j < len(p.set) && p.set[j].contentID == "" {
					sp, ok = p.set[j], true
				}
				if !ok {
					out[i][j] = batchAnswer{err: &Error{Op: o.name, Kind: KindBadResponse, Message: "the change set answer lacks this operation"}}
					continue
				}
				out[i][j] = c.answer(o.name, sp)
			}
		default:
			out[i] = failAll(it, &Error{Op: it.ops[0].name, Kind: KindBadResponse, Message: "the batch answer does not match the request"})
		}
	}
	return out
}

// answer classifies one part exactly as a single request's answer is.
func (c *HTTPClient) answer(op string, p batchPart) batchAnswer {
	a := batchAnswer{status: p.status, header: p.header, body: p.body}
	if p.status >= 200 && p.status < 300 {
		return a
	}
	e := c.statusError(op, &http.Response{StatusCode: p.status, Header: p.header}, p.body)
	if e.Kind == KindThrottled && e.RetryAfter > 0 {
		c.holdUntil(c.now().Add(e.RetryAfter))
	}
	a.err = e
	return a
}

// failAll answers every operation of it with err.
func failAll(it batchItem, err error) []batchAnswer {
	out := make([]batchAnswer, len(it.ops))
	for i := range out {
		out[i].err = err
	}
	return out
}

// newBoundaryID returns a random boundary suffix: unique, as the
// documentation asks, and never found inside JSON we write.
func newBoundaryID() string {
	// 64 random bits keep a boundary out of any body; more only adds bytes
	// to every decision.
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeBatch writes items as a $batch body and returns it with its
// Content-Type. Lines end in CRLF, as multipart requires.
func (c *HTTPClient) encodeBatch(items []batchItem, id func() string) ([]byte, string, error) {
	batchB := "batch_" + id()
	var b bytes.Buffer
	for _, it := range items {
		if len(it.ops) == 0 {
			continue
		}
		b.WriteString("--" + batchB + "\r\n")
		if !it.changeSet {
			if len(it.ops) != 1 {
				return nil, "", errors.New("a batch part outside a change set holds one operation")
			}
			if err := c.writeOp(&b, it.ops[0], ""); err != nil {
				return nil, "", err
			}
			continue
		}
		setB := "changeset_" + id()
		b.WriteString(`Content-Type: multipart/mixed; boundary="` + setB + "\"\r\n\r\n")
		for j, o := range it.ops {
			if o.method == http.MethodGet {
				return nil, "", errors.New("GET is not allowed inside a change set")
			}
			b.WriteString("--" + setB + "\r\n")
			if err := c.writeOp(&b, o, strconv.Itoa(j+1)); err != nil {
				return nil, "", err
			}
		}
		b.WriteString("--" + setB + "--\r\n")
	}
	b.WriteString("--" + batchB + "--\r\n")
	return b.Bytes(), `multipart/mixed; boundary="` + batchB + `"`, nil
}

// writeOp writes one application/http part and the delimiter's CRLF.
func (c *HTTPClient) writeOp(b *bytes.Buffer, o batchOp, contentID string) error {
	target, err := c.batchTarget(o.path)
	if err != nil {
		return err
	}
	b.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if contentID != "" {
		b.WriteString("Content-ID: " + contentID + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(o.method + " " + target + " HTTP/1.1\r\n")
	if o.method != http.MethodGet {
		// A GET's answer is JSON by default, and decisions go as GETs:
		// the fewer bytes the better there.
		b.WriteString("Accept: application/json\r\n")
	}
	keys := make([]string, 0, len(o.header))
	for k := range o.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range o.header[k] {
			if strings.ContainsAny(k+v, "\r\n") {
				return fmt.Errorf("header %q holds a line break", k)
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	if o.body != nil {
		data, err := json.Marshal(o.body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", o.name, err)
		}
		ct := "application/json"
		if o.method == http.MethodPost {
			ct += "; type=entry"
		}
		// Content-Length lets a server that reads the part as an HTTP/1.1
		// request find the body's end without relying on the delimiter.
		b.WriteString("Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(data)) + "\r\n\r\n")
		b.Write(data) // JSON escapes line breaks: no boundary line can appear inside
		b.WriteString("\r\n")
		return nil
	}
	b.WriteString("\r\n\r\n")
	return nil
}

// batchTarget is the request-line target of an operation: a $n reference
// as is, else the path from the server root (/api/data/v9.2/...), which
// the documentation's examples use.
func (c *HTTPClient) batchTarget(p string) (string, error) {
	if strings.HasPrefix(p, "$") {
		if strings.ContainsAny(p, " \r\n") {
			return "", fmt.Errorf("the reference %q is not a URL", clip(p, 64))
		}
		return p, nil
	}
	abs, err := c.resolve(p)
	if err != nil {
		return "", err
	}
	t := strings.TrimPrefix(abs, c.origin)
	if t == "" || t[0] != '/' || strings.ContainsAny(t, " \r\n") {
		return "", fmt.Errorf("the path %q cannot go into a batch", clip(p, 64))
	}
	return t, nil
}

// decodeBatch reads a multipart/mixed batch answer, with change set
// answers nested one level deep. It never panics on malformed input; the
// body is already bounded by maxResponseBytes.
func decodeBatch(contentType string, body []byte) ([]batchPart, error) {
	n := 0
	return decodeParts(contentType, body, 0, &n)
}

func decodeParts(contentType string, body []byte, depth int, count *int) ([]batchPart, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" {
		what := mediaType(contentType)
		if what == "" {
			what = "no content type"
		}
		return nil, fmt.Errorf("expected multipart/mixed, got %s", clip(what, 80))
	}
	boundary := params["boundary"]
	if boundary == "" || len(boundary) > 200 {
		return nil, errors.New("the multipart answer has no usable boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var out []batchPart
	for {
		part, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(out)+1, err)
		}
		*count++
		if *count > maxBatchParts {
			return nil, fmt.Errorf("more than %d parts", maxBatchParts)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(out)+1, err)
		}
		p, err := decodePart(part.Header, data, depth, count)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", len(out)+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// decodePart reads one part: a nested change set answer or an HTTP answer.
func decodePart(h textproto.MIMEHeader, data []byte, depth int, count *int) (batchPart, error) {
	ct := h.Get("Content-Type")
	if mediaType(ct) == "multipart/mixed" {
		if depth > 0 {
			return batchPart{}, errors.New("change sets nested in change sets")
		}
		set, err := decodeParts(ct, data, depth+1, count)
		if err != nil {
			return batchPart{}, err
		}
		return batchPart{set: set, isSet: true}, nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	if err != nil {
		return batchPart{}, fmt.Errorf("not an HTTP answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return batchPart{}, fmt.Errorf("the answer body is cut off: %w", err)
	}
	id := strings.TrimSpace(h.Get("Content-ID"))
	if id == "" {
		id = strings.TrimSpace(resp.Header.Get("Content-ID"))
	}
	return batchPart{contentID: id, status: resp.StatusCode, header: resp.Header, body: bytes.TrimSpace(body)}, nil
}
