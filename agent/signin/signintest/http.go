// Package signintest drives the sign-in pages of the local CRM (or any
// service with Entra-shaped forms: inputs login and passwd, submit button
// idSIButton9) for tests of the browser and device code sign-ins: over
// plain net/http, or with a real headless Chromium.
package signintest

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Redirect submits the sign-in page at authURL as a browser would, and
// returns where the service sends the browser next: the app's redirect URI
// with the code (or the error) in its query. It does not follow it.
func Redirect(authURL, email, password string) (string, error) {
	hc := client()
	pageURL, body, err := get(hc, authURL)
	if err != nil {
		return "", err
	}
	form := url.Values{"login": {email}, "passwd": {password}}
	resp, err := submit(hc, pageURL, body, form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return "", fmt.Errorf("signintest: sign-in page answered %d: %s", resp.StatusCode, pageError(string(b)))
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("signintest: sign-in page redirect: %w", err)
	}
	return loc.String(), nil
}

// HTTP returns an opener for signin.Config.Browser that signs in as email
// over plain HTTP: it fills in the sign-in page and follows the redirect
// to the app's loopback listener. Failures are reported on t as well, as
// Browser replaces an opener's error with its own.
func HTTP(t testing.TB, email, password string) func(url string) error {
	return func(authURL string) error {
		loc, err := Redirect(authURL, email, password)
		if err == nil {
			_, _, err = get(client(), loc)
		}
		if err != nil {
			t.Errorf("signintest: browser sign-in: %v", err)
		}
		return err
	}
}

// HTTPDeviceCode enters code on the device code page at verificationURL
// and signs in as email, over plain HTTP.
func HTTPDeviceCode(t testing.TB, verificationURL, code, email, password string) error {
	t.Helper()
	return deviceCode(verificationURL, code, url.Values{"login": {email}, "passwd": {password}}, "You have signed in")
}

// HTTPDeclineDeviceCode enters code on the device code page at
// verificationURL and then declines the sign-in, over plain HTTP.
func HTTPDeclineDeviceCode(t testing.TB, verificationURL, code string) error {
	t.Helper()
	return deviceCode(verificationURL, code, url.Values{"decline": {"Cancel"}}, "declined")
}

func deviceCode(verificationURL, code string, fields url.Values, done string) error {
	hc := client()
	pageURL, body, err := get(hc, verificationURL)
	if err != nil {
		return err
	}
	// Step one: the code. Step two: the sign-in page it leads to.
	pageURL, body, err = read(submit(hc, pageURL, body, url.Values{"code": {code}}))
	if err != nil {
		return err
	}
	if !strings.Contains(body, `name="passwd"`) {
		return fmt.Errorf("signintest: the code was not accepted: %s", pageError(body))
	}
	_, body, err = read(submit(hc, pageURL, body, fields))
	if err != nil {
		return err
	}
	if !strings.Contains(body, done) {
		return fmt.Errorf("signintest: device code sign-in did not finish: %s", pageError(body))
	}
	return nil
}

func client() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches a page and insists on 200.
func get(hc *http.Client, u string) (string, string, error) {
	return read(hc.Get(u))
}

func read(resp *http.Response, err error) (string, string, error) {
	if err != nil {
		return "", "", fmt.Errorf("signintest: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("signintest: read page: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("signintest: %s answered %d: %s", resp.Request.URL.Path, resp.StatusCode, pageError(string(b)))
	}
	return resp.Request.URL.String(), string(b), nil
}

var (
	formTag  = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	inputTag = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attr     = regexp.MustCompile(`(?is)([a-z_-]+)\s*=\s*"([^"]*)"`)
	errText  = regexp.MustCompile(`(?is)id="errorText"[^>]*>(.*?)<`)
)

// attrs reads a tag's quoted attributes.
func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attr.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// submit posts the page's first form with its hidden fields and fields.
func submit(hc *http.Client, pageURL, body string, fields url.Values) (*http.Response, error) {
	tag := formTag.FindString(body)
	if tag == "" {
		return nil, fmt.Errorf("signintest: no form on the page: %s", pageError(body))
	}
	base, err := url.Parse(pageURL)
	if err != nil {
		return nil, fmt.Errorf("signintest: page address: %w", err)
	}
	action, err := base.Parse(attrs(tag)["action"])
	if err != nil {
		return nil, fmt.Errorf("signintest: form action: %w", err)
	}
	form := url.Values{}
	for _, in := range inputTag.FindAllString(body, -1) {
		a := attrs(in)
		if strings.EqualFold(a["type"], "hidden") && a["name"] != "" {
			form.Set(a["name"], a["value"])
		}
	}
	for k, v := range fields {
		form[k] = v
	}
	resp, err := hc.PostForm(action.String(), form)
	if err != nil {
		return nil, fmt.Errorf("signintest: submit form: %w", err)
	}
	return resp, nil
}

// pageError is the error a sign-in page shows, for test failure messages.
func pageError(body string) string {
	if m := errText.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1]))
	}
	if len(body) > 300 {
		body = body[:300]
	}
	return strings.TrimSpace(body)
}

// errNoChromium is returned when the browser is not installed.
var errNoChromium = errors.New("signintest: /usr/bin/chromium is missing; install chromium (make test does)")
