// Package control is the local control socket of a running agent: the
// command line (`crmsync status`, `items`, `track`, `untrack`, `regarding`,
// `folders`) talks to the tray app or the headless agent through it, and the socket
// doubles as the single-instance lock of a data directory.
//
// The protocol is newline-delimited JSON over a Unix stream socket: one
// request object per line, one response object per line, each carrying the
// protocol version. Only the user who runs the agent may talk to it: the
// socket lives in a 0700 directory, has mode 0600, and every connection's
// peer credentials are checked against the server's effective uid.
package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"crmsync/agent"
)

// ProtocolVersion is the version of the request and response format. A
// request with another version is refused with a clear error, so a CLI and
// an agent from different builds fail loudly instead of misreading each other.
const ProtocolVersion = 1

// MaxLineBytes bounds one request line, newline included. Requests are tiny;
// the bound keeps a misbehaving client from making the agent buffer without end.
const MaxLineBytes = 64 << 10

// maxResponseBytes bounds one response line on the client side; an items
// listing of a thousand messages stays well below it.
const maxResponseBytes = 16 << 20

// Response codes, for callers that branch on the kind of failure rather
// than on the user-readable text.
const (
	CodeBadRequest  = "bad_request" // the request is malformed or names an invalid key or record
	CodeNotFound    = "not_found"   // the agent does not know the message or record
	CodeUnavailable = "unavailable" // the agent cannot do it now (not signed in, offline, not built yet)
	CodeTimeout     = "timeout"     // the agent did not finish within the request timeout
	CodeForbidden   = "forbidden"   // the client runs as another user
	CodeBusy        = "busy"        // too many control connections are open
	CodeTooLarge    = "too_large"   // the request line exceeds MaxLineBytes
	CodeFailed      = "failed"      // the agent refused or could not do it; the message says why
	CodeInternal    = "internal"    // a fault inside the agent; its log has the details
)

// ErrNotRunning is returned by Dial when no agent listens on the socket.
var ErrNotRunning = errors.New("no crmsync agent is running for this data directory; start it with `crmsync` or `crmsync agent ...`")

// Backend is what the control socket needs from the engine: a status
// snapshot, the tracking actions and the folder tracking rules. Errors it returns are shown to the user
// as they are; an error that matches fs.ErrNotExist or has a NotFound() bool
// method answering true is reported with CodeNotFound, agent.ErrNotAvailable
// and errors with Temporary() true with CodeUnavailable.
type Backend interface {
	Status() agent.Status
	agent.Tracker
	agent.FolderTracking
	// SyncNow runs a sync pass of the address book and calendar.
	SyncNow(ctx context.Context) (agent.SyncReport, error)
	// Outbox and RetryEmail are the CRM's outgoing email.
	Outbox(ctx context.Context) (agent.OutgoingReport, error)
	RetryEmail(ctx context.Context, id string) error
	// SignOut forgets the saved sign-in and stops the connection.
	SignOut(ctx context.Context) error
}

// InUseError says that another agent already serves the data directory.
type InUseError struct {
	PID int // the process holding the socket; 0 if it could not be learned
}

// Error returns the user-readable explanation.
func (e *InUseError) Error() string {
	if e.PID <= 0 {
		return "another crmsync agent is already using this data directory; stop it or use another --data directory"
	}
	return fmt.Sprintf("another crmsync agent (process %d) is already using this data directory; stop it or use another --data directory", e.PID)
}

// RemoteError is a failure reported by the agent. Its text is the agent's
// user-readable message, so the command line can print it unchanged.
type RemoteError struct {
	Code    string // one of the Code constants
	Message string // user-readable; never empty
}

// Error returns the agent's message.
func (e *RemoteError) Error() string { return e.Message }

// Is lets callers test a remote failure against the contract's sentinels,
// as they would for an in-process backend.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case agent.ErrNotAvailable:
		return e.Code == CodeUnavailable
	case fs.ErrNotExist:
		return e.Code == CodeNotFound
	}
	return false
}

// classify maps a backend error to a response code. It is the one place
// that decides how engine failures look on the wire.
func classify(err error) string {
	var nf interface{ NotFound() bool }
	var tmp interface{ Temporary() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, fs.ErrNotExist), errors.As(err, &nf) && nf.NotFound():
		return CodeNotFound
	case errors.Is(err, agent.ErrNotAvailable), errors.As(err, &tmp) && tmp.Temporary():
		return CodeUnavailable
	}
	return CodeFailed
}
