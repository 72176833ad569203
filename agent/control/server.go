package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Defaults of a Server's limits.
const (
	DefaultIdleTimeout    = 30 * time.Second
	DefaultRequestTimeout = 20 * time.Second
	DefaultMaxConns       = 16
)

// writeTimeout bounds writing one response, so a client that stops reading
// cannot hold a connection slot forever.
const writeTimeout = 5 * time.Second

// errLineTooLong is returned by readLine for a line over the bound.
var errLineTooLong = errors.New("control: request line too long")

// Server answers requests on a Listener with a Backend.
type Server struct {
	ln  *Listener
	be  Backend
	log *slog.Logger

	// IdleTimeout bounds the wait for each request line, from the end of
	// the previous answer; a silent client is disconnected after it.
	IdleTimeout time.Duration
	// RequestTimeout bounds each backend call.
	RequestTimeout time.Duration
	// MaxConns bounds the open connections; one more is told the agent is
	// busy and closed.
	MaxConns int
}

// NewServer returns a Server with the default limits; they may be changed
// before Run. A nil log discards.
func NewServer(ln *Listener, be Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		ln: ln, be: be, log: log,
		IdleTimeout: DefaultIdleTimeout, RequestTimeout: DefaultRequestTimeout, MaxConns: DefaultMaxConns,
	}
}

// Run serves connections until ctx ends, then waits for the open ones to
// finish and returns nil. It does not close the Listener: the caller closes
// it last, so the data directory stays locked until the rest of the agent
// has shut down too.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	h := &handler{be: s.be, log: s.log, pid: os.Getpid(), timeout: s.RequestTimeout}
	euid := os.Geteuid()
	sem := make(chan struct{}, max(s.MaxConns, 1))

	// A deadline, unlike Close, stops Accept while keeping the socket bound.
	if err := s.ln.ln.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("control: serve: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { s.ln.ln.SetDeadline(time.Now()) })
	defer stop()

	var backoff time.Duration
	for {
		conn, err := s.ln.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("control: serve: %w", err)
			}
			// Out of file descriptors and the like pass; retry as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("control: accept failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		select {
		case sem <- struct{}{}:
		default:
			s.log.Warn("control: too many connections; refusing one", "max", cap(sem))
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			writeResponse(conn, fail(CodeBusy, "the agent has too many control connections open; try again"))
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.serveConn(ctx, h, conn, euid)
		}()
	}
}

// serveConn answers the requests of one connection in order.
func (s *Server) serveConn(ctx context.Context, h *handler, conn *net.UnixConn, euid int) {
	defer conn.Close()
	// Closing from outside is what ends a read blocked at shutdown.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Every connection is checked, not just the first: the socket's mode
	// could have been widened since it was bound.
	cred, err := peerCred(conn)
	if err != nil {
		s.log.Warn("control: refused a connection whose user is unknown", "err", err)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		writeResponse(conn, fail(CodeForbidden, "the agent cannot tell which user is connecting"))
		return
	}
	if err := checkPeer(cred.uid, euid); err != nil {
		// Only ids are logged: they say who tried without saying anything private.
		s.log.Warn("control: refused a connection from another user", "uid", cred.uid, "pid", cred.pid)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		writeResponse(conn, fail(CodeForbidden, "this crmsync agent belongs to another user"))
		return
	}

	r := bufio.NewReaderSize(conn, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		line, err := readLine(r, MaxLineBytes)
		if errors.Is(err, errLineTooLong) {
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			writeResponse(conn, fail(CodeTooLarge, "request is too long (at most 64 KiB per line)"))
			return
		}
		if err != nil {
			// EOF, an idle timeout, or a client gone mid-line: nothing to answer.
			return
		}
		resp := h.serveLine(ctx, line)
		conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := writeResponse(conn, resp); err != nil {
			return
		}
	}
}

// readLine reads one newline-terminated line of at most max bytes. A line
// cut short by the end of the stream is an error, never a request: half a
// command must not run.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
}

// writeResponse sends one response line in a single write.
func writeResponse(w io.Writer, resp response) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("control: encode response: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
