package localcrm

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"crmsync/agent/crm/localcrm/internal/wire"
)

// Fault makes matching requests fail the way a real service, gateway or
// network sometimes does, for tests of failures that cannot be caused
// otherwise: a 503 with Retry-After, a slow reply, an HTML error page,
// truncated JSON, a 200 full of garbage, or a dropped connection.
type Fault struct {
	// Method limits the fault to one HTTP method; empty matches any.
	Method string
	// Path is matched against the request path: a prefix when it ends in
	// "*", else a substring (so "WhoAmI" or "/emails" work); empty matches
	// every request, the token endpoint included.
	Path string
	// Status is the status to answer with; 0 lets the request through to
	// the real handler after Delay.
	Status int
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rounded up).
	RetryAfter time.Duration
	// Delay holds the answer back this long (or until the client gives up).
	Delay time.Duration
	// Count is how many requests the fault applies to; 0 means until
	// ClearFaults or the remove function is called.
	Count int
	// Body is sent as is; empty with a 4xx/5xx Status sends an OData error.
	Body string
	// ContentType goes with Body; empty means application/json for an
	// OData error body and text/html otherwise.
	ContentType string
	// Header holds extra response headers.
	Header http.Header
	// DropConnection closes the connection without an answer, as a
	// crashed proxy or a reset would.
	DropConnection bool
}

// faultList is the set of active faults, first match wins.
type faultList struct {
	mu   sync.Mutex
	list []*activeFault
}

type activeFault struct {
	Fault
	left int // remaining uses; -1 = unlimited
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	switch {
	case f.Path == "":
		return true
	case strings.HasSuffix(f.Path, "*"):
		return strings.HasPrefix(r.URL.Path, strings.TrimSuffix(f.Path, "*"))
	}
	return strings.Contains(r.URL.Path, f.Path)
}

// InjectFault adds a fault and returns a function that removes it.
func (s *Server) InjectFault(f Fault) (remove func()) {
	af := &activeFault{Fault: f, left: f.Count}
	if f.Count <= 0 {
		af.left = -1
	}
	s.faults.mu.Lock()
	s.faults.list = append(s.faults.list, af)
	s.faults.mu.Unlock()
	return func() {
		s.faults.mu.Lock()
		defer s.faults.mu.Unlock()
		for i, x := range s.faults.list {
			if x == af {
				s.faults.list = append(s.faults.list[:i], s.faults.list[i+1:]...)
				return
			}
		}
	}
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.list = nil
	s.faults.mu.Unlock()
}

// take finds the first matching fault and uses it up once.
func (l *faultList) take(r *http.Request) *Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, af := range l.list {
		if !af.matches(r) {
			continue
		}
		f := af.Fault
		if af.left > 0 {
			af.left--
			if af.left == 0 {
				l.list = append(l.list[:i], l.list[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// apply acts out a matching fault and reports whether it answered the
// request (false lets the request go on).
func (l *faultList) apply(w http.ResponseWriter, r *http.Request) bool {
	f := l.take(r)
	if f == nil {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.DropConnection {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return true
		}
		// HTTP/2 cannot be hijacked; aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.RetryAfter > 0 {
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if f.Body == "" && f.Status >= 400 {
		wire.WriteError(w, wire.Errf(f.Status, wire.CodeUnexpected, "%s (injected fault)", http.StatusText(f.Status)))
		return true
	}
	ct := f.ContentType
	if ct == "" {
		ct = "text/html; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
	return true
}
