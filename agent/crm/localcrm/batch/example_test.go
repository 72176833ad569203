package batch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"crmsync/agent/crm/localcrm/batch"
)

// The $batch route of a server: authenticate and admit the outer request
// once, then let Serve replay the parts through the ordinary API handler.
func Example() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The ordinary Web API handler; for inner requests it skips the
		// service protection limits.
		if !batch.IsInner(r.Context()) {
			// guard.Admit(user) ... defer t.Done()
		}
		w.Header().Set("OData-EntityId", "http://"+r.Host+"/api/data/v9.2/tasks(00000000-0000-0000-0000-000000000001)")
		w.WriteHeader(http.StatusNoContent)
	})
	opts := batch.Options{
		Exec: api,
		Begin: func(ctx context.Context) (context.Context, func() error, func(), error) {
			// A real server opens a store transaction and puts it in ctx.
			return ctx, func() error { return nil }, func() {}, nil
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/data/v9.2/$batch", func(w http.ResponseWriter, r *http.Request) {
		// auth → guard.Admit → guard.Headers → batch.Serve → t.Done
		batch.Serve(w, r, opts)
	})
	body := strings.ReplaceAll(`--b
Content-Type: application/http
Content-Transfer-Encoding: binary

POST tasks HTTP/1.1
Content-Type: application/json

{"subject":"call back"}
--b--
`, "\n", "\r\n")
	r := httptest.NewRequest("POST", "http://crm.test/api/data/v9.2/$batch", strings.NewReader(body))
	r.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.Contains(w.Body.String(), "HTTP/1.1 204 No Content"))
	// Output: 200 true
}
