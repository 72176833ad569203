//go:build unix

package control

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestBadRequests(t *testing.T) {
	long := strings.Repeat("k", 256)
	tests := []struct {
		line, code, text string
	}{
		{`not json`, CodeBadRequest, "malformed request"},
		{`{"v":1,"cmd":"status"`, CodeBadRequest, "malformed request"},
		{`[]`, CodeBadRequest, "malformed request"},
		{`"status"`, CodeBadRequest, "malformed request"},
		{`null`, CodeBadRequest, "no protocol version"},
		{`{}`, CodeBadRequest, "no protocol version"},
		{`   `, CodeBadRequest, "empty request"},
		{`{"cmd":"status"}`, CodeBadRequest, "no protocol version"},
		{`{"v":2,"cmd":"status"}`, CodeBadRequest, "protocol version 2 is not supported"},
		{`{"v":1}`, CodeBadRequest, "no command"},
		{`{"v":1,"cmd":"reboot"}`, CodeBadRequest, `unknown command "reboot"`},
		{`{"v":1,"cmd":"status","bogus":1}`, CodeBadRequest, `unknown field "bogus"`},
		{`{"v":1,"cmd":"status"} {"v":1,"cmd":"status"}`, CodeBadRequest, "data after the JSON object"},
		{`{"v":1,"cmd":"status","key":"k"}`, CodeBadRequest, `"status" does not take "key"`},
		{`{"v":1,"cmd":"track","key":"k","entity":"contact","id":"` + guid1 + `"}`, CodeBadRequest, `"track" does not take "entity"`},
		{`{"v":1,"cmd":"items","limit":-1}`, CodeBadRequest, "must not be negative"},
		{`{"v":1,"cmd":"items","limit":1.5}`, CodeBadRequest, "malformed request"},
		{`{"v":1,"cmd":"items","limit":1e30}`, CodeBadRequest, "malformed request"},
		{`{"v":1,"cmd":"track"}`, CodeBadRequest, "message key is required"},
		{`{"v":1,"cmd":"track","key":""}`, CodeBadRequest, "message key is required"},
		{`{"v":1,"cmd":"untrack","key":"../../etc/passwd"}`, CodeBadRequest, "must not contain '/'"},
		{`{"v":1,"cmd":"untrack","key":"a\u0000b"}`, CodeBadRequest, "must not contain '/' or NUL"},
		{`{"v":1,"cmd":"untrack","key":".."}`, CodeBadRequest, "is not a message key"},
		{`{"v":1,"cmd":"untrack","key":"` + long + `"}`, CodeBadRequest, "too long (256 bytes; at most 255)"},
		{`{"v":1,"cmd":"track","key":"k","regarding":{"entity":"lead","id":"` + guid1 + `"}}`, CodeBadRequest, `"lead" cannot be a regarding record`},
		{`{"v":1,"cmd":"track","key":"k","regarding":{"entity":"contact","id":"not-a-guid"}}`, CodeBadRequest, `"not-a-guid" is not a record id`},
		{`{"v":1,"cmd":"track","key":"k","regarding":{}}`, CodeBadRequest, "needs an entity"},
		{`{"v":1,"cmd":"regarding","key":"k","entity":"account"}`, CodeBadRequest, "needs an id"},
		{`{"v":1,"cmd":"regarding","key":"k","entity":"account","id":"6f1c3e0a-8d3b-4c6e-9a57-2a4c1d1e0b1g"}`, CodeBadRequest, "is not a record id"},
		{`{"v":1,"cmd":"regarding","key":"k","entity":"account","id":"{` + guid1 + `}"}`, CodeBadRequest, "is not a record id"},
		{`{"v":1,"cmd":"search","query":"   "}`, CodeBadRequest, "search needs a query"},
		{`{"v":1,"cmd":"search","query":"` + strings.Repeat("q", 201) + `"}`, CodeBadRequest, "query is too long"},
	}
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	// One connection for all: a bad request is answered and the connection
	// stays usable.
	c := dialRaw(t, ts.path)
	for _, tt := range tests {
		resp := c.send(tt.line)
		if resp.OK || resp.Code != tt.code || !strings.Contains(resp.Error, tt.text) || resp.V != ProtocolVersion {
			t.Errorf("%.60s\n got %+v\nwant code %q, error containing %q", tt.line, resp, tt.code, tt.text)
		}
	}
	if resp := c.send(`{"v":1,"cmd":"hello"}`); !resp.OK {
		t.Errorf("hello after bad requests: %+v", resp)
	}
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("bad requests reached the backend: %+v", calls)
	}
}

func TestHugeLine(t *testing.T) {
	be := &recBackend{}
	ts := startServer(t, be, nil, nil)
	c := dialRaw(t, ts.path)
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	// The server stops reading early, so the rest of the write may fail;
	// that is the point.
	go c.conn.Write(append(bytes.Repeat([]byte("x"), 1<<20), '\n'))
	resp := c.read()
	if resp.OK || resp.Code != CodeTooLarge {
		t.Errorf("1 MiB line: %+v; want too_large", resp)
	}
	if _, err := c.r.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("after a too-long line the connection should close; read gave %v", err)
	}
	// A line just under the bound is read whole and judged on its content.
	c2 := dialRaw(t, ts.path)
	pad := strings.Repeat(" ", MaxLineBytes-100)
	if resp := c2.send(`{"v":1,"cmd":"hello"}` + pad); !resp.OK {
		t.Errorf("a line under the bound: %+v", resp)
	}
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %+v", calls)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// settleGoroutines waits for the goroutine count to fall to at most want.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connsServed returns how many goroutines are serving a connection now.
func connsServed() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "(*Server).serveConn(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// warmBaseline has the server serve one connection to its end, so that
// whatever it starts on first use is running, and then counts the
// goroutines. It waits for the connection's goroutine to be gone rather
// than for a while: a count taken while it still ran would hide a leak of
// one.
func warmBaseline(t *testing.T, path string) int {
	t.Helper()
	c := dial(t, path)
	if _, err := c.Hello(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for connsServed() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server still serves a closed connection after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	return runtime.NumGoroutine()
}

func TestSilentClientsDoNotLeak(t *testing.T) {
	be := &recBackend{}
	ts := startServer(t, be, nil, func(s *Server) { s.IdleTimeout = 100 * time.Millisecond })
	before := warmBaseline(t, ts.path)

	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("unix", ts.path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// A client that starts a line and then goes quiet is cut off too.
	conns[0].Write([]byte(`{"v":1,"cmd":`))
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("silent client: read %d, %v; want EOF after the idle timeout", n, err)
		}
		c.Close()
	}
	settleGoroutines(t, before)
	if calls := be.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %+v", calls)
	}
}

func TestShutdownWithIdleClients(t *testing.T) {
	ts := startServer(t, &recBackend{}, nil, nil) // default 30 s idle timeout
	before := runtime.NumGoroutine()
	for range 3 {
		dialRaw(t, ts.path)
	}
	start := time.Now()
	ts.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop took %v with idle clients; they must not hold the agent up", d)
	}
	settleGoroutines(t, before)
}

func TestDisconnectMidRequest(t *testing.T) {
	be := &recBackend{block: make(chan struct{})}
	ts := startServer(t, be, nil, nil)
	before := warmBaseline(t, ts.path)

	// Half a line, then gone: nothing may run.
	c := dialRaw(t, ts.path)
	c.conn.Write([]byte(`{"v":1,"cmd":"track","key":"half"}`))
	c.conn.Close()

	// A whole request, then gone while the engine works on it.
	c = dialRaw(t, ts.path)
	c.conn.Write([]byte(`{"v":1,"cmd":"track","key":"whole"}` + "\n"))
	deadline := time.Now().Add(5 * time.Second)
	for len(be.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.conn.Close()
	close(be.block)

	settleGoroutines(t, before)
	calls := be.Calls()
	if len(calls) != 1 || calls[0].Key != "whole" {
		t.Errorf("backend calls %+v; want only the complete request", calls)
	}
	if _, err := dial(t, ts.path).Hello(ctxT(t)); err != nil {
		t.Errorf("agent after a client vanished: %v", err)
	}
}

func TestTooManyConnections(t *testing.T) {
	ts := startServer(t, &recBackend{}, nil, func(s *Server) { s.MaxConns = 2 })
	a, b := dial(t, ts.path), dial(t, ts.path)
	for _, c := range []*Client{a, b} {
		if _, err := c.Hello(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	c := dialRaw(t, ts.path)
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if resp := c.read(); resp.OK || resp.Code != CodeBusy {
		t.Errorf("third connection: %+v; want busy", resp)
	}
	a.Close()
	// The freed slot is usable again once the server notices the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := Dial(ctxT(t), ts.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Hello(ctxT(t))
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a client left: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
