package wire

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// NewGUID returns a random (version 4) GUID in lower case.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatGUID(b)
}

// FormatGUID writes 16 bytes in the 8-4-4-4-12 form.
func FormatGUID(b [16]byte) string {
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseGUID reports whether s is a GUID in 8-4-4-4-12 form and returns it
// in lower case.
func ParseGUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

// FormatTime writes a time the way Dataverse does: UTC, whole seconds.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

// ParseDateLiteral accepts OData date and DateTimeOffset literals, as
// $filter and function parameters write them, and returns them in the
// form records store dates in.
func ParseDateLiteral(w string) (string, bool) {
	if len(w) == 10 && w[4] == '-' && w[7] == '-' {
		if t, err := time.Parse("2006-01-02", w); err == nil {
			return FormatTime(t), true
		}
		return "", false
	}
	if len(w) > 10 && strings.Contains(w, "T") {
		if t, err := time.Parse(time.RFC3339Nano, w); err == nil {
			return FormatTime(t), true
		}
	}
	return "", false
}

// ParseDateTime reads a DateTime column's value from a payload: ISO 8601
// with a time and Z or an offset (a time without a zone would be read in
// an unknown time zone), or a plain date when dateOnly is set (DateOnly
// columns). It returns the stored form.
func ParseDateTime(s string, dateOnly bool) (string, bool) {
	if dateOnly && len(s) == 10 {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return FormatTime(t), true
		}
		return "", false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", false
	}
	return FormatTime(t), true
}

// Truncate shortens s to n bytes for messages, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Origin is the scheme://host under which a request reached the server:
// baseURL when the server is configured with one (a proxy in front), else
// derived from the request. A request built in process (a $batch part) may
// name its host only in its URL.
func Origin(r *http.Request, baseURL string) string {
	if baseURL != "" {
		return baseURL
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if host == "" {
		host = r.URL.Host
		if r.URL.Scheme != "" {
			scheme = r.URL.Scheme
		}
	}
	return scheme + "://" + host
}
