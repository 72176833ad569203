package signin

import (
	"crypto/subtle"
	"html"
	"net/http"
	"strings"
)

// The pages the loopback listener answers the browser with. They are
// complete documents with no scripts and no outside resources.
const (
	pageSignedIn      = "Signed in to crmsync. You can close this tab."
	pageRefused       = "The sign-in to crmsync did not finish. Return to crmsync and try again."
	pageStateMismatch = "This answer does not belong to crmsync's current sign-in, so crmsync refused it. Close this tab and start the sign-in again."
	pageWaiting       = "crmsync is waiting for the sign-in to finish. Return to the sign-in page."
	pageFinished      = "This sign-in has already finished. You can close this tab."
	pageWrongHost     = "This page is only for crmsync's sign-in."
)

// writePage answers with a small HTML page: a fixed sentence and, for a
// refusal, the service's first sentence, escaped. The headers keep the
// URL (which holds the code) out of referrers and caches.
func writePage(w http.ResponseWriter, status int, sentence, detail string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>crmsync sign-in</title>`)
	b.WriteString(`<style>body{font-family:sans-serif;margin:3em auto;max-width:36em;line-height:1.5}</style></head><body><p>`)
	b.WriteString(html.EscapeString(sentence))
	b.WriteString("</p>")
	if detail != "" {
		b.WriteString("<p>")
		b.WriteString(html.EscapeString(detail))
		b.WriteString("</p>")
	}
	b.WriteString("</body></html>\n")
	_, _ = w.Write([]byte(b.String()))
}

// firstSentence returns the first sentence of a service's description,
// at most 200 bytes, without the trace and correlation lines Entra adds.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// sameState compares the returned state in constant time.
func sameState(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
