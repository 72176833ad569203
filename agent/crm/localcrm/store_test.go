package localcrm_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crmsync/agent/crm/localcrm"
	"crmsync/agent/crm/localcrm/internal/crmtest"
)

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "crm")
	clock := crmtest.NewClock()
	open := func() (*localcrm.Server, *crmtest.Env) {
		srv, err := localcrm.New(localcrm.Options{DataDir: dir, Now: clock.Now, PasswordIterations: 1000})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := srv.SeedDemo(); err != nil {
			t.Fatalf("SeedDemo: %v", err)
		}
		ts := httptest.NewServer(srv)
		return srv, &crmtest.Env{T: t, Srv: srv, TS: ts, Clock: clock, API: ts.URL + "/api/data/v9.2/"}
	}
	srv, e := open()
	token := e.SignIn("alice@demo.local", "demo-alice")
	id := e.CreateEmail(token, map[string]any{"subject": "survives restarts", "messageid": "<keep@x.example>"})
	org := srv.OrganizationID()
	counts := countAll(t, e, token)
	e.TS.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(filepath.Join(dir, localcrm.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("store mode %o, want 600", perm)
	}

	srv2, e2 := open() // seeds again: must not duplicate
	defer func() { e2.TS.Close(); srv2.Close() }()
	if srv2.OrganizationID() != org {
		t.Fatal("organization id changed across restarts")
	}
	// The session survives the restart: tokens are stored (hashed).
	r := e2.Req("GET", "emails("+id+")?$select=subject", token, nil)
	if r.Status != 200 || r.Str("subject") != "survives restarts" {
		t.Fatalf("after restart: %d %s", r.Status, r.Raw)
	}
	if got := countAll(t, e2, token); fmt.Sprint(got) != fmt.Sprint(counts) {
		t.Fatalf("counts changed after reseeding: %v -> %v", counts, got)
	}
	// Tokens are not stored in clear text.
	data, err := os.ReadFile(filepath.Join(dir, localcrm.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, localcrm.StoreFile+"-wal"))
	if strings.Contains(string(data)+string(wal), token) || strings.Contains(string(data)+string(wal), "demo-alice") {
		t.Fatal("a token or password is stored in clear text")
	}
}

// keys are the primary keys of the tables countAll counts.
var keys = map[string]string{
	"systemusers": "systemuserid", "accounts": "accountid", "contacts": "contactid",
	"opportunities": "opportunityid", "incidents": "incidentid", "emails": "activityid",
}

func countAll(t *testing.T, e *crmtest.Env, token string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, set := range []string{"systemusers", "accounts", "contacts", "opportunities", "incidents", "emails"} {
		r := e.Req("GET", set+"?$count=true&$select="+keys[set], token, nil)
		n, _ := r.Body["@odata.count"].(float64)
		out[set] = n
	}
	return out
}

func TestSeedDemo(t *testing.T) {
	e := newEnv(t, localcrm.Options{})
	if err := e.Srv.SeedDemo(); err != nil { // second run on the same store
		t.Fatal(err)
	}
	token := e.SignIn("carol@demo.local", "demo-carol")
	got := countAll(t, e, token)
	// emails: the demo's outgoing email (seed_outgoing.go), which every
	// user reads.
	want := map[string]float64{"systemusers": 4, "accounts": 6, "contacts": 8, "opportunities": 5, "incidents": 5, "emails": 4}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %v, want %v", k, got[k], v)
		}
	}
	for _, u := range localcrm.DemoUsers() {
		if id, err := e.Srv.UserID(u.Email); err != nil || id != localcrm.DemoID("systemuser", u.Email) {
			t.Fatalf("%s: %s %v", u.Email, id, err)
		}
	}
	r := e.Req("GET", "contacts("+localcrm.DemoID("contact", "maria.campbell@contoso.example")+")?$select=fullname,emailaddress1,emailaddress2,_parentcustomerid_value", token, nil)
	if r.Str("fullname") != "Maria Campbell" || r.Str("emailaddress2") != "maria@campbell.example" ||
		r.Str("_parentcustomerid_value") != localcrm.DemoID("account", "Contoso Ltd") {
		t.Fatalf("seeded contact: %s", r.Raw)
	}
}

func TestServe(t *testing.T) {
	refused := []localcrm.ServeOptions{
		{Listen: "0.0.0.0:8555"},
		{Listen: ":8555"},
		{Listen: "192.0.2.10:8555", AllowRemote: true},              // no TLS
		{Listen: "0.0.0.0:8555", TLSCert: "c.pem", TLSKey: "k.pem"}, // TLS but not allowed
		{Listen: "0.0.0.0:8555", AllowRemote: true, TLSCert: "c.pem", TLSKey: "k.pem", Seed: "demo"}, // demo passwords stay local
		{Listen: "127.0.0.1:0", Seed: "sample"},
		{Listen: "127.0.0.1"},
		{Listen: "127.0.0.1:0", TLSCert: "c.pem"},
	}
	for _, o := range refused {
		err := localcrm.Serve(context.Background(), o)
		if err == nil {
			t.Fatalf("%+v: served", o)
		}
		if o.Seed == "sample" && !strings.Contains(err.Error(), `"demo"`) {
			t.Fatalf("seed error does not name the allowed values: %v", err)
		}
		if strings.HasPrefix(o.Listen, "0.0.0.0") && !o.AllowRemote && !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("error does not say what to do: %v", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- localcrm.Serve(ctx, localcrm.ServeOptions{Listen: "127.0.0.1:0", Seed: "demo", DataDir: t.TempDir(),
			Server: localcrm.Options{PasswordIterations: 1000}, Ready: func(u string) { urls <- u }})
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not become ready")
	}
	e := &crmtest.Env{T: t, TS: &httptest.Server{URL: u}, API: u + "/api/data/v9.2/"}
	token := e.SignIn("bob@demo.local", "demo-bob")
	if r := e.Req("GET", "WhoAmI()", token, nil); r.Status != 200 {
		t.Fatalf("WhoAmI over Serve: %d", r.Status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
