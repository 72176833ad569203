package idp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
)

// The sign-in pages are plain HTML forms that work without JavaScript; the
// element ids of the email and password fields and of the submit button
// are Entra's (i0116, i0118, idSIButton9), so browser automation written
// for Entra's pages finds them here too.

// autoPostScript submits the form_post answer to the app; without
// JavaScript the user presses Continue.
const autoPostScript = "document.forms[0].submit();"

// autoPostHash allows exactly that script in the page's CSP.
var autoPostHash = func() string {
	sum := sha256.Sum256([]byte(autoPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// field is a hidden form field.
type field struct{ Name, Value string }

// page is what a sign-in page shows.
type page struct {
	Title, Heading, Intro string
	Error                 string // shown in red above the form
	Message               string // shown instead of a form
	Action                string // form target; empty shows no form
	Hidden                []field
	AskCode               bool   // the device code field
	Code                  string // its prefilled value
	AskLogin              bool   // the email and password fields
	Login                 string // prefilled email
	Submit                string // primary button text
	Secondary             string // secondary button text
	SecondaryName         string // its name (cancel, decline)
	AutoPost              bool   // submit the form on load (form_post)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="none">
<title>{{.Title}}</title>
<style>
body{font-family:"Segoe UI","Helvetica Neue",Arial,sans-serif;background:#f2f2f2;margin:0;color:#1b1b1b}
main{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.brand{font-weight:600;color:#737373;margin-bottom:16px}
h1{font-size:24px;font-weight:600;margin:0 0 12px}
.error{color:#e81123;margin:8px 0 12px}
label{display:block;margin-top:12px}
input[type=email],input[type=password],input[type=text]{width:100%;box-sizing:border-box;border:0;border-bottom:1px solid #666;padding:6px 0;font-size:15px}
.buttons{margin-top:24px;text-align:right}
input[type=submit]{min-width:108px;padding:6px 12px;font-size:15px;border:0;margin-left:8px}
#idSIButton9{background:#0067b8;color:#fff}
.secondary{background:#ccc;color:#000}
</style>
</head>
<body>
<main>
<div class="brand">Local CRM &middot; {{.Title}}</div>
<h1 id="loginHeader">{{.Heading}}</h1>
{{if .Intro}}<p id="intro">{{.Intro}}</p>{{end}}
{{if .Error}}<div id="errorText" class="error" role="alert">{{.Error}}</div>{{end}}
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
{{if .Action}}<form method="post" action="{{.Action}}" autocomplete="off">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}{{if .AskCode}}<label for="otc">Code</label>
<input type="text" id="otc" name="code" value="{{.Code}}" required autofocus>
{{end}}{{if .AskLogin}}<label for="i0116">Email</label>
<input type="email" id="i0116" name="login" value="{{.Login}}" required autocomplete="username"{{if not .Login}} autofocus{{end}}>
<label for="i0118">Password</label>
<input type="password" id="i0118" name="passwd" required autocomplete="current-password"{{if .Login}} autofocus{{end}}>
{{end}}<div class="buttons">
{{if .Secondary}}<input type="submit" id="idBtn_Back" class="secondary" name="{{.SecondaryName}}" value="{{.Secondary}}" formnovalidate>
{{end}}<input type="submit" id="idSIButton9" value="{{.Submit}}">
</div>
</form>
{{if .AutoPost}}<script>` + autoPostScript + `</script>{{end}}
{{end}}</main>
</body>
</html>
`))

// writePage renders a page. Pages are never cached or framed, and send no
// referrer, so codes and hints in their URLs stay where they are.
func (s *Provider) writePage(w http.ResponseWriter, status int, p page) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		s.log.Error("localcrm: render page", "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	csp := "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
	if p.AutoPost {
		csp += "; script-src " + autoPostHash
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeErrorPage shows a refusal that must not be sent to the app, such as
// an unknown client or redirect URI, with Entra's AADSTS code.
func (s *Provider) writeErrorPage(w http.ResponseWriter, status int, e *oauthError) {
	s.writePage(w, status, page{
		Title:   "Sign in",
		Heading: "Sorry, but we're having trouble signing you in.",
		Error:   "AADSTS" + strconv.Itoa(e.aadsts) + ": " + e.desc,
	})
}

// handleLogout ends nothing (the server keeps no browser session) and
// says so, for apps that open the end_session_endpoint.
func (s *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.writePage(w, http.StatusOK, page{
		Title:   "Sign out",
		Heading: "You signed out of your account",
		Message: "It's a good idea to close all browser windows.",
	})
}
