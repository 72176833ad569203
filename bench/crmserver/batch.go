package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// part is one request: a plain Web API request, or one part of a $batch
// (OData's multipart/mixed format: application/http parts, change sets as
// nested multipart/mixed).
type part struct {
	method    string
	path      string // relative to the Web API root, query included: "emails", "CheckIncomingEmail(...)", "$1"
	header    http.Header
	body      []byte
	contentID string // the part's Content-ID, "" if none
	item      int    // index of its top-level part (itself, or its change set)
	inSet     bool   // in a change set
}

// parseBatch reads the parts of a $batch request body, in order, change
// sets flattened.
func parseBatch(contentType string, body []byte) ([]part, error) {
	var out []part
	err := eachPart(contentType, body, func(h textproto.MIMEHeader, b []byte, item int, inSet bool) error {
		p, err := parsePartRequest(b)
		if err != nil {
			return err
		}
		p.contentID = contentID(h, p.header)
		p.item, p.inSet = item, inSet
		out = append(out, p)
		return nil
	})
	return out, err
}

// eachPart calls fn for every application/http part of a multipart body
// with the index of its top-level part, descending into change sets.
func eachPart(contentType string, body []byte, fn func(h textproto.MIMEHeader, b []byte, item int, inSet bool) error) error {
	item := 0
	return walkParts(contentType, body, func(h textproto.MIMEHeader, b []byte, inSet bool) error {
		return fn(h, b, item, inSet)
	}, func() { item++ })
}

// walkParts reads one multipart level; next is called after each
// top-level part.
func walkParts(contentType string, body []byte, fn func(textproto.MIMEHeader, []byte, bool) error, next func()) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return errors.New("not a multipart body")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(strings.ToLower(ct), "multipart/") {
			inner := func(h textproto.MIMEHeader, b []byte, _ bool) error { return fn(h, b, true) }
			if err := walkParts(ct, b, inner, func() {}); err != nil {
				return err
			}
		} else if err := fn(p.Header, b, false); err != nil {
			return err
		}
		if next != nil {
			next()
		}
	}
}

// parsePartRequest reads "METHOD target HTTP/1.1", headers and body. The
// target may be absolute, host-relative or relative to the Web API root
// (also a "$n" reference to an earlier part of the change set), which
// http.ReadRequest would not all accept.
func parsePartRequest(b []byte) (part, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return part{}, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return part{}, errors.New("no request line")
	}
	h, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil && err != io.EOF {
		return part{}, err
	}
	body, _ := io.ReadAll(br)
	return part{method: strings.ToUpper(f[0]), path: apiPath(f[1]), header: http.Header(h), body: bytes.TrimSpace(body)}, nil
}

// apiPath returns target relative to the Web API root ("/api/data/vX.Y/").
func apiPath(target string) string {
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.RequestURI()
	}
	if rest, ok := strings.CutPrefix(target, "/api/data/"); ok {
		_, target, _ = strings.Cut(rest, "/")
	}
	return strings.TrimPrefix(target, "/")
}

// contentID is a part's Content-ID, from its MIME header or, as some
// clients write it, its inner request's header.
func contentID(outer textproto.MIMEHeader, inner http.Header) string {
	if id := outer.Get("Content-ID"); id != "" {
		return strings.Trim(id, "<> ")
	}
	return strings.Trim(inner.Get("Content-ID"), "<> ")
}

// matchStatuses returns the status the $batch answer gives each request
// part, 0 where none can be told. Top-level parts answer in order, one
// each; within a change set by Content-ID, else by position. A change
// set that failed answers with one error part, which fails all its
// operations.
func matchStatuses(reqs []part, contentType string, body []byte) []int {
	out := make([]int, len(reqs))
	type answer struct {
		id     string
		status int
		inSet  bool
	}
	var items [][]answer
	err := eachPart(contentType, body, func(h textproto.MIMEHeader, b []byte, item int, inSet bool) error {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		if len(f) < 2 {
			return errors.New("no status line")
		}
		code, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		inner, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest))).ReadMIMEHeader()
		for len(items) <= item {
			items = append(items, nil)
		}
		items[item] = append(items[item], answer{contentID(h, http.Header(inner)), code, inSet})
		return nil
	})
	if err != nil {
		return out
	}
	pos := map[int]int{} // request item -> parts seen so far
	for i, p := range reqs {
		k := pos[p.item]
		pos[p.item]++
		if p.item >= len(items) || len(items[p.item]) == 0 {
			continue
		}
		ans := items[p.item]
		switch {
		case !p.inSet:
			out[i] = ans[0].status
		case !ans[0].inSet:
			// The change set failed as a whole.
		default:
			for _, a := range ans {
				if a.id != "" && a.id == p.contentID {
					out[i] = a.status
				}
			}
			if out[i] == 0 && k < len(ans) && ans[k].id == "" {
				out[i] = ans[k].status
			}
		}
	}
	return out
}
