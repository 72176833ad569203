package localcrm_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

// TestMailboxesSurviveReseeding reopens a persistent store and seeds it
// again: every user keeps the one mailbox with the same id.
func TestMailboxesSurviveReseeding(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "crm")
	ids := map[string]string{}
	for round := range 2 {
		srv, err := localcrm.New(localcrm.Options{DataDir: dir, PasswordIterations: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.SeedDemo(); err != nil {
			t.Fatal(err)
		}
		for _, u := range localcrm.DemoUsers() {
			id, err := srv.MailboxID(u.Email)
			if err != nil {
				t.Fatal(err)
			}
			if round == 1 && ids[u.Email] != id {
				t.Errorf("%s: mailbox %s became %s", u.Email, ids[u.Email], id)
			}
			ids[u.Email] = id
		}
		ts := httptest.NewServer(srv)
		e := &crmtest.Env{T: t, Srv: srv, TS: ts, API: ts.URL + "/api/data/v9.2/"}
		for _, u := range localcrm.DemoUsers()[:3] { // dave's password grant needs MFA
			r := e.Req("GET", "mailboxes?$select=name", e.SignIn(u.Email, u.Password), nil)
			if len(r.Values()) != 1 {
				t.Errorf("round %d: %s sees %d mailboxes: %s", round, u.Email, len(r.Values()), r.Raw)
			}
		}
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecordPage(t *testing.T) {
	e := crmtest.New(t, localcrm.Options{})
	id := localcrm.DemoID("contact", "maria.campbell@contoso.example")
	resp, err := http.Get(e.TS.URL + "/main.aspx?etn=contact&id=" + id + "&pagetype=entityrecord")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "contact record "+id) || strings.Contains(string(body), "Maria") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp2, err := http.Get(e.TS.URL + "/main.aspx?etn=%3Cscript%3E&id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if body, _ := io.ReadAll(resp2.Body); strings.Contains(string(body), "<script>") {
		t.Fatalf("not escaped: %s", body)
	}
}
