package protect_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"crmsync/agent/crm/localcrm/protect"
)

// The order is authenticate, Admit, Headers (on every answer), serve, Done.
func Example() {
	guard := protect.New(protect.Limits{Requests: 1}, nil)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-User") // stands for the real authentication
		t, refused := guard.Admit(user)
		guard.Headers(user, w.Header())
		if refused != nil {
			refused.Write(w)
			return
		}
		defer t.Done()
		api.ServeHTTP(w, r)
	})
	for range 2 {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/data/v9.2/WhoAmI()", nil)
		r.Header.Set("X-User", "alice")
		h.ServeHTTP(rec, r)
		fmt.Printf("%d remaining=%s retry-after=%q\n", rec.Code, rec.Header().Get(protect.HeaderBurstRemaining), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 204 remaining=0 retry-after=""
	// 429 remaining=0 retry-after="300"
}
