package localcrm_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"crmsync/agent/crm/localcrm"
)

// Example signs in as a demo user and asks the Web API who that is.
func Example() {
	srv, err := localcrm.New(localcrm.Options{}) // in memory
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	if err := srv.SeedDemo(); err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	resp, err := http.PostForm(ts.URL+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "client_id": {localcrm.DevClientID},
		"username": {"alice@demo.local"}, "password": {"demo-alice"},
	})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	req, _ := http.NewRequest("GET", ts.URL+"/api/data/v9.2/WhoAmI()", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var who struct{ UserId string }
	_ = json.NewDecoder(resp.Body).Decode(&who)
	fmt.Println(resp.StatusCode, who.UserId == localcrm.DemoID("systemuser", "alice@demo.local"))
	// Output: 200 true
}
