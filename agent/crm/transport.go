package crm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"crmsync/agent/internal/transport"
)

// newHTTPClient builds the one http.Client the agent uses for the CRM and
// its token endpoint: keep-alive, HTTP/2, proxy from the environment, the
// system CA pool plus an optional extra bundle.
func newHTTPClient(caBundle string, timeout time.Duration) (*http.Client, error) {
	roots, err := transport.Roots(caBundle)
	if err != nil {
		return nil, fmt.Errorf("crm: %w", err)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// isTLSError reports whether err is a refusal of the server's certificate.
func isTLSError(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		ve  *tls.CertificateVerificationError
		rec tls.RecordHeaderError
	)
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		errors.As(err, &ve) || errors.As(err, &rec)
}
