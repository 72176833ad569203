package signin

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"crmsync/agent/crm"
	"crmsync/agent/internal/transport"
)

// Discover finds a CRM's sign-in service: an unauthenticated GET
// <crm>/api/data/v9.2/ must answer 401 with WWW-Authenticate: Bearer
// authorization_uri=..., resource_id=... . It reads the answer as
// Microsoft's SDK does; a nil hc means a client with a 30 s timeout.
func Discover(ctx context.Context, hc *http.Client, crmURL string) (_ Authority, err error) {
	defer func() { err = userFacing(err) }()
	const op = "discover sign-in"
	base, err := checkURL(op, "CRM address", crmURL)
	if err != nil {
		return Authority{}, err
	}
	if hc == nil {
		hc = defaultClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, crm.APIBase(base).String(), nil)
	if err != nil {
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadRequest, Err: crm.ErrInvalidURL,
			Message: "The CRM address is not a valid web address; enter it as https://yourorg.crm.dynamics.com."}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("OData-MaxVersion", "4.0")
	resp, err := hc.Do(req)
	if err != nil {
		e := transportError(op, err)
		if e.Kind == crm.KindNetwork {
			e.Message = "The CRM could not be reached; check the address and the network."
		}
		return Authority{}, e
	}
	// Drain a bounded amount so the connection can be reused; the body of
	// a 401 says nothing the header does not.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()

	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
	case s >= 200 && s < 300:
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse, Status: s,
			Message: "The address answered without asking for a sign-in, so it is not a Dynamics 365 Web API; check the CRM address."}
	case s == http.StatusTooManyRequests || s >= 500:
		return Authority{}, statusError(op, resp, time.Now())
	default:
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse, Status: s,
			Message: "The address did not answer like a Dynamics 365 Web API (no sign-in challenge); check the CRM address."}
	}
	return authorityFromChallenges(op, base, resp.Header.Values("WWW-Authenticate"))
}

// authorityFromChallenges picks the Bearer challenge of a 401 answer.
func authorityFromChallenges(op string, crmURL *url.URL, headers []string) (Authority, error) {
	var bearer *challenge
	windows := false
	chs := parseChallenges(headers)
	for i, c := range chs {
		switch strings.ToLower(c.scheme) {
		case "bearer":
			if bearer == nil {
				bearer = &chs[i]
			}
		case "negotiate", "ntlm":
			windows = true
		}
	}
	if bearer == nil {
		if windows {
			return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadRequest, Status: http.StatusUnauthorized,
				Message: msgWindowsAuth, Err: ErrWindowsAuth}
		}
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse, Status: http.StatusUnauthorized,
			Message: "The CRM asked for a sign-in but named no OAuth sign-in service (no Bearer challenge); check the CRM address, or pass --authority."}
	}
	uri := bearer.params["authorization_uri"]
	if uri == "" {
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse, Status: http.StatusUnauthorized,
			Message: "The CRM's sign-in challenge has no authorization_uri; pass --authority."}
	}
	resource := bearer.params["resource_id"]
	if resource == "" {
		// Dataverse names itself; without it, the CRM's own origin is the
		// resource, as Microsoft's samples assume.
		resource = crmURL.Scheme + "://" + crmURL.Host
	}
	a, err := ParseAuthority(uri, resource)
	if err != nil {
		if e, ok := err.(*crm.Error); ok {
			e.Op = op
		}
		return Authority{}, err
	}
	// A CRM elsewhere must not send the user to a plain-http sign-in page,
	// even one on this computer: the loopback exception is for the local
	// CRM, whose sign-in service is itself.
	if strings.HasPrefix(a.URL, "http:") && !transport.IsLoopback(crmURL.Hostname()) {
		return Authority{}, &crm.Error{Op: op, Kind: crm.KindBadResponse, Err: crm.ErrInsecureURL,
			Message: "The CRM names a sign-in service without https; ask your administrator, or pass --authority."}
	}
	return a, nil
}

// defaultClient is the client used when the caller gives none.
func defaultClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }
