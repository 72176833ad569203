package localcrm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, localcrm.Options{RateLimit: 5, RateWindow: time.Minute})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	for i := 0; i < 5; i++ {
		if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != 200 {
			t.Fatalf("request %d: %d", i, r.Status)
		}
		e.Clock.Advance(10 * time.Second)
	}
	r := e.Req("GET", "WhoAmI()", alice, nil)
	if r.Status != http.StatusTooManyRequests || r.ErrCode() != "0x80072322" ||
		r.ErrMessage() != "Number of requests exceeded the limit of 5 over time window of 60 seconds." {
		t.Fatalf("over budget: %d %s", r.Status, r.Raw)
	}
	// The oldest request was 50 s ago, so a slot frees in 10 s.
	if ra := r.Header.Get("Retry-After"); ra != "10" {
		t.Fatalf("Retry-After %q", ra)
	}
	// The budget is per user.
	if r := e.Req("GET", "WhoAmI()", bob, nil); r.Status != 200 {
		t.Fatalf("bob: %d", r.Status)
	}
	e.Clock.Advance(10 * time.Second)
	if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != 200 {
		t.Fatalf("after the window slid: %d", r.Status)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	e.Srv.InjectFault(localcrm.Fault{Path: "WhoAmI", Status: 503, RetryAfter: 1500 * time.Millisecond, Count: 1})
	r := e.Req("GET", "WhoAmI()", alice, nil)
	if r.Status != 503 || r.Header.Get("Retry-After") != "2" || r.ErrCode() == "" {
		t.Fatalf("503 fault: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != 200 {
		t.Fatalf("fault did not expire after Count: %d", r.Status)
	}
	tests := []struct {
		name  string
		fault localcrm.Fault
		check func(t *testing.T, resp *http.Response, body string)
	}{
		{"html error page", localcrm.Fault{Status: 502, Body: "<html><body>Bad Gateway</body></html>"}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<html>") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		}},
		{"truncated JSON", localcrm.Fault{Status: 200, Body: `{"@odata.context":"x","UserId":"12`, ContentType: "application/json"}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 200 || body != `{"@odata.context":"x","UserId":"12` {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		}},
		{"garbage 200", localcrm.Fault{Method: "GET", Path: "/api/data/*", Status: 200, Body: "\x00\x01garbage", ContentType: "application/json"}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 200 || body != "\x00\x01garbage" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		}},
		{"slow reply passes through", localcrm.Fault{Delay: 50 * time.Millisecond}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 200 || !strings.Contains(body, "UserId") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remove := e.Srv.InjectFault(tc.fault)
			defer remove()
			start := time.Now()
			rq, _ := http.NewRequest("GET", e.API+"WhoAmI()", nil)
			rq.Header.Set("Authorization", "Bearer "+alice)
			resp, err := http.DefaultClient.Do(rq)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if time.Since(start) < tc.fault.Delay {
				t.Fatal("delay not applied")
			}
			tc.check(t, resp, string(b))
		})
	}
	// A slow reply gives up when the client does.
	e.Srv.InjectFault(localcrm.Fault{Delay: time.Hour, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rq, _ := http.NewRequestWithContext(ctx, "GET", e.API+"WhoAmI()", nil)
	if _, err := http.DefaultClient.Do(rq); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow fault: %v", err)
	}
	// A dropped connection is a transport error.
	e.Srv.InjectFault(localcrm.Fault{DropConnection: true, Count: 1})
	if _, err := http.Get(e.API + "WhoAmI()"); err == nil {
		t.Fatal("dropped connection answered")
	}
	e.Srv.ClearFaults()
	if r := e.Req("GET", "WhoAmI()", alice, nil); r.Status != 200 {
		t.Fatalf("after ClearFaults: %d", r.Status)
	}
	// The token endpoint can fail too.
	e.Srv.InjectFault(localcrm.Fault{Path: "/oauth2/v2.0/token", Status: 500, Count: 1})
	rq, _ = http.NewRequest("POST", e.TS.URL+"/oauth2/v2.0/token", strings.NewReader("grant_type=password"))
	rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("token fault: %d", resp.StatusCode)
	}
}
