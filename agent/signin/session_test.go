package signin

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"crmsync/agent/crm"
	"crmsync/agent/crm/localcrm"
	"crmsync/agent/signin/signintest"
)

// rotations records what onRotate was given.
type rotations struct {
	mu  sync.Mutex
	got []string
}

func (r *rotations) add(rt string) {
	r.mu.Lock()
	r.got = append(r.got, rt)
	r.mu.Unlock()
}

func (r *rotations) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func TestSessionLocal(t *testing.T) {
	l := startLocal(t, localcrm.AuthEntra)
	ctx := context.Background()
	g, err := l.cfg.Browser(ctx, signintest.HTTP(t, alice, alicePW), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rot rotations
	s := NewSession(l.cfg, g, rot.add)
	if s.Account().Username != alice {
		t.Errorf("account = %+v", s.Account())
	}
	if tok, err := s.AccessToken(ctx, false); err != nil || tok != g.AccessToken {
		t.Fatalf("valid token: %v", err)
	}

	// The CRM refused the token: force a refresh; the refresh token rotates.
	t2, err := s.AccessToken(ctx, true)
	if err != nil || t2 == g.AccessToken {
		t.Fatalf("forced refresh: %v", err)
	}
	l.whoAmI(t, t2)
	if r := rot.list(); len(r) != 1 || r[0] == g.RefreshToken || r[0] == "" {
		t.Fatalf("rotations: %d", len(r))
	}
	if _, err := l.cfg.Refresh(ctx, g.RefreshToken); crm.KindOf(err) != crm.KindUnauthorized {
		t.Errorf("the rotated-away refresh token: %v, want unauthorized", err)
	}

	// Near expiry, concurrent callers share one refresh.
	l.clock.Advance(localcrm.DefaultTokenTTL - time.Minute)
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Go(func() {
			tok, err := s.AccessToken(ctx, false)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	for _, tok := range toks {
		if tok != toks[0] || tok == t2 {
			t.Fatalf("concurrent callers got different or stale tokens")
		}
	}
	if n := len(rot.list()); n != 2 {
		t.Errorf("%d rotations, want 2: one refresh for all callers", n)
	}
	l.whoAmI(t, toks[0])

	// An administrator ends the sessions: sign in again.
	if err := l.srv.RevokeTokens(alice); err != nil {
		t.Fatal(err)
	}
	_, err = s.AccessToken(ctx, true)
	if !errors.Is(err, crm.ErrUnauthorized) || crm.IsTemporary(err) {
		t.Fatalf("after revocation: %v, want unauthorized", err)
	}
	noSecrets(t, err, g.RefreshToken, g.AccessToken, alice)
	if _, err2 := s.AccessToken(ctx, false); !errors.Is(err2, crm.ErrUnauthorized) {
		t.Errorf("after revocation, again: %v", err2)
	}
}

func TestSessionNetworkFailureKeepsRefreshToken(t *testing.T) {
	l := startLocal(t, localcrm.AuthADFS)
	ctx := context.Background()
	g, err := l.cfg.Password(ctx, alice, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	var rot rotations
	s := NewSession(l.cfg, g, rot.add)
	l.ts.Close()
	_, err = s.AccessToken(ctx, true)
	if !crm.IsTemporary(err) || errors.Is(err, crm.ErrUnauthorized) {
		t.Fatalf("server down: %v, want temporary", err)
	}
	if len(rot.list()) != 0 {
		t.Error("rotated without an answer")
	}
	l.restart(t)
	tok, err := s.AccessToken(ctx, true)
	if err != nil {
		t.Fatalf("server back: %v", err)
	}
	l.whoAmI(t, tok)
}

func TestSessionWithoutRefreshToken(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	c := Config{Now: func() time.Time { return now }}
	s := NewSession(c, &Grant{AccessToken: "a", Expiry: now.Add(time.Hour)}, nil)
	if tok, err := s.AccessToken(context.Background(), false); tok != "a" || err != nil {
		t.Fatalf("valid: %q %v", tok, err)
	}
	_, err := s.AccessToken(context.Background(), true)
	if crm.KindOf(err) != crm.KindUnauthorized {
		t.Errorf("forced without refresh token: %v", err)
	}
	s = NewSession(c, &Grant{AccessToken: "a", Expiry: now.Add(-time.Second)}, nil)
	if _, err := s.AccessToken(context.Background(), false); crm.KindOf(err) != crm.KindUnauthorized {
		t.Errorf("expired: %v", err)
	} else if crm.UserMessage(err) == "" {
		t.Error("no message")
	}
	if _, err := NewSession(c, nil, nil).AccessToken(context.Background(), false); crm.KindOf(err) != crm.KindUnauthorized {
		t.Errorf("never signed in: %v", err)
	}
}

func TestSessionWaiterHonoursContext(t *testing.T) {
	block := make(chan struct{})
	c := canned(t, 200, nil, `{"access_token":"new"}`)
	c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		<-block
		return nil, errors.New("late")
	})}
	s := NewSession(c, &Grant{RefreshToken: "r"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.AccessToken(ctx, false)
	close(block)
	if !crm.IsTemporary(err) || errors.Is(err, crm.ErrUnauthorized) {
		t.Errorf("err = %v, want temporary", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
