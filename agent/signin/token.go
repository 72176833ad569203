package signin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"crmsync/agent/crm"
)

// post sends a form to a sign-in service endpoint and returns the body of
// a 2xx answer. Every other outcome becomes a classified *crm.Error;
// badGrant is the sentence for a plain invalid_grant (see refusal).
func (c Config) post(ctx context.Context, op, endpoint string, form url.Values, badGrant string) ([]byte, error) {
	body, status, o, err := c.send(ctx, op, endpoint, form)
	if o != nil {
		return nil, refusal(op, status, o, badGrant)
	}
	return body, err
}

// send posts a form and sorts the answer into a 2xx body, an OAuth
// refusal (for the caller to read), or a *crm.Error for everything else.
func (c Config) send(ctx context.Context, op, endpoint string, form url.Values) ([]byte, int, *oauthError, error) {
	what := "token endpoint"
	if strings.HasSuffix(endpoint, "/devicecode") {
		what = "device code endpoint"
	}
	if _, err := checkURL(op, what, endpoint); err != nil {
		return nil, 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, nil, &crm.Error{Op: op, Kind: crm.KindBadRequest, Err: crm.ErrInvalidURL,
			Message: "The " + what + " is not a valid web address."}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := noRedirects(c.httpClient()).Do(req)
	if err != nil {
		return nil, 0, nil, transportError(op, err)
	}
	defer resp.Body.Close()
	status := resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, status, nil, transportError(op, err)
	}
	if len(body) > maxBody {
		return nil, status, nil, &crm.Error{Op: op, Kind: crm.KindBadResponse, Status: status, Message: msgNotOAuth}
	}
	if status >= 200 && status < 300 {
		return body, status, nil, nil
	}
	var o oauthError
	if json.Unmarshal(body, &o) != nil || o.Error == "" {
		return nil, status, nil, statusError(op, resp, c.now())
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		// Trouble at the service, whatever the body says: never a reason
		// to sign the user out.
		e := statusError(op, resp, c.now())
		e.Code, _ = o.code()
		return nil, status, nil, e
	}
	return nil, status, &o, nil
}

// noRedirects returns a copy of hc that does not follow redirects: a
// token request carries a password, code or refresh token, which must
// never be re-sent to wherever a redirect points.
func noRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// tokenResponse is a successful token answer (RFC 6749 §5.1, OIDC).
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"` // a number, or a numeric string (Entra v1, AD FS)
	IDToken      string          `json:"id_token"`
	ClientInfo   string          `json:"client_info"`
}

// redeem posts a token request and reads the grant it answers with.
func (c Config) redeem(ctx context.Context, op string, form url.Values, badGrant string) (*Grant, error) {
	body, err := c.post(ctx, op, c.tokenURL(), form, badGrant)
	if err != nil {
		return nil, err
	}
	return c.parseGrant(op, body)
}

// parseGrant reads a token answer. The body is never quoted in an error:
// it may hold tokens, or be a proxy's page.
func (c Config) parseGrant(op string, body []byte) (*Grant, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, &crm.Error{Op: op, Kind: crm.KindBadResponse, Message: msgNotOAuth}
	}
	if tr.AccessToken == "" {
		return nil, &crm.Error{Op: op, Kind: crm.KindBadResponse,
			Message: "The sign-in service's answer holds no access token; check the token endpoint address."}
	}
	g := &Grant{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken}
	if secs, ok := seconds(tr.ExpiresIn); ok && secs > 0 {
		g.Expiry = c.now().Add(secs)
	}
	g.Account = accountFromIDToken(tr.IDToken, c.clientID())
	if ci := accountFromClientInfo(tr.ClientInfo); g.Account.ObjectID == "" {
		g.Account.ObjectID, g.Account.TenantID = ci.ObjectID, orElse(g.Account.TenantID, ci.TenantID)
	}
	return g, nil
}

// seconds reads a JSON number or numeric string of seconds.
func seconds(raw json.RawMessage) (time.Duration, bool) {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// idClaims are the id_token claims that name the user.
type idClaims struct {
	Aud               json.RawMessage `json:"aud"` // a string or an array of strings
	PreferredUsername string          `json:"preferred_username"`
	UPN               string          `json:"upn"`
	UniqueName        string          `json:"unique_name"`
	Email             string          `json:"email"`
	OID               string          `json:"oid"`
	TID               string          `json:"tid"`
}

// accountFromIDToken reads who signed in from an id_token. The signature
// is not checked: the token came straight from the token endpoint over
// TLS, which OpenID Connect Core 3.1.3.7 accepts, and it is used for
// display only, never to authorise anything. A token for another client
// (aud) is ignored.
func accountFromIDToken(idToken, clientID string) Account {
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		return Account{}
	}
	payload, err := b64(parts[1])
	if err != nil {
		return Account{}
	}
	var cl idClaims
	if json.Unmarshal(payload, &cl) != nil || !audience(cl.Aud, clientID) {
		return Account{}
	}
	name := cl.PreferredUsername
	for _, alt := range []string{cl.UPN, cl.UniqueName, cl.Email} {
		name = orElse(name, alt)
	}
	return Account{Username: name, ObjectID: cl.OID, TenantID: cl.TID}
}

// audience reports whether the aud claim names clientID.
func audience(raw json.RawMessage, clientID string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == clientID
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == clientID {
				return true
			}
		}
	}
	return false
}

// accountFromClientInfo reads Entra's client_info: {"uid":..., "utid":...}.
func accountFromClientInfo(ci string) Account {
	if ci == "" {
		return Account{}
	}
	raw, err := b64(ci)
	if err != nil {
		return Account{}
	}
	var v struct {
		UID  string `json:"uid"`
		UTID string `json:"utid"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return Account{}
	}
	return Account{ObjectID: v.UID, TenantID: v.UTID}
}

// b64 decodes base64url with or without padding.
func b64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("signin: not base64url")
	}
	return b, nil
}

// orElse returns a unless it is empty, then b.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newForm starts a token request form with the fields every grant sends.
func (c Config) newForm(grant string) url.Values {
	v := url.Values{"grant_type": {grant}, "client_id": {c.clientID()}, "scope": {c.scopes()}}
	c.extra(v, true)
	return v
}
