package localcrm_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
)

// TestClientsGoingAwayHurtNoOneElse has one client give up on its writes
// after a few hundred microseconds, over and over, while others read and
// sign in: what the first abandons must never fail the others' requests.
// (A cancelled request once made the SQLite driver interrupt the single
// connection after it had passed to the next request.)
func TestClientsGoingAwayHurtNoOneElse(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	alice := e.SignIn("alice@demo.local", "demo-alice")
	bob := e.SignIn("bob@demo.local", "demo-bob")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the client that goes away
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(100+i%20*50)*time.Microsecond)
			body := fmt.Sprintf(`{"subject":"abandoned %d","description":"%s"}`, i, bytes.Repeat([]byte("x"), 4096))
			req, _ := http.NewRequestWithContext(ctx, "POST", e.API+"emails", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+alice)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			cancel()
		}
	}()
	failures := make(chan string, 100)
	deadline := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		var status int
		if n%2 == 0 {
			r := e.ReqNoFatal("GET", "emails?$top=1&$select=subject", bob, nil)
			status = r.Status
			if status != 200 {
				failures <- fmt.Sprintf("read %d: %d %s", n, status, r.Raw)
			}
		} else {
			status, tr := e.TokenRequest(url.Values{"grant_type": {"password"}, "client_id": {"51f81489-12ee-4a9e-aaae-a2591f45987d"},
				"username": {"bob@demo.local"}, "password": {"demo-bob"}, "scope": {e.TS.URL + "/.default"}})
			if status != 200 {
				failures <- fmt.Sprintf("sign-in %d: %d %s %s", n, status, tr.Error, tr.Description)
			}
		}
		if len(failures) > 0 {
			break
		}
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}
