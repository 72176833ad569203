package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/crm/localcrm"
)

// crmStats is crmserver's /bench/stats: what the CRM was sent.
type crmStats struct {
	API       int64                   `json:"api"`       // Web API requests
	Throttled int64                   `json:"throttled"` // of them answered 429
	Batches   int64                   `json:"batches"`   // of them $batch
	Users     map[string]crmUserStats `json:"users"`
	Checks    int64                   `json:"checks"`    // CheckIncomingEmail calls
	Decisions int64                   `json:"decisions"` // requests carrying them
	Bytes     int64                   `json:"bytes"`     // those requests as sent
	Early     int64                   `json:"early"`     // decision requests or GETs carrying bodyMarker
}

type crmUserStats struct {
	API       int64 `json:"api"`
	Throttled int64 `json:"throttled"`
	Batches   int64 `json:"batches"`
	First     int64 `json:"first"` // Unix ns of the first request
	Last      int64 `json:"last"`  // of the last one counted
}

// stats reads the CRM's counters; until (Unix ns, 0 for all) counts only
// requests that came in by then.
func (c *crmServer) stats(until int64) (crmStats, error) {
	var s crmStats
	u := c.url + "/bench/stats"
	if until > 0 {
		u += "?until=" + strconv.FormatInt(until, 10)
	}
	return s, getJSON(context.Background(), u, "", &s)
}

// completed reads when each email was completed: Message-ID without its
// angle brackets -> the time the request completing it was answered.
func (c *crmServer) completed() (map[string]time.Time, error) {
	var raw map[string]int64
	if err := getJSON(context.Background(), c.url+"/bench/completed", "", &raw); err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(raw))
	for id, ns := range raw {
		out[strings.Trim(id, "<>")] = time.Unix(0, ns)
	}
	return out, nil
}

// waitCompleted polls until every id in want is completed in the CRM, or
// until the deadline; it returns what it saw last.
func (c *crmServer) waitCompleted(ctx context.Context, want []string, deadline time.Time) (map[string]time.Time, error) {
	for {
		done, err := c.completed()
		if err != nil {
			return nil, err
		}
		n := 0
		for _, id := range want {
			if _, ok := done[id]; ok {
				n++
			}
		}
		if n == len(want) || time.Now().After(deadline) || ctx.Err() != nil {
			return done, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crmEmail is an email activity as the Web API lists it.
type crmEmail struct {
	ID        string `json:"activityid"`
	MessageID string `json:"messageid"`
	StateCode int    `json:"statecode"`
}

// emails lists every email activity in the CRM through its Web API,
// signed in as user (one with read access to everyone's emails), paging
// through nextLinks.
func (c *crmServer) emails(ctx context.Context, user, password string) ([]crmEmail, error) {
	resp, err := http.PostForm(c.url+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "client_id": {"crmsync"}, "username": {user}, "password": {password},
		"scope": {c.url + "/user_impersonation"}})
	if err != nil {
		return nil, err
	}
	var tok struct {
		Access string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.Access == "" {
		return nil, fmt.Errorf("sign in as %s: %s %v", user, resp.Status, err)
	}
	var out []crmEmail
	next := c.url + "/api/data/v9.2/emails?$select=activityid,messageid,statecode"
	for next != "" {
		var page struct {
			Value []crmEmail `json:"value"`
			Next  string     `json:"@odata.nextLink"`
		}
		if err := getJSON(ctx, next, tok.Access, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
		next = page.Next
	}
	return out, nil
}

// verifyEmails checks that the CRM holds exactly one completed email for
// each Message-ID in want, and nothing else: none lost, none doubled,
// none left open.
func (c *crmServer) verifyEmails(ctx context.Context, want []string) error {
	rows, err := c.emails(ctx, "bob@demo.local", "demo-bob")
	if err != nil {
		return fmt.Errorf("listing the CRM's emails: %w", err)
	}
	// The demo seed's own emails (pending and draft ones, for sending from
	// the CRM) are not the benchmark's.
	seed := map[string]bool{}
	for _, id := range localcrm.DemoOutgoingEmailIDs() {
		seed[strings.ToLower(id)] = true
	}
	kept := rows[:0]
	for _, r := range rows {
		if !seed[strings.ToLower(r.ID)] {
			kept = append(kept, r)
		}
	}
	rows = kept
	seen := map[string]int{}
	open := 0
	for _, r := range rows {
		seen[strings.Trim(r.MessageID, "<>")]++
		if r.StateCode == 0 {
			open++
		}
	}
	lost, doubled := 0, 0
	for _, id := range want {
		switch n := seen[id]; {
		case n == 0:
			lost++
		case n > 1:
			doubled++
		}
	}
	if len(rows) != len(want) || lost > 0 || doubled > 0 || open > 0 {
		return fmt.Errorf("the CRM holds %d emails for %d messages: %d distinct Message-IDs, %d messages lost, %d doubled, %d left open",
			len(rows), len(want), len(seen), lost, doubled, open)
	}
	return nil
}

// getJSON GETs u (with a bearer token if given) and decodes the answer.
func getJSON(ctx context.Context, u, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Prefer", "odata.maxpagesize=5000")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", strings.SplitN(u, "?", 2)[0], resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
