package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"crmsync/agent"
)

// Limits of the list commands. A zero limit asks for the default.
const (
	defaultItems  = 50
	maxItems      = 1000
	defaultSearch = 10
	maxSearch     = 100
	maxQueryBytes = 200
)

// handler turns one request line into one response. It holds no per-
// connection state, so the fuzz target can drive it without a socket.
type handler struct {
	be      Backend
	log     *slog.Logger
	pid     int           // reported by hello
	timeout time.Duration // bound of one backend call
}

// fail builds an error response.
func fail(code, msg string) response {
	return response{V: ProtocolVersion, Code: code, Error: msg}
}

// serveLine answers one request line. It never panics: a panic in the
// backend becomes an internal error, so one bad request cannot take the
// agent down with it.
func (h *handler) serveLine(ctx context.Context, line []byte) (resp response) {
	var cmd string
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("control: request panicked", "cmd", cmd, "panic", fmt.Sprint(p))
			resp = fail(CodeInternal, "internal error in the agent; see its log")
		}
	}()
	req, err := decodeRequest(line)
	if err != nil {
		return fail(CodeBadRequest, err.Error())
	}
	cmd = req.Cmd
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	result, err := h.dispatch(ctx, req)
	if err != nil {
		var bad badRequest
		if errors.As(err, &bad) {
			return fail(CodeBadRequest, bad.msg)
		}
		code, msg := classify(err), err.Error()
		// The request's own context explains a failure better than whatever
		// the backend made of its cancellation.
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			code, msg = CodeTimeout, fmt.Sprintf("the agent did not finish %q within %s; try again", req.Cmd, h.timeout)
		case ctx.Err() != nil:
			code, msg = CodeUnavailable, "the agent is shutting down"
		}
		h.log.Debug("control: request failed", "cmd", req.Cmd, "code", code, "err", err)
		return fail(code, msg)
	}
	if result == nil {
		return response{V: ProtocolVersion, OK: true}
	}
	raw, err := json.Marshal(result)
	if err != nil {
		h.log.Error("control: encode result", "cmd", req.Cmd, "err", err)
		return fail(CodeInternal, "internal error in the agent; see its log")
	}
	return response{V: ProtocolVersion, OK: true, Result: raw}
}

// badRequest marks a validation failure, whose text is already user-readable.
type badRequest struct{ msg string }

func (b badRequest) Error() string { return b.msg }

func badf(format string, args ...any) error { return badRequest{fmt.Sprintf(format, args...)} }

// decodeRequest parses exactly one JSON object, strictly: unknown fields,
// trailing data and a missing or different version are all refused, so a
// typo never silently changes what a command does.
func decodeRequest(line []byte) (request, error) {
	var req request
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return req, errors.New("empty request; send one JSON object per line")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("malformed request: %s", clip(err.Error(), 120))
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errors.New("malformed request: data after the JSON object")
	}
	switch {
	case req.V == 0:
		return req, fmt.Errorf("request has no protocol version; expected \"v\":%d", ProtocolVersion)
	case req.V != ProtocolVersion:
		return req, fmt.Errorf("protocol version %d is not supported by this agent (it speaks %d); use the crmsync that started it", req.V, ProtocolVersion)
	case req.Cmd == "":
		return req, errors.New("request has no command")
	}
	return req, nil
}

// allowedFields lists the fields cmd may use besides v and cmd; ok is
// false for an unknown command.
func allowedFields(cmd string) (string, bool) {
	switch cmd {
	case cmdHello, cmdStatus, cmdSignOut, cmdFolders, cmdSync, cmdOutbox:
		return "", true
	case cmdItems:
		return "limit", true
	case cmdTrack:
		return "key regarding", true
	case cmdUntrack:
		return "key", true
	case cmdRegarding:
		return "key entity id", true
	case cmdSearch:
		return "query limit", true
	case cmdAddFolder:
		return "folder entity id", true
	case cmdRemoveFolder:
		return "folder", true
	case cmdRetry:
		return "id", true
	}
	return "", false
}

// checkFields refuses fields the command does not use.
func checkFields(req request) error {
	allowed, ok := allowedFields(req.Cmd)
	if !ok {
		return badf("unknown command %q; known: hello, status, items, track, untrack, regarding, search, signout, folders, addfolder, removefolder, sync, outbox, retry", clip(req.Cmd, 40))
	}
	set := map[string]bool{
		"key": req.Key != "", "regarding": req.Regarding != nil, "entity": req.Entity != "",
		"id": req.ID != "", "query": req.Query != "", "limit": req.Limit != 0, "folder": req.Folder != "",
	}
	for _, f := range []string{"key", "regarding", "entity", "id", "query", "limit", "folder"} {
		if set[f] && !strings.Contains(" "+allowed+" ", " "+f+" ") {
			return badf("%q does not take %q", req.Cmd, f)
		}
	}
	return nil
}

// limit applies a command's default and bounds.
func limit(n, def, max int) (int, error) {
	switch {
	case n < 0:
		return 0, badf("limit must not be negative")
	case n == 0:
		return def, nil
	case n > max:
		return max, nil
	}
	return n, nil
}

// dispatch validates the request for its command and calls the backend.
func (h *handler) dispatch(ctx context.Context, req request) (any, error) {
	if err := checkFields(req); err != nil {
		return nil, err
	}
	switch req.Cmd {
	case cmdHello:
		return Hello{PID: h.pid, Version: ProtocolVersion}, nil
	case cmdStatus:
		return statusToWire(h.be.Status()), nil
	case cmdSignOut:
		return nil, h.be.SignOut(ctx)
	case cmdItems:
		n, err := limit(req.Limit, defaultItems, maxItems)
		if err != nil {
			return nil, err
		}
		items, err := h.be.RecentItems(ctx, n)
		if err != nil {
			return nil, err
		}
		out := make([]wireItem, 0, len(items))
		for _, it := range items {
			out = append(out, itemToWire(it))
		}
		return out, nil
	case cmdTrack:
		if err := validateKey(req.Key); err != nil {
			return nil, badRequest{err.Error()}
		}
		var ref *agent.RecordRef
		if req.Regarding != nil {
			if err := validateRef(req.Regarding.Entity, req.Regarding.ID); err != nil {
				return nil, badRequest{err.Error()}
			}
			ref = &agent.RecordRef{Entity: req.Regarding.Entity, ID: strings.ToLower(req.Regarding.ID)}
		}
		return nil, h.be.Track(ctx, agent.MessageKey(req.Key), ref)
	case cmdUntrack:
		if err := validateKey(req.Key); err != nil {
			return nil, badRequest{err.Error()}
		}
		res, err := h.be.Untrack(ctx, agent.MessageKey(req.Key))
		if err != nil {
			return nil, err
		}
		return wireUntrack{DeletedInCRM: res.DeletedInCRM, Reason: res.Reason}, nil
	case cmdRegarding:
		if err := validateKey(req.Key); err != nil {
			return nil, badRequest{err.Error()}
		}
		if err := validateRef(req.Entity, req.ID); err != nil {
			return nil, badRequest{err.Error()}
		}
		ref := agent.RecordRef{Entity: req.Entity, ID: strings.ToLower(req.ID)}
		return nil, h.be.SetRegarding(ctx, agent.MessageKey(req.Key), ref)
	case cmdSearch:
		q := strings.TrimSpace(req.Query)
		switch {
		case q == "":
			return nil, badf("search needs a query")
		case len(q) > maxQueryBytes:
			return nil, badf("search query is too long (at most %d bytes)", maxQueryBytes)
		}
		n, err := limit(req.Limit, defaultSearch, maxSearch)
		if err != nil {
			return nil, err
		}
		refs, err := h.be.SearchRecords(ctx, q, n)
		if err != nil {
			return nil, err
		}
		out := make([]wireRef, 0, len(refs))
		for _, r := range refs {
			out = append(out, wireRef{Entity: r.Entity, ID: r.ID, Name: r.Name})
		}
		return out, nil
	case cmdFolders, cmdAddFolder, cmdRemoveFolder:
		return h.folderCommand(ctx, req)
	case cmdSync:
		return h.syncCommand(ctx)
	case cmdOutbox, cmdRetry:
		return h.outboxCommand(ctx, req)
	}
	// checkFields has refused every other command already.
	return nil, badf("unknown command %q", clip(req.Cmd, 40))
}
