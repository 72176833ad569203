package idp

import (
	"net/http"
	"strings"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// handleDeviceCode is the device authorization endpoint (RFC 8628 §3.1,
// in Entra's shape: no verification_uri_complete).
func (s *Provider) handleDeviceCode(w http.ResponseWriter, r *http.Request, ep endpoint) {
	f, ok := s.postForm(w, r)
	if !ok {
		return
	}
	clientID := f.Get("client_id")
	switch {
	case clientID == "":
		s.writeOAuthError(w, r, errMissing("client_id"))
		return
	case !registered(clientID):
		s.writeOAuthError(w, r, errUnknownClient(clientID))
		return
	case ep.kind == epEntra && !ep.v1 && strings.TrimSpace(f.Get("scope")) == "":
		s.writeOAuthError(w, r, errMissing("scope"))
		return
	}
	origin := s.origin(r)
	sc, e := parseScope(ep, origin, f.Get("scope"), f.Get("resource"))
	if e != nil {
		s.writeOAuthError(w, r, e)
		return
	}
	now := s.now()
	d := &deviceAuth{clientID: clientID, scope: sc, expires: now.Add(s.opts.DeviceCodeTTL), interval: s.opts.DeviceCodeInterval}
	code, err := s.flows.addDevice(d, now)
	if err != nil {
		s.writeOAuthError(w, r, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90006,
			"The service is temporarily unavailable. Try again later."))
		return
	}
	verify := origin + "/devicelogin"
	if ep.kind == epADFS {
		verify = origin + "/adfs/oauth2/deviceauth"
	}
	writeTokenJSON(w, wire.Object{
		{"user_code", d.userCode},
		{"device_code", code},
		{"verification_uri", verify},
		{"expires_in", int(s.opts.DeviceCodeTTL.Seconds())},
		{"interval", int(s.opts.DeviceCodeInterval.Seconds())},
		{"message", "To sign in, use a web browser to open the page " + verify + " and enter the code " + d.userCode + " to authenticate."},
	})
}

// handleDeviceLogin is the verification page: the user enters the code
// shown on the device, then signs in or declines.
func (s *Provider) handleDeviceLogin(w http.ResponseWriter, r *http.Request) {
	codePage := page{
		Title: "Enter code", Heading: "Enter code",
		Intro:  "Enter the code displayed on your app or device.",
		Action: r.URL.Path, AskCode: true, Submit: "Next",
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		codePage.Code = firstNonEmpty(q.Get("code"), q.Get("user_code"), q.Get("otc"))
		s.writePage(w, http.StatusOK, codePage)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		s.writePage(w, http.StatusMethodNotAllowed, page{Title: "Enter code", Heading: "Enter code", Error: "Use the form on this page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		codePage.Error = "The form could not be read. Try again."
		s.writePage(w, http.StatusBadRequest, codePage)
		return
	}
	f := r.PostForm
	code := normalizeUserCode(firstNonEmpty(f.Get("code"), f.Get("user_code")))
	now := s.now()
	d, ok := s.flows.device(code, now)
	if !ok {
		codePage.Code = code
		codePage.Error = "That code didn't work. Check the code and try again."
		s.writePage(w, http.StatusOK, codePage)
		return
	}
	app, _ := clientName(d.clientID)
	signIn := page{
		Title: "Sign in to your account", Heading: "Sign in",
		Intro:  "You're signing in to " + app + " on another device located near you. Only continue if you started that sign-in.",
		Action: r.URL.Path, Hidden: []field{{"code", code}},
		AskLogin: true, Submit: "Sign in", Secondary: "Cancel", SecondaryName: "decline",
	}
	if f.Get("decline") != "" {
		if s.flows.decide(code, now, false, "") {
			s.writePage(w, http.StatusOK, page{Title: "Sign in", Heading: "Sign-in canceled",
				Message: "You have declined to sign in to " + app + " on your device. You may now close this window."})
			return
		}
		codePage.Error = "That code didn't work. Check the code and try again."
		s.writePage(w, http.StatusOK, codePage)
		return
	}
	if _, hasLogin := f["login"]; !hasLogin {
		s.writePage(w, http.StatusOK, signIn)
		return
	}
	login := strings.TrimSpace(f.Get("login"))
	u, msg := s.interactiveSignIn(r.Context(), login, f.Get("passwd"))
	if u == nil {
		signIn.Login, signIn.Error = login, msg
		s.writePage(w, http.StatusOK, signIn)
		return
	}
	if !s.flows.decide(code, now, true, u.ID) {
		codePage.Error = "That code didn't work. Check the code and try again."
		s.writePage(w, http.StatusOK, codePage)
		return
	}
	s.log.Info("localcrm: device code approved")
	s.writePage(w, http.StatusOK, page{Title: "Sign in", Heading: app,
		Message: "You have signed in to the " + app + " application on your device. You may now close this window."})
}

// pollDevice is the device_code grant: the client's poll for the token.
func (s *Provider) pollDevice(f map[string][]string, clientID string) (*grant, *oauthError) {
	code := first(f, "device_code")
	if code == "" {
		code = first(f, "code") // AD FS spells it so
	}
	if code == "" {
		return nil, errMissing("device_code")
	}
	now := s.now()
	d, found, tooFast := s.flows.poll(code, clientID, now)
	switch {
	case !found:
		return nil, oauthErr(http.StatusBadRequest, "bad_verification_code", 70018,
			"The provided value for the input parameter 'device_code' is not valid.")
	case !now.Before(d.expires):
		return nil, oauthErr(http.StatusBadRequest, "expired_token", 70020,
			"The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case d.state == deviceDeclined:
		return nil, oauthErr(http.StatusBadRequest, "authorization_declined", 65004,
			"User declined to consent to access the app.")
	case d.state == deviceApproved:
		return &grant{userID: d.userID, scope: d.scope, authTime: d.authTime}, nil
	case tooFast:
		return nil, oauthErr(http.StatusBadRequest, "slow_down", 70016,
			"OAuth 2.0 device flow error. Authorization is pending. Poll no more than once every %d seconds.", int(d.interval.Seconds()))
	}
	return nil, oauthErr(http.StatusBadRequest, "authorization_pending", 70016,
		"OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
}

// first returns the first value of a form field.
func first(f map[string][]string, key string) string {
	if vs := f[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
