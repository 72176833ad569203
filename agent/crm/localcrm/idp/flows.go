package idp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"
)

// Authorization codes and device codes live in memory: they last minutes,
// and a restart simply makes the user sign in again. Only hashes are kept,
// like the tokens table does.

// maxPendingFlows bounds the codes kept at once, so unauthenticated
// requests cannot grow memory without limit.
const maxPendingFlows = 10_000

// flowGrace is how long a spent or expired code is remembered after its
// expiry, so that a replay is told "already redeemed" or "expired" rather
// than "unknown".
const flowGrace = 15 * time.Minute

// errTooManyFlows refuses a new code while maxPendingFlows are pending.
var errTooManyFlows = errors.New("localcrm: too many sign-ins in progress")

// authCode is an issued authorization code and what it is bound to.
type authCode struct {
	clientID    string
	redirectURI string // exactly as sent to the authorize endpoint, port included
	scope       scopeSet
	challenge   string // PKCE code_challenge
	method      string // S256 or plain
	userID      string
	nonce       string
	authTime    time.Time
	expires     time.Time
	used        bool
}

// Device authorization states.
const (
	devicePending = iota
	deviceApproved
	deviceDeclined
)

// deviceAuth is a device code waiting for its user.
type deviceAuth struct {
	hash     string // of the device_code
	userCode string
	clientID string
	scope    scopeSet
	expires  time.Time
	interval time.Duration
	lastPoll time.Time
	state    int
	userID   string
	authTime time.Time
}

// flowStore holds the pending codes of a Server.
type flowStore struct {
	mu        sync.Mutex
	codes     map[string]*authCode   // by code hash
	devices   map[string]*deviceAuth // by device code hash
	userCodes map[string]string      // user code -> device code hash
}

func newFlowStore() *flowStore {
	return &flowStore{codes: map[string]*authCode{}, devices: map[string]*deviceAuth{}, userCodes: map[string]string{}}
}

// pruneLocked forgets codes well past their expiry.
func (f *flowStore) pruneLocked(now time.Time) {
	for h, c := range f.codes {
		if now.After(c.expires.Add(flowGrace)) {
			delete(f.codes, h)
		}
	}
	for h, d := range f.devices {
		if now.After(d.expires.Add(flowGrace)) {
			delete(f.devices, h)
			delete(f.userCodes, d.userCode)
		}
	}
}

// addCode stores a code and returns it.
func (f *flowStore) addCode(c *authCode, now time.Time) (string, error) {
	code, h := newToken()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked(now)
	if len(f.codes) >= maxPendingFlows {
		return "", errTooManyFlows
	}
	f.codes[h] = c
	return code, nil
}

// redeemCode finds a code and marks it spent, returning its state before:
// a code is single-use whatever the outcome of its first redemption, so
// that a wrong PKCE verifier cannot be retried.
func (f *flowStore) redeemCode(code string) (authCode, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.codes[tokenHash(code)]
	if !ok {
		return authCode{}, false
	}
	before := *c
	c.used = true
	return before, true
}

// addDevice stores a device authorization and returns its device code.
func (f *flowStore) addDevice(d *deviceAuth, now time.Time) (string, error) {
	code, h := newToken()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked(now)
	if len(f.devices) >= maxPendingFlows {
		return "", errTooManyFlows
	}
	for {
		d.userCode = newUserCode()
		if _, taken := f.userCodes[d.userCode]; !taken {
			break
		}
	}
	d.hash = h
	f.devices[h] = d
	f.userCodes[d.userCode] = h
	return code, nil
}

// device returns a copy of the device authorization with this user code
// if it is still waiting for its user.
func (f *flowStore) device(userCode string, now time.Time) (deviceAuth, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[f.userCodes[normalizeUserCode(userCode)]]
	if !ok || d.state != devicePending || !now.Before(d.expires) {
		return deviceAuth{}, false
	}
	return *d, true
}

// decide approves (for userID) or declines a pending device authorization;
// it fails when the code is no longer pending.
func (f *flowStore) decide(userCode string, now time.Time, approve bool, userID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[f.userCodes[normalizeUserCode(userCode)]]
	if !ok || d.state != devicePending || !now.Before(d.expires) {
		return false
	}
	if approve {
		d.state, d.userID, d.authTime = deviceApproved, userID, now
	} else {
		d.state = deviceDeclined
	}
	return true
}

// poll is one token request with a device code. It returns the state of
// the authorization and whether the client polled faster than allowed; an
// approved authorization is handed out once and then forgotten.
func (f *flowStore) poll(deviceCode, clientID string, now time.Time) (d deviceAuth, found, tooFast bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.devices[tokenHash(deviceCode)]
	if !ok || p.clientID != clientID {
		return deviceAuth{}, false, false
	}
	tooFast = !p.lastPoll.IsZero() && now.Sub(p.lastPoll) < p.interval
	p.lastPoll = now
	if p.state == deviceApproved && now.Before(p.expires) {
		delete(f.devices, p.hash)
		delete(f.userCodes, p.userCode)
	}
	return *p, true, tooFast
}

// forgetUser drops codes and approvals of a user whose sessions were
// revoked, so nothing issued before the revocation turns into a token.
func (f *flowStore) forgetUser(userID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, c := range f.codes {
		if c.userID == userID {
			delete(f.codes, h)
		}
	}
	for h, d := range f.devices {
		if d.userID == userID {
			delete(f.devices, h)
			delete(f.userCodes, d.userCode)
		}
	}
}

// userCodeAlphabet leaves out letters and digits that read alike (O/0, I/1).
const userCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newUserCode returns a code of nine letters and digits, like Entra's
// "FGKDW3MPB".
func newUserCode() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b)
}

// normalizeUserCode accepts what people type: any case, spaces, dashes.
func normalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r != ' ' && r != '-' && r != '\t' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// randomID returns n random bytes, base64url-encoded.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
