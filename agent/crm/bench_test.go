package crm

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"crmsync/agent/crm/localcrm"
)

// benchClient is a client signed in to a local CRM with the demo seed.
func benchClient(b *testing.B) *HTTPClient {
	b.Helper()
	srv, err := localcrm.New(localcrm.Options{PasswordIterations: 1000, RateLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.SeedDemo(); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := New(Config{URL: ts.URL})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.SignIn(context.Background(), "alice@demo.local", "demo-alice"); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkWhoAmI(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.WhoAmI(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckIncomingEmail(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	for _, from := range []string{"maria.campbell@contoso.example", "sam@unknown.example"} {
		b.Run(from, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				h := Headers{MessageID: fmt.Sprintf("<bench-%d@bench.example>", i), Subject: "Arrival", From: from, To: []string{"alice@demo.local"}}
				if _, err := c.CheckIncomingEmail(ctx, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
