package signin

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"crmsync/agent/crm"
)

// Device code timing (RFC 8628 §3.2, §3.5; Entra's default lifetime).
const (
	defaultPollInterval = 5 * time.Second
	slowDownStep        = 5 * time.Second
	defaultCodeLifetime = 15 * time.Minute
	maxPollFailures     = 3 // temporary failures in a row before polling gives up
)

// deviceCodeResponse is the device authorization answer. Entra's v2.0
// endpoint says verification_uri; AD FS and Entra's older one say
// verification_url.
type deviceCodeResponse struct {
	DeviceCode      string          `json:"device_code"`
	UserCode        string          `json:"user_code"`
	VerificationURI string          `json:"verification_uri"`
	VerificationURL string          `json:"verification_url"`
	ExpiresIn       json.RawMessage `json:"expires_in"`
	Interval        json.RawMessage `json:"interval"`
	Message         string          `json:"message"`
}

// DeviceCode signs in with a code the user enters on a page in any
// browser, on any device (RFC 8628 as Entra implements it). prompt gets
// the page and the code; DeviceCode then polls until the user finishes,
// declines (ErrCanceled), the code expires (ErrTimedOut) or ctx ends
// (ErrCanceled).
func (c Config) DeviceCode(ctx context.Context, prompt func(Prompt)) (_ *Grant, err error) {
	defer func() { err = userFacing(err) }()
	const op = "device code sign-in"
	form := url.Values{"client_id": {c.clientID()}, "scope": {c.scopes()}}
	c.extra(form, false)
	body, err := c.post(ctx, op, c.Authority.DeviceCodeURL(), form, "")
	if err != nil {
		return nil, ctxError(ctx, op, err)
	}
	var dc deviceCodeResponse
	if json.Unmarshal(body, &dc) != nil {
		return nil, &crm.Error{Op: op, Kind: crm.KindBadResponse, Message: msgNotOAuth}
	}
	page := orElse(dc.VerificationURI, dc.VerificationURL)
	if dc.DeviceCode == "" || dc.UserCode == "" || page == "" {
		return nil, &crm.Error{Op: op, Kind: crm.KindBadResponse,
			Message: "The sign-in service's device code answer is incomplete; use another sign-in method."}
	}
	// The user is sent to this page to enter a code and a password: it must
	// meet the same transport rule as the service itself.
	if _, err := checkURL(op, "device code page", page); err != nil {
		return nil, err
	}
	lifetime, ok := seconds(dc.ExpiresIn)
	if !ok || lifetime <= 0 {
		lifetime = defaultCodeLifetime
	}
	interval, ok := seconds(dc.Interval)
	if !ok || interval <= 0 {
		interval = defaultPollInterval
	}
	expires := c.now().Add(lifetime)
	if prompt != nil {
		msg := dc.Message
		if msg == "" {
			msg = "To sign in, open " + page + " in a browser and enter the code " + dc.UserCode + "."
		}
		prompt(Prompt{URL: page, UserCode: dc.UserCode, Expires: expires, Message: msg})
	}
	return c.pollDeviceCode(ctx, op, dc.DeviceCode, interval, expires)
}

// pollDeviceCode asks the token endpoint until the user has finished. The
// configured clock decides expiry; waiting uses real timers, so a test's
// fake clock cannot make it spin.
func (c Config) pollDeviceCode(ctx context.Context, op, deviceCode string, interval time.Duration, expires time.Time) (*Grant, error) {
	form := c.newForm("urn:ietf:params:oauth:grant-type:device_code")
	form.Del("scope") // the device code carries the scope it was issued for
	form.Set("device_code", deviceCode)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil, ctxError(ctx, op, ctx.Err())
		case <-timer.C:
		}
		if !c.now().Before(expires) {
			return nil, expired(op)
		}
		wait := interval
		body, status, o, err := c.send(ctx, op, c.tokenURL(), form)
		switch {
		case err == nil && o == nil:
			return c.parseGrant(op, body)
		case ctx.Err() != nil:
			return nil, ctxError(ctx, op, ctx.Err())
		case o != nil && o.Error == "authorization_pending":
			failures = 0
		case o != nil && o.Error == "slow_down":
			interval += slowDownStep
			wait, failures = interval, 0
		case o != nil:
			return nil, refusal(op, status, o, "The sign-in was refused; start it again.")
		case crm.IsTemporary(err) && failures+1 < maxPollFailures:
			failures++
			wait = max(interval, retryAfterOf(err))
		default:
			return nil, err
		}
		timer.Reset(wait)
	}
}

func retryAfterOf(err error) time.Duration {
	d, _ := crm.RetryAfter(err)
	return d
}

// expired is the error of a device code that ran out.
func expired(op string) *crm.Error {
	return flowError(op, crm.KindUnauthorized, ErrTimedOut, "The code expired before you entered it; start again.")
}
