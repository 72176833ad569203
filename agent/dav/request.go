package dav

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
)

// Limits on what is read from a server.
const (
	// maxBody bounds a response body: a multiget of 100 contacts with
	// photos fits, a runaway or hostile server does not fill memory.
	maxBody = 64 << 20
	// maxRedirects bounds the redirects followed during discovery.
	maxRedirects = 5
)

// propfindOpen opens every PROPFIND body; its namespace prefixes are
// the ones the callers' props use.
const propfindOpen = `<?xml version="1.0" encoding="utf-8"?>` +
	`<D:propfind xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"><D:prop>`

// reply is a server's answer, its body read and the connection released.
type reply struct {
	resp *http.Response // Body is closed; use body
	body []byte
	href string // the decoded path that answered, after redirects
}

// call is one request.
type call struct {
	method, href string
	header       http.Header
	body         []byte
	follow       bool // follow redirects on the same server (discovery only)
}

// send sends a request and reads its answer, up to maxBody. It fails
// only when no answer came; the caller judges the status.
func (c *Client) send(ctx context.Context, r call) (*reply, error) {
	href := r.href
	for hop := 0; ; hop++ {
		u := *c.base
		u.Path = href
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
		if err != nil {
			return nil, fmt.Errorf("dav: %s %s: %w", r.method, href, err)
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		if r.body != nil && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/xml; charset=utf-8")
		}
		req.Header.Set("User-Agent", c.ua)
		req.SetBasicAuth(c.acct.Username, c.password)
		c.n.Add(1)
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, netError(r.method, href, err)
		}
		data, err := readBody(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("dav: %s %s: reading the answer: %w", r.method, href, err)
		}
		if r.follow && isRedirect(resp.StatusCode) && hop < maxRedirects {
			next, err := c.redirect(href, resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("dav: %s %s: %w", r.method, href, err)
			}
			href = next
			continue
		}
		return &reply{resp: resp, body: data, href: href}, nil
	}
}

// readBody reads at most maxBody bytes and fails past that, rather than
// parse a cut-off document.
func readBody(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBody {
		return nil, errTooLarge
	}
	return data, nil
}

func isRedirect(code int) bool {
	return code == http.StatusMovedPermanently || code == http.StatusFound || code == http.StatusSeeOther ||
		code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect
}

// redirect resolves a Location against href. Only the same server is
// followed: the password goes with every request, and another host
// should be entered by the user, not picked by a redirect.
func (c *Client) redirect(href, location string) (string, error) {
	if location == "" {
		return "", fmt.Errorf("the server redirected without saying where")
	}
	from := *c.base
	from.Path = href
	to, err := from.Parse(location)
	if err != nil {
		return "", fmt.Errorf("the server redirected to %q, which is not an address", clean(location, 200))
	}
	if to.Scheme != c.base.Scheme || to.Host != c.base.Host {
		return "", fmt.Errorf("the server redirected to %s; enter that address instead", clean(to.Redacted(), 200))
	}
	return cleanHref(to.Path), nil
}

// expect returns nil when the reply's status is one of codes, and the
// classified error otherwise.
func (r *reply) expect(method string, codes ...int) error {
	if slices.Contains(codes, r.resp.StatusCode) {
		return nil
	}
	return classify(method, r.href, r.resp, r.body)
}

// multistatus sends a PROPFIND or REPORT and parses its 207 answer.
func (c *Client) multistatus(ctx context.Context, r call, depth string) (*multistatus, *reply, error) {
	if r.header == nil {
		r.header = http.Header{}
	}
	if depth != "" {
		r.header.Set("Depth", depth)
	}
	rep, err := c.send(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	if err := rep.expect(r.method, http.StatusMultiStatus); err != nil {
		return nil, rep, err
	}
	ms, err := parseMultistatus(rep.body)
	if err != nil {
		return nil, rep, fmt.Errorf("dav: %s %s: %w", r.method, rep.href, err)
	}
	return ms, rep, nil
}

// propfind asks for props (the XML inside D:prop, with the prefixes of
// propfindOpen) at href.
func (c *Client) propfind(ctx context.Context, href, depth, props string, follow bool) (*multistatus, *reply, error) {
	body := propfindOpen + props + `</D:prop></D:propfind>`
	return c.multistatus(ctx, call{method: "PROPFIND", href: href, body: []byte(body), follow: follow}, depth)
}

// eachResponse calls f with the decoded href of every response of ms,
// skipping those whose href is not a URL. base resolves relative hrefs.
func eachResponse(ms *multistatus, base string, f func(href string, r *response)) {
	for i := range ms.Responses {
		r := &ms.Responses[i]
		for _, raw := range r.Hrefs {
			if h, ok := decodeHref(raw, base); ok {
				f(h, r)
			}
		}
	}
}
