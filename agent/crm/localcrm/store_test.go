package localcrm

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "crm")
	clock := newFakeClock()
	open := func() (*Server, *env) {
		srv, err := New(Options{DataDir: dir, Now: clock.Now, PasswordIterations: 1000})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := srv.SeedDemo(); err != nil {
			t.Fatalf("SeedDemo: %v", err)
		}
		ts := httptest.NewServer(srv)
		return srv, &env{t: t, srv: srv, ts: ts, clock: clock, api: ts.URL + "/api/data/v9.2/"}
	}
	srv, e := open()
	token := e.signIn("alice@demo.local", "demo-alice")
	id := e.createEmail(token, map[string]any{"subject": "survives restarts", "messageid": "<keep@x.example>"})
	org := srv.OrganizationID()
	counts := countAll(t, e, token)
	e.ts.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	info, err := os.Stat(filepath.Join(dir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("store mode %o, want 600", perm)
	}

	srv2, e2 := open() // seeds again: must not duplicate
	defer func() { e2.ts.Close(); srv2.Close() }()
	if srv2.OrganizationID() != org {
		t.Fatal("organization id changed across restarts")
	}
	// The session survives the restart: tokens are stored (hashed).
	r := e2.req("GET", "emails("+id+")?$select=subject", token, nil)
	if r.status != 200 || r.str("subject") != "survives restarts" {
		t.Fatalf("after restart: %d %s", r.status, r.raw)
	}
	if got := countAll(t, e2, token); fmt.Sprint(got) != fmt.Sprint(counts) {
		t.Fatalf("counts changed after reseeding: %v -> %v", counts, got)
	}
	// Tokens are not stored in clear text.
	data, err := os.ReadFile(filepath.Join(dir, StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(dir, StoreFile+"-wal"))
	if strings.Contains(string(data)+string(wal), token) || strings.Contains(string(data)+string(wal), "demo-alice") {
		t.Fatal("a token or password is stored in clear text")
	}
}

func countAll(t *testing.T, e *env, token string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, set := range []string{"systemusers", "accounts", "contacts", "opportunities", "incidents", "emails"} {
		r := e.req("GET", set+"?$count=true&$select="+tables.bySet[set].key, token, nil)
		n, _ := r.body["@odata.count"].(float64)
		out[set] = n
	}
	return out
}

func TestSeedDemo(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.srv.SeedDemo(); err != nil { // second run on the same store
		t.Fatal(err)
	}
	token := e.signIn("carol@demo.local", "demo-carol")
	got := countAll(t, e, token)
	want := map[string]float64{"systemusers": 4, "accounts": 6, "contacts": 8, "opportunities": 5, "incidents": 5, "emails": 0}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %v, want %v", k, got[k], v)
		}
	}
	for _, u := range DemoUsers() {
		if id, err := e.srv.UserID(u.Email); err != nil || id != DemoID("systemuser", u.Email) {
			t.Fatalf("%s: %s %v", u.Email, id, err)
		}
	}
	r := e.req("GET", "contacts("+DemoID("contact", "maria.campbell@contoso.example")+")?$select=fullname,emailaddress1,emailaddress2,_parentcustomerid_value", token, nil)
	if r.str("fullname") != "Maria Campbell" || r.str("emailaddress2") != "maria@campbell.example" ||
		r.str("_parentcustomerid_value") != DemoID("account", "Contoso Ltd") {
		t.Fatalf("seeded contact: %s", r.raw)
	}
}

func TestServe(t *testing.T) {
	refused := []ServeOptions{
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
		err := Serve(context.Background(), o)
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
	for _, host := range []string{"localhost", "LocalHost", "127.0.0.1", "127.0.0.5", "::1"} {
		if err := checkListen(ServeOptions{Listen: net.JoinHostPort(host, "8555"), Seed: "demo"}); err != nil {
			t.Fatalf("%s refused: %v", host, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Listen: "127.0.0.1:0", Seed: "demo", DataDir: t.TempDir(),
			Server: Options{PasswordIterations: 1000}, Ready: func(u string) { urls <- u }})
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not become ready")
	}
	e := &env{t: t, ts: &httptest.Server{URL: u}, api: u + "/api/data/v9.2/"}
	token := e.signIn("bob@demo.local", "demo-bob")
	if r := e.req("GET", "WhoAmI()", token, nil); r.status != 200 {
		t.Fatalf("WhoAmI over Serve: %d", r.status)
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

// TestAddressLookupUsesIndexes guards the address indexes: if the query
// and the index expressions drift apart, SQLite silently falls back to
// reading every record for every message decided.
func TestAddressLookupUsesIndexes(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.st.db.Query("EXPLAIN QUERY PLAN "+addressQuery, "someone@example.com")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	searches := 0
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
		if strings.HasPrefix(detail, "SCAN records") {
			t.Errorf("the address lookup reads the whole table: %q", detail)
		}
		if strings.HasPrefix(detail, "SEARCH records USING INDEX records_") && strings.Contains(detail, "<expr>=?") {
			searches++
		}
	}
	if want := strings.Count(addressQuery, "json_extract"); searches != want || want < 4 {
		t.Errorf("%d of %d address columns searched by index; plan %q", searches, want, plan)
	}
}
