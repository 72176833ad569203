package idp

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// oauthError is a refusal of an OAuth request, written in the shape Entra
// ID uses: the RFC 6749 error, a description starting with the AADSTS
// code, and the numeric code in error_codes. Clients must branch on error
// and the number, never on the text.
type oauthError struct {
	status   int
	code     string // RFC 6749 / RFC 8628 error
	aadsts   int    // Entra's numeric code
	desc     string // the description after "AADSTSn: "
	suberror string // e.g. basic_action for MFA, bad_token for a dead refresh token
}

// oauthErr builds an oauthError with a formatted description.
func oauthErr(status int, code string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

// Error makes oauthError an error, for handlers that pass it along.
func (e *oauthError) Error() string {
	return fmt.Sprintf("%s: AADSTS%d: %s", e.code, e.aadsts, e.desc)
}

// Refusals that several endpoints share.
func errMissing(param string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_request", 900144,
		"The request body must contain the following parameter: '%s'.", param)
}

func errUnknownClient(clientID string) *oauthError {
	return oauthErr(http.StatusBadRequest, "unauthorized_client", 700016,
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
		clientID, TenantDomain)
}

func errServer() *oauthError {
	return oauthErr(http.StatusInternalServerError, "server_error", 50000,
		"There was an error issuing a token. Try again later.")
}

// guidPattern is what a client-request-id must look like to be echoed.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// writeOAuthError writes e as Entra ID does: the trace and correlation ids
// and the timestamp both in the description and as fields. A correlation
// id the client sent (client-request-id) is echoed, so its logs line up.
func (s *Provider) writeOAuthError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	trace := wire.NewGUID()
	corr := r.Header.Get("client-request-id")
	if !guidPattern.MatchString(corr) {
		corr = wire.NewGUID()
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	desc := fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.aadsts, e.desc, trace, corr, ts)
	body := wire.Object{
		{"error", e.code},
		{"error_description", desc},
		{"error_codes", []int{e.aadsts}},
		{"timestamp", ts},
		{"trace_id", trace},
		{"correlation_id", corr},
	}
	if e.suberror != "" {
		body = append(body, wire.KV{"suberror", e.suberror})
	}
	b, err := wire.Marshal(body)
	if err != nil {
		b = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", "POST")
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// writeTokenJSON writes a successful token endpoint answer.
func writeTokenJSON(w http.ResponseWriter, v wire.Object) {
	b, err := wire.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
