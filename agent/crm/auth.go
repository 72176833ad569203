package crm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// tokens holds the signed-in session: the access and refresh token live in
// memory only and are never written anywhere.
type tokens struct {
	conf *oauth2.Config
	hc   *http.Client

	mu  sync.Mutex
	tok *oauth2.Token // nil until SignIn; guarded by mu
}

func (t *tokens) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, t.hc)
}

// signIn runs the password grant and keeps the resulting token.
func (t *tokens) signIn(ctx context.Context, user, password string) error {
	tok, err := t.conf.PasswordCredentialsToken(t.ctx(ctx), user, password)
	if err != nil {
		return tokenError("sign in", err)
	}
	t.mu.Lock()
	t.tok = tok
	t.mu.Unlock()
	return nil
}

// AccessToken returns a valid access token, refreshing it when it has
// expired by the client's clock. force refreshes even a token that looks
// valid, for when the server said 401 to it.
func (t *tokens) AccessToken(ctx context.Context, force bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == nil {
		return "", &Error{Op: "authorize", Kind: KindUnauthorized, Message: "not signed in"}
	}
	if !force && t.tok.Valid() {
		return t.tok.AccessToken, nil
	}
	if t.tok.RefreshToken == "" {
		return "", &Error{Op: "refresh token", Kind: KindUnauthorized, Message: "the session expired and the CRM gave no refresh token"}
	}
	old := &oauth2.Token{RefreshToken: t.tok.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := t.conf.TokenSource(t.ctx(ctx), old).Token()
	if err != nil {
		return "", tokenError("refresh token", err)
	}
	t.tok = tok
	return tok.AccessToken, nil
}

func (t *tokens) clear() {
	t.mu.Lock()
	t.tok = nil
	t.mu.Unlock()
}

// tokenError classifies a token endpoint failure. The raw response body is
// dropped: only the OAuth error code and description reach the message.
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		e := &Error{Op: op, Status: status, Code: re.ErrorCode}
		switch {
		case re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || status == http.StatusUnauthorized:
			e.Kind = KindUnauthorized
			e.Message = "the user name or password was not accepted"
			if d := strings.TrimSpace(re.ErrorDescription); d != "" {
				e.Message = d
			}
		case re.ErrorCode != "":
			e.Kind = KindBadRequest
			e.Message = strings.TrimSpace(re.ErrorCode + " " + re.ErrorDescription)
		default:
			e.Kind = classifyStatus(status)
			if e.Kind == KindUnknown {
				e.Kind = KindBadResponse
			}
			e.Message = "the token endpoint gave an answer that is not an OAuth token"
			if re.Response != nil {
				e.RetryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
			}
		}
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Op: op, Kind: KindNetwork, Err: err}
	}
	// oauth2 reports undecodable bodies as plain errors that can quote the
	// body; keep only our own words.
	msg := err.Error()
	if strings.Contains(msg, "oauth2: cannot parse json") || strings.Contains(msg, "oauth2: server response missing access_token") ||
		strings.Contains(msg, "cannot unmarshal") || strings.Contains(msg, "oauth2: cannot fetch token") {
		return &Error{Op: op, Kind: KindBadResponse, Message: "the token endpoint gave an answer that is not an OAuth token"}
	}
	return &Error{Op: op, Kind: classifyTransport(err), Err: err}
}
