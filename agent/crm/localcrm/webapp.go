package localcrm

import (
	"html"
	"net/http"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// serveRecordPage answers the web app's record address,
// /main.aspx?etn=<table>&id=<guid>&pagetype=entityrecord, which clients
// offer as "open in the CRM". This server has no web app; the page says
// so and names the record, without showing its data, since a browser
// brings no bearer token.
func (s *Server) serveRecordPage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		wire.WriteError(w, wire.MethodNotAllowed(r.Method, "main.aspx", http.MethodGet))
		return
	}
	q := r.URL.Query()
	what := "This address opens a record in the Dynamics 365 web app."
	if id, ok := wire.ParseGUID(q.Get("id")); ok && q.Get("etn") != "" {
		what = "In Dynamics 365 this address opens the " + html.EscapeString(q.Get("etn")) + " record " + id + "."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Local CRM</title></head><body>" +
		"<h1>Local CRM</h1><p>" + what + "</p><p>The local CRM serves the Web API only; it has no web app.</p></body></html>\n"))
}
