package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"crmsync/agent"
)

// defaultCallTimeout bounds a call whose context has no deadline, so a hung
// agent cannot hang the command line too.
const defaultCallTimeout = time.Minute

// Client talks to a running agent over its control socket. It is safe for
// concurrent use; calls are answered in order, one at a time.
type Client struct {
	mu   sync.Mutex // serialises calls: the protocol answers in order
	conn *net.UnixConn
	r    *bufio.Reader
	dead error // set once the connection broke; later calls fail with it
}

// Dial connects to the agent serving the socket at path. It returns
// ErrNotRunning when no agent listens there, and refuses a socket served
// by another user, whom the command line must not trust with its requests.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, ErrNotRunning
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("control: the control socket %s is not accessible to you; is the agent run by another user? %w", path, err)
		}
		return nil, fmt.Errorf("control: connect to the agent: %w", err)
	}
	conn := c.(*net.UnixConn)
	cred, err := peerCred(conn)
	if err == nil {
		err = checkPeer(cred.uid, os.Geteuid())
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("control: the agent on %s does not run as you: %w", path, err)
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 4096)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// call sends req and decodes the result into out (which may be nil). A
// failure reported by the agent is a *RemoteError; anything else means the
// connection is unusable and later calls fail too, since a half-read answer
// would otherwise be taken as the answer to the next request.
func (c *Client) call(ctx context.Context, req request, out any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead != nil {
		return c.dead
	}
	req.V = ProtocolVersion
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("control: %s: encode: %w", req.Cmd, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultCallTimeout)
	}
	c.conn.SetDeadline(deadline)
	// Cancelling ctx ends a blocked read or write at once.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()

	resp, err := c.roundTrip(append(b, '\n'))
	if err != nil {
		// The connection's deadline is the context's, and may fire a moment
		// before the context reports it; either way the caller's deadline it is.
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if ok && !time.Now().Before(deadline) {
			err = context.DeadlineExceeded
		}
		c.dead = fmt.Errorf("control: %s: %w", req.Cmd, err)
		return c.dead
	}
	if !resp.OK {
		msg := resp.Error
		if msg == "" {
			msg = "the agent refused the request without saying why"
		}
		return &RemoteError{Code: resp.Code, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return fmt.Errorf("control: %s: decode result: %w", req.Cmd, err)
	}
	return nil
}

func (c *Client) roundTrip(line []byte) (response, error) {
	var resp response
	if _, err := c.conn.Write(line); err != nil {
		return resp, err
	}
	raw, err := readLine(c.r, maxResponseBytes)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		return resp, fmt.Errorf("malformed answer from the agent: %w", err)
	}
	return resp, nil
}

// Hello asks the agent who it is.
func (c *Client) Hello(ctx context.Context) (Hello, error) {
	var h Hello
	err := c.call(ctx, request{Cmd: cmdHello}, &h)
	return h, err
}

// Status returns the agent's status snapshot.
func (c *Client) Status(ctx context.Context) (agent.Status, error) {
	var w wireStatus
	if err := c.call(ctx, request{Cmd: cmdStatus}, &w); err != nil {
		return agent.Status{}, err
	}
	return statusFromWire(w), nil
}

// Items returns up to limit recent messages, newest first as the agent
// orders them; limit 0 asks for the agent's default.
func (c *Client) Items(ctx context.Context, limit int) ([]agent.Item, error) {
	var ws []wireItem
	if err := c.call(ctx, request{Cmd: cmdItems, Limit: limit}, &ws); err != nil {
		return nil, err
	}
	items := make([]agent.Item, 0, len(ws))
	for _, w := range ws {
		items = append(items, itemFromWire(w))
	}
	return items, nil
}

// Track asks the agent to track the message, regarding the given record or,
// if regarding is nil, one the agent chooses. It returns once the action is
// queued.
func (c *Client) Track(ctx context.Context, k agent.MessageKey, regarding *agent.RecordRef) error {
	return c.call(ctx, request{Cmd: cmdTrack, Key: string(k), Regarding: refToWire(regarding)}, nil)
}

// Untrack asks the agent to stop tracking the message and says what became
// of the CRM copy.
func (c *Client) Untrack(ctx context.Context, k agent.MessageKey) (agent.UntrackResult, error) {
	var w wireUntrack
	if err := c.call(ctx, request{Cmd: cmdUntrack, Key: string(k)}, &w); err != nil {
		return agent.UntrackResult{}, err
	}
	return agent.UntrackResult{DeletedInCRM: w.DeletedInCRM, Reason: w.Reason}, nil
}

// SetRegarding links a tracked message to another CRM record.
func (c *Client) SetRegarding(ctx context.Context, k agent.MessageKey, r agent.RecordRef) error {
	return c.call(ctx, request{Cmd: cmdRegarding, Key: string(k), Entity: r.Entity, ID: r.ID}, nil)
}

// Search finds CRM records a message could be regarding; limit 0 asks for
// the agent's default.
func (c *Client) Search(ctx context.Context, query string, limit int) ([]agent.RecordRef, error) {
	var ws []wireRef
	if err := c.call(ctx, request{Cmd: cmdSearch, Query: query, Limit: limit}, &ws); err != nil {
		return nil, err
	}
	refs := make([]agent.RecordRef, 0, len(ws))
	for _, w := range ws {
		refs = append(refs, agent.RecordRef{Entity: w.Entity, ID: w.ID, Name: w.Name})
	}
	return refs, nil
}

// SignOut asks the agent to forget the saved sign-in and stop its
// connection to the CRM.
func (c *Client) SignOut(ctx context.Context) error {
	return c.call(ctx, request{Cmd: cmdSignOut}, nil)
}

// FolderRules lists the folder tracking rules, as the CRM has them now.
func (c *Client) FolderRules(ctx context.Context) ([]agent.FolderRule, error) {
	var ws []wireFolderRule
	if err := c.call(ctx, request{Cmd: cmdFolders}, &ws); err != nil {
		return nil, err
	}
	rules := make([]agent.FolderRule, 0, len(ws))
	for _, w := range ws {
		rules = append(rules, folderRuleFromWire(w))
	}
	return rules, nil
}

// AddFolderRule maps folder to r, replacing the folder's rule if it has
// one, and returns the rule as the CRM stored it. A folder name the agent
// would refuse is refused here already: the wire cannot carry text that
// is not UTF-8 unchanged.
func (c *Client) AddFolderRule(ctx context.Context, folder string, r agent.RecordRef) (agent.FolderRule, error) {
	if err := ValidateFolder(folder); err != nil {
		return agent.FolderRule{}, err
	}
	var w wireFolderRule
	if err := c.call(ctx, request{Cmd: cmdAddFolder, Folder: folder, Entity: r.Entity, ID: r.ID}, &w); err != nil {
		return agent.FolderRule{}, err
	}
	return folderRuleFromWire(w), nil
}

// RemoveFolderRule deletes the folder's rule; mail tracked through it
// stays tracked.
func (c *Client) RemoveFolderRule(ctx context.Context, folder string) error {
	if err := ValidateFolder(folder); err != nil {
		return err
	}
	return c.call(ctx, request{Cmd: cmdRemoveFolder, Folder: folder}, nil)
}
