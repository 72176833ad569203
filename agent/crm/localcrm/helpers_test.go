package localcrm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for token expiry and rate windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a seeded server on a loopback port.
type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
	api   string // Web API root, ending in "/"
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.PasswordIterations == 0 {
		opts.PasswordIterations = 1000 // fast tests; the format stores the count
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.SeedDemo(); err != nil {
		t.Fatalf("SeedDemo: %v", err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &env{t: t, srv: srv, ts: ts, clock: clock, api: ts.URL + "/api/data/v9.2/"}
}

// tokenResponse is the OAuth success body.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func (e *env) tokenRequest(form url.Values) (int, tokenResponse) {
	e.t.Helper()
	resp, err := http.PostForm(e.ts.URL+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		e.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, tr
}

func (e *env) signIn(user, password string) string {
	e.t.Helper()
	status, tr := e.tokenRequest(url.Values{
		"grant_type": {"password"}, "client_id": {AgentClientID},
		"username": {user}, "password": {password}, "scope": {e.ts.URL + "/user_impersonation offline_access"},
	})
	if status != 200 || tr.AccessToken == "" {
		e.t.Fatalf("sign in %s: %d %+v", user, status, tr)
	}
	return tr.AccessToken
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r response) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (r response) values() []map[string]any {
	list, _ := r.body["value"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// req sends a request; path is relative to the Web API root unless it is
// absolute. body may be nil, a string (sent raw) or a value to encode.
func (e *env) req(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	r, err := e.send(method, path, token, body, headers...)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// reqNoFatal is req for other goroutines: failures come back as status 0.
func (e *env) reqNoFatal(method, path, token string, body any, headers ...string) response {
	r, err := e.send(method, path, token, body, headers...)
	if err != nil {
		return response{raw: []byte(err.Error())}
	}
	return r
}

func (e *env) send(method, path, token string, body any, headers ...string) (response, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.api + path
	}
	u = strings.ReplaceAll(u, " ", "%20") // readable test paths
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	rq, err := http.NewRequest(method, u, rd)
	if err != nil {
		return response{}, fmt.Errorf("new request: %w", err)
	}
	rq.Header.Set("Accept", "application/json")
	rq.Header.Set("OData-MaxVersion", "4.0")
	rq.Header.Set("OData-Version", "4.0")
	if body != nil {
		rq.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if token != "" {
		rq.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		rq.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return r, nil
}

// idFromEntityID extracts the GUID from an OData-EntityId header.
func idFromEntityID(t *testing.T, h string) string {
	t.Helper()
	open, close := strings.LastIndex(h, "("), strings.LastIndex(h, ")")
	if open < 0 || close < open {
		t.Fatalf("OData-EntityId %q has no key", h)
	}
	return h[open+1 : close]
}

func (e *env) createEmail(token string, body map[string]any) string {
	e.t.Helper()
	r := e.req("POST", "emails", token, body)
	if r.status != http.StatusNoContent {
		e.t.Fatalf("create email: %d %s", r.status, r.raw)
	}
	return idFromEntityID(e.t, r.header.Get("OData-EntityId"))
}

func (e *env) userID(email string) string {
	e.t.Helper()
	id, err := e.srv.UserID(email)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}
