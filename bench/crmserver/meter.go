package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// meter counts, around the CRM, what the benchmarks judge: requests per
// user, throttling, the bytes and content of decision requests, and when
// each email was completed. It looks at requests and answers only after
// the answer has been flushed, so its work is not in any latency.
type meter struct {
	marker []byte // in every benchmark message body; never in a decision

	mu        sync.Mutex
	users     map[string]*userLog // by user (see userOf)
	tokens    map[string]string   // access and refresh tokens -> user, learnt from token answers
	checks    int64               // CheckIncomingEmail calls, plain or in a $batch
	decisions int64               // requests carrying them
	bytes     int64               // those requests as sent: request line, headers, body
	early     int64               // decision requests or GETs that carried the body marker
	ids       map[string]string   // activityid -> messageid of emails created through this server
	completed map[string]int64    // messageid -> Unix ns when its completing request was answered
}

// userLog is one user's Web API traffic.
type userLog struct {
	starts    []int64 // Unix ns at which each request came in, in order of answer
	throttled int64   // 429 answers
	batches   int64   // $batch requests
}

func newMeter(marker string) *meter {
	return &meter{marker: []byte(marker), users: map[string]*userLog{}, tokens: map[string]string{},
		ids: map[string]string{}, completed: map[string]int64{}}
}

// wrap serves the admin endpoints and meters every other request to h.
func (m *meter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bench/checks":
			m.mu.Lock()
			fmt.Fprintf(w, "%d %d\n", m.checks, m.bytes)
			m.mu.Unlock()
			return
		case "/bench/stats":
			m.writeStats(w, r)
			return
		case "/bench/completed":
			m.mu.Lock()
			b, _ := json.Marshal(m.completed)
			m.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b)
			return
		}
		api := strings.HasPrefix(r.URL.Path, "/api/data/")
		token := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token")
		// A body is read by the handler; keep a copy to look at after.
		var body []byte
		if (api || token) && r.Body != nil && r.Method != http.MethodGet {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		batch := api && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/$batch")
		rec := &recorder{ResponseWriter: w, keep: batch || token}
		start := time.Now()
		h.ServeHTTP(rec, r)
		_ = http.NewResponseController(rec).Flush()
		answered := time.Now().UnixNano()
		switch {
		case token:
			m.learnTokens(body, rec)
		case api:
			m.observe(r, body, rec, start.UnixNano(), answered, batch)
		}
	})
}

// observe records one Web API request after its answer.
func (m *meter) observe(r *http.Request, body []byte, rec *recorder, start, answered int64, batch bool) {
	var parts []part
	var statuses []int
	if batch {
		parts, _ = parseBatch(r.Header.Get("Content-Type"), body)
		statuses = matchStatuses(parts, rec.Header().Get("Content-Type"), rec.buf.Bytes())
	}
	plain := part{method: r.Method, path: apiPath(r.URL.Path), body: body, header: r.Header}
	if plain.path != "" && r.URL.RawQuery != "" {
		plain.path += "?" + r.URL.RawQuery
	}
	var dump []byte
	checks, allGET, earlyGET := 0, true, false
	if batch {
		for _, p := range parts {
			if p.method != http.MethodGet {
				allGET = false
				continue
			}
			if strings.HasPrefix(p.path, "CheckIncomingEmail") {
				checks++
			}
			earlyGET = earlyGET || m.marked([]byte(p.path), p.body)
		}
	} else if r.Method == http.MethodGet {
		if strings.HasPrefix(plain.path, "CheckIncomingEmail") {
			checks = 1
		}
		earlyGET = m.marked([]byte(r.RequestURI))
	}
	decision := checks > 0 && allGET
	if decision {
		r.Body = io.NopCloser(bytes.NewReader(body))
		dump, _ = httputil.DumpRequest(r, true)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[m.userOf(r)]
	if u == nil {
		u = &userLog{}
		m.users[m.userOf(r)] = u
	}
	u.starts = append(u.starts, start)
	if rec.status == http.StatusTooManyRequests {
		u.throttled++
	}
	if batch {
		u.batches++
	}
	if decision {
		m.checks += int64(checks)
		m.decisions++
		m.bytes += int64(len(dump))
	}
	if earlyGET || (decision && m.marked(dump)) {
		m.early++
	}
	if !batch {
		m.completions([]part{plain}, []int{rec.status}, rec.Header(), answered)
		return
	}
	m.completions(parts, statuses, nil, answered)
}

// marked says whether any of bs holds the body marker.
func (m *meter) marked(bs ...[]byte) bool {
	if len(m.marker) == 0 {
		return false
	}
	for _, b := range bs {
		if bytes.Contains(b, m.marker) {
			return true
		}
	}
	return false
}

// userOf names the caller of r: the user its bearer token was issued to,
// else a short hash of the token (a token this meter did not see issued).
func (m *meter) userOf(r *http.Request) string {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if u, ok := m.tokens[tok]; ok {
		return u
	}
	if tok == "" {
		return "(anonymous)"
	}
	sum := sha256.Sum256([]byte(tok))
	return "token:" + hex.EncodeToString(sum[:4])
}

// learnTokens maps the tokens of a token answer to the user they were
// issued to: the password grant names the user, a refresh grant presents
// a refresh token learnt earlier.
func (m *meter) learnTokens(body []byte, rec *recorder) {
	if rec.status != http.StatusOK {
		return
	}
	form, _ := url.ParseQuery(string(body))
	var ans struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if json.Unmarshal(rec.buf.Bytes(), &ans) != nil || ans.Access == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	user := strings.ToLower(form.Get("username"))
	if user == "" {
		user = m.tokens[form.Get("refresh_token")]
	}
	if user == "" {
		return
	}
	m.tokens[ans.Access] = user
	if ans.Refresh != "" {
		m.tokens[ans.Refresh] = user
	}
}

// stats is the answer of /bench/stats.
type stats struct {
	API       int64                `json:"api"`       // Web API requests
	Throttled int64                `json:"throttled"` // of them answered 429
	Batches   int64                `json:"batches"`   // of them $batch
	Users     map[string]userStats `json:"users"`
	Checks    int64                `json:"checks"`    // CheckIncomingEmail calls
	Decisions int64                `json:"decisions"` // requests carrying them (plain GETs or all-GET $batches)
	Bytes     int64                `json:"bytes"`     // those requests' bytes as sent
	Early     int64                `json:"early"`     // decision requests or GETs carrying the body marker
}

type userStats struct {
	API       int64 `json:"api"`
	Throttled int64 `json:"throttled"`
	Batches   int64 `json:"batches"`
	First     int64 `json:"first"` // Unix ns of the first request
	Last      int64 `json:"last"`  // of the last request counted
}

// writeStats answers /bench/stats; ?until=<Unix ns> counts only requests
// that came in by then, so a rate can end where the work ended.
func (m *meter) writeStats(w http.ResponseWriter, r *http.Request) {
	until, err := strconv.ParseInt(r.URL.Query().Get("until"), 10, 64)
	if err != nil {
		until = 1<<63 - 1
	}
	m.mu.Lock()
	s := stats{Users: map[string]userStats{}, Checks: m.checks, Decisions: m.decisions, Bytes: m.bytes, Early: m.early}
	for name, u := range m.users {
		starts := append([]int64(nil), u.starts...)
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		n := sort.Search(len(starts), func(i int) bool { return starts[i] > until })
		us := userStats{API: int64(n), Throttled: u.throttled, Batches: u.batches}
		if n > 0 {
			us.First, us.Last = starts[0], starts[n-1]
		}
		s.Users[name] = us
		s.API += us.API
		s.Throttled += us.Throttled
		s.Batches += us.Batches
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

// recorder notes the status of an answer and, when asked, keeps a copy of
// its body.
type recorder struct {
	http.ResponseWriter
	status int
	keep   bool
	buf    bytes.Buffer
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.keep {
		w.buf.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
