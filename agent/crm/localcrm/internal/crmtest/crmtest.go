// Package crmtest runs a seeded local CRM on a loopback port for the tests
// of the local CRM's packages, and talks HTTP to it the way a client does.
// It is for tests only.
package crmtest

import (
	"bytes"
	"context"
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

	"crmsync/agent/crm/localcrm"
)

// Clock is a settable clock for token expiry and rate windows.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed moment.
func NewClock() *Clock {
	return &Clock{t: time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)}
}

// Now is the clock's time, for Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is a seeded server on a loopback port.
type Env struct {
	T     *testing.T
	Srv   *localcrm.Server
	TS    *httptest.Server
	Clock *Clock
	API   string // Web API root, ending in "/"
}

// New starts a server with opts (a fake clock and fast password hashing
// unless opts set them), seeds the demo data and stops it when the test
// ends.
func New(t *testing.T, opts localcrm.Options) *Env {
	t.Helper()
	clock := NewClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.PasswordIterations == 0 {
		opts.PasswordIterations = 1000 // fast tests; the format stores the count
	}
	srv, err := localcrm.New(opts)
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
	return &Env{T: t, Srv: srv, TS: ts, Clock: clock, API: ts.URL + "/api/data/v9.2/"}
}

// TokenResponse is the OAuth success body.
type TokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// TokenRequest posts form to the root token endpoint.
func (e *Env) TokenRequest(form url.Values) (int, TokenResponse) {
	e.T.Helper()
	resp, err := http.PostForm(e.TS.URL+"/oauth2/v2.0/token", form)
	if err != nil {
		e.T.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var tr TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		e.T.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, tr
}

// SignIn gets an access token with the password grant.
func (e *Env) SignIn(user, password string) string {
	e.T.Helper()
	status, tr := e.TokenRequest(url.Values{
		"grant_type": {"password"}, "client_id": {localcrm.AgentClientID},
		"username": {user}, "password": {password}, "scope": {e.TS.URL + "/user_impersonation offline_access"},
	})
	if status != 200 || tr.AccessToken == "" {
		e.T.Fatalf("sign in %s: %d %+v", user, status, tr)
	}
	return tr.AccessToken
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any // the JSON body, if any
}

// Str returns a string member of the body.
func (r Response) Str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// ErrCode returns the OData error code.
func (r Response) ErrCode() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// ErrMessage returns the OData error message.
func (r Response) ErrMessage() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// Values returns the rows of a collection answer.
func (r Response) Values() []map[string]any {
	list, _ := r.Body["value"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, v := range list {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Req sends a request; path is relative to the Web API root unless it is
// absolute. body may be nil, a string (sent raw) or a value to encode;
// headers are name, value pairs.
func (e *Env) Req(method, path, token string, body any, headers ...string) Response {
	e.T.Helper()
	r, err := e.Send(method, path, token, body, headers...)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

// ReqNoFatal is Req for other goroutines: failures come back as status 0.
func (e *Env) ReqNoFatal(method, path, token string, body any, headers ...string) Response {
	r, err := e.Send(method, path, token, body, headers...)
	if err != nil {
		return Response{Raw: []byte(err.Error())}
	}
	return r
}

// Send is Req returning its error.
func (e *Env) Send(method, path, token string, body any, headers ...string) (Response, error) {
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.API + path
	}
	u = strings.ReplaceAll(u, " ", "%20") // readable test paths
	rd, err := bodyReader(body)
	if err != nil {
		return Response{}, err
	}
	rq, err := http.NewRequest(method, u, rd)
	if err != nil {
		return Response{}, fmt.Errorf("new request: %w", err)
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
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return decode(method, path, resp.StatusCode, resp.Header, raw)
}

func bodyReader(body any) (io.Reader, error) {
	switch b := body.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.NewReader(b), nil
	case []byte:
		return bytes.NewReader(b), nil
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return bytes.NewReader(data), nil
}

func decode(method, path string, status int, h http.Header, raw []byte) (Response, error) {
	r := Response{Status: status, Header: h, Raw: raw}
	if len(raw) > 0 && strings.Contains(h.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return r, nil
}

// Inner runs one request through Server.APIHandler, as a $batch runs its
// parts: in process, with ctx (from BeginTx, or any). The path is relative
// to the Web API root, host-relative when it starts with "/" (the Host is
// then set, as a batch copies it from the outer request), or absolute.
func (e *Env) Inner(ctx context.Context, method, path, token string, body any) Response {
	e.T.Helper()
	u := path
	if !strings.HasPrefix(path, "http") && !strings.HasPrefix(path, "/") {
		u = e.API + path
	}
	rd, err := bodyReader(body)
	if err != nil {
		e.T.Fatal(err)
	}
	rq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if strings.HasPrefix(path, "/") {
		rq.Host = strings.TrimPrefix(e.TS.URL, "http://")
	}
	if body != nil {
		rq.Header.Set("Content-Type", "application/json; type=entry")
	}
	if token != "" {
		rq.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.Srv.APIHandler().ServeHTTP(rec, rq)
	r, err := decode(method, path, rec.Code, rec.Header(), rec.Body.Bytes())
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}

// IDFromEntityID extracts the GUID from an OData-EntityId header.
func IDFromEntityID(t *testing.T, h string) string {
	t.Helper()
	open, close := strings.LastIndex(h, "("), strings.LastIndex(h, ")")
	if open < 0 || close < open {
		t.Fatalf("OData-EntityId %q has no key", h)
	}
	return h[open+1 : close]
}

// CreateEmail creates an email and returns its id.
func (e *Env) CreateEmail(token string, body map[string]any) string {
	e.T.Helper()
	r := e.Req("POST", "emails", token, body)
	if r.Status != http.StatusNoContent {
		e.T.Fatalf("create email: %d %s", r.Status, r.Raw)
	}
	return IDFromEntityID(e.T, r.Header.Get("OData-EntityId"))
}

// NotDemoEmails is an OData filter that leaves out the demo's outgoing
// emails (localcrm.DemoOutgoingEmailIDs), for tests that count or list
// the emails they make themselves.
func NotDemoEmails() string {
	var parts []string
	for _, id := range localcrm.DemoOutgoingEmailIDs() {
		parts = append(parts, "activityid ne "+id)
	}
	return strings.Join(parts, " and ")
}

// UserID returns a user's systemuserid.
func (e *Env) UserID(email string) string {
	e.T.Helper()
	id, err := e.Srv.UserID(email)
	if err != nil {
		e.T.Fatal(err)
	}
	return id
}
