package dav

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"crmsync/agent/internal/transport"
)

// Timeouts of the HTTP client New makes when Options has none.
const (
	// DefaultTimeout bounds connecting, the TLS handshake and the wait for
	// an answer's headers, each.
	DefaultTimeout = 30 * time.Second
	// DefaultRequestTimeout bounds a whole request, body included: a
	// multiget of large contacts over a slow link takes longer than
	// DefaultTimeout, but a stalled one must end.
	DefaultRequestTimeout = 5 * time.Minute
)

// Options tune a Client.
type Options struct {
	// HTTPClient sends the requests; nil means one made from the account
	// (its TLS roots, DefaultTimeout, DefaultRequestTimeout). The Client
	// uses a copy that does not follow redirects by itself: Go's client
	// turns a redirected PROPFIND into a GET, so discovery follows them.
	HTTPClient *http.Client
	// UserAgent is sent with every request; "" sends "crmsync".
	UserAgent string
}

// Client talks to one account. It is safe for concurrent use.
type Client struct {
	acct     Account
	base     *url.URL // the account's scheme and host
	start    string   // the account URL's decoded path
	password string
	hc       *http.Client
	ua       string
	n        atomic.Int64
}

// New checks acct and returns a Client for it. Nothing connects until a
// method is called.
func New(acct Account, password string, opts Options) (*Client, error) {
	if err := checkURL(acct.URL); err != nil {
		return nil, err
	}
	if acct.Username == "" {
		return nil, errors.New("dav: the account has no user name")
	}
	if password == "" {
		return nil, errors.New("dav: no password for the address book and calendar account")
	}
	u, err := url.Parse(acct.URL)
	if err != nil {
		return nil, fmt.Errorf("dav: %w", err)
	}
	c := &Client{acct: acct, password: password, ua: opts.UserAgent}
	c.base = &url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host}
	c.start = cleanHref(u.Path)
	if c.ua == "" {
		c.ua = "crmsync"
	}
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		roots, err := transport.Roots(acct.CAFile)
		if err != nil {
			return nil, fmt.Errorf("dav: %w", err)
		}
		hc = http.Client{Transport: newTransport(roots), Timeout: DefaultRequestTimeout}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// newTransport is an HTTP transport that trusts roots (nil: the
// system's) and gives up on a silent server after DefaultTimeout.
func newTransport(roots *x509.CertPool) *http.Transport {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	d := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   DefaultTimeout,
		ResponseHeaderTimeout: DefaultTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
		ForceAttemptHTTP2:     true,
	}
}

// Requests returns how many HTTP requests the Client has sent, redirects
// followed included.
func (c *Client) Requests() int64 { return c.n.Load() }

// Account returns the account the Client talks to.
func (c *Client) Account() Account { return c.acct }
