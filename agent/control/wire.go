package control

import (
	"encoding/json"
	"time"

	"crmsync/agent"
)

// The commands a request may carry.
const (
	cmdHello     = "hello"
	cmdStatus    = "status"
	cmdItems     = "items"
	cmdTrack     = "track"
	cmdUntrack   = "untrack"
	cmdRegarding = "regarding"
	cmdSearch    = "search"
	cmdSignOut   = "signout"

	cmdFolders      = "folders"      // list the folder tracking rules
	cmdAddFolder    = "addfolder"    // map a folder to a record
	cmdRemoveFolder = "removefolder" // delete a folder's rule
)

// request is one line from a client. The fields are flat so that a request
// is easy to type by hand into a socket tool; which of them a command uses
// is checked by the handler, and a field a command does not use is an error
// rather than silently ignored.
type request struct {
	V         int      `json:"v"`
	Cmd       string   `json:"cmd"`
	Key       string   `json:"key,omitempty"`       // track, untrack, regarding
	Regarding *wireRef `json:"regarding,omitempty"` // track; nil = let the agent decide
	Entity    string   `json:"entity,omitempty"`    // regarding, addfolder
	ID        string   `json:"id,omitempty"`        // regarding, addfolder
	Folder    string   `json:"folder,omitempty"`    // addfolder, removefolder; as the mail server names it
	Query     string   `json:"query,omitempty"`     // search
	Limit     int      `json:"limit,omitempty"`     // items, search; 0 = the default
}

// response is one line to a client. Exactly one of Error and Result is set,
// as OK says.
type response struct {
	V      int             `json:"v"`
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"` // user-readable; set iff !OK
	Code   string          `json:"code,omitempty"`  // set iff !OK
	Result json.RawMessage `json:"result,omitempty"`
}

// Hello is the answer to a hello request: who serves the socket.
type Hello struct {
	PID     int `json:"pid"`     // the agent's process id
	Version int `json:"version"` // the agent's ProtocolVersion
}

// wireRef is an agent.RecordRef on the wire.
type wireRef struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"` // display only
}

type wireWarning struct {
	Code     string `json:"code"`
	Title    string `json:"title"`
	Text     string `json:"text,omitempty"`
	Severity string `json:"severity"`
}

// wireStatus is an agent.Status on the wire; enums travel as names so that
// the protocol reads well in a socket tool and survives reordered constants.
type wireStatus struct {
	State       string        `json:"state"`
	Since       time.Time     `json:"since,omitzero"`
	LastSuccess time.Time     `json:"last_success,omitzero"`
	NextRetry   time.Time     `json:"next_retry,omitzero"`
	User        string        `json:"user,omitempty"`
	Pending     int           `json:"pending"`
	Warnings    []wireWarning `json:"warnings,omitempty"`
	ScanDone    int           `json:"scan_done,omitempty"`
	ScanTotal   int           `json:"scan_total,omitempty"`
	Records     string        `json:"records,omitempty"`
	Outgoing    string        `json:"outgoing,omitempty"`
	OutPending  int           `json:"outgoing_pending,omitempty"`
}

type wireItem struct {
	Key        string    `json:"key"`
	From       string    `json:"from,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Received   time.Time `json:"received,omitzero"`
	Track      string    `json:"track"`
	ActivityID string    `json:"activity_id,omitempty"`
	Regarding  *wireRef  `json:"regarding,omitempty"`
	OwnedByMe  bool      `json:"owned_by_me,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

type wireUntrack struct {
	DeletedInCRM bool   `json:"deleted_in_crm"`
	Reason       string `json:"reason,omitempty"`
}

// trackName is the wire name of a track state. The names are kept here
// rather than taken from TrackState.String, which is display text that may
// change with the wording of the UI.
func trackName(t agent.TrackState) string {
	switch t {
	case agent.Untracked:
		return "untracked"
	case agent.Pending:
		return "pending"
	case agent.Tracked:
		return "tracked"
	case agent.Failed:
		return "failed"
	}
	return "unknown"
}

// parseTrack returns -1 for a name this build does not know, which prints
// as "unknown" rather than being mistaken for a real state.
func parseTrack(s string) agent.TrackState {
	for t := agent.Untracked; t <= agent.Failed; t++ {
		if trackName(t) == s {
			return t
		}
	}
	return -1
}

func severityName(s agent.Severity) string {
	switch s {
	case agent.SeverityInfo:
		return "info"
	case agent.SeverityWarning:
		return "warning"
	case agent.SeverityError:
		return "error"
	}
	return "unknown"
}

func parseSeverity(s string) agent.Severity {
	for v := agent.SeverityInfo; v <= agent.SeverityError; v++ {
		if severityName(v) == s {
			return v
		}
	}
	// An unknown severity is shown as the most urgent one rather than hidden.
	return agent.SeverityError
}

// parseState relies on agent.State's String names, which are its stable
// identifiers; an unknown name becomes -1, whose String is "Unknown".
func parseState(s string) agent.State {
	for st := agent.StateStarting; st <= agent.StateNotPermitted; st++ {
		if st.String() == s {
			return st
		}
	}
	return -1
}

func refToWire(r *agent.RecordRef) *wireRef {
	if r == nil {
		return nil
	}
	return &wireRef{Entity: r.Entity, ID: r.ID, Name: r.Name}
}

func refFromWire(r *wireRef) *agent.RecordRef {
	if r == nil {
		return nil
	}
	return &agent.RecordRef{Entity: r.Entity, ID: r.ID, Name: r.Name}
}

func statusToWire(s agent.Status) wireStatus {
	w := wireStatus{
		State: s.State.String(), Since: s.Since, LastSuccess: s.LastSuccess, NextRetry: s.NextRetry,
		User: s.User, Pending: s.Pending, ScanDone: s.ScanDone, ScanTotal: s.ScanTotal, Records: s.Records,
		Outgoing: s.Outgoing, OutPending: s.OutgoingPending,
	}
	for _, x := range s.Warnings {
		w.Warnings = append(w.Warnings, wireWarning{Code: x.Code, Title: x.Title, Text: x.Text, Severity: severityName(x.Severity)})
	}
	return w
}

func statusFromWire(w wireStatus) agent.Status {
	s := agent.Status{
		State: parseState(w.State), Since: w.Since, LastSuccess: w.LastSuccess, NextRetry: w.NextRetry,
		User: w.User, Pending: w.Pending, ScanDone: w.ScanDone, ScanTotal: w.ScanTotal, Records: w.Records,
		Outgoing: w.Outgoing, OutgoingPending: w.OutPending,
	}
	for _, x := range w.Warnings {
		s.Warnings = append(s.Warnings, agent.Warning{Code: x.Code, Title: x.Title, Text: x.Text, Severity: parseSeverity(x.Severity)})
	}
	return s
}

func itemToWire(it agent.Item) wireItem {
	return wireItem{
		Key: string(it.Key), From: it.From, Subject: it.Subject, Received: it.Received,
		Track: trackName(it.Track), ActivityID: it.ActivityID, Regarding: refToWire(it.Regarding),
		OwnedByMe: it.OwnedByMe, Reason: it.Reason,
	}
}

func itemFromWire(w wireItem) agent.Item {
	return agent.Item{
		Key: agent.MessageKey(w.Key), From: w.From, Subject: w.Subject, Received: w.Received,
		Track: parseTrack(w.Track), ActivityID: w.ActivityID, Regarding: refFromWire(w.Regarding),
		OwnedByMe: w.OwnedByMe, Reason: w.Reason,
	}
}
