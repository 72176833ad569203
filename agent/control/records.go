package control

import (
	"context"
	"fmt"
	"io"
	"time"

	"crmsync/agent"
)

// cmdSync runs a sync pass of the address book and calendar now.
const cmdSync = "sync"

// wireSyncCount is an agent.SyncCount on the wire.
type wireSyncCount struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}

// wireSyncKind is an agent.SyncKind on the wire.
type wireSyncKind struct {
	Kind      string        `json:"kind"`
	ToItems   wireSyncCount `json:"to_items"`
	ToCRM     wireSyncCount `json:"to_crm"`
	Conflicts int           `json:"conflicts"`
	Kept      int           `json:"kept"`
}

// wireSyncReport is an agent.SyncReport on the wire.
type wireSyncReport struct {
	Started  time.Time      `json:"started,omitzero"`
	Finished time.Time      `json:"finished,omitzero"`
	Kinds    []wireSyncKind `json:"kinds"`
	Notices  []string       `json:"notices,omitempty"`
	Err      string         `json:"error,omitempty"`
}

func syncReportToWire(r agent.SyncReport) wireSyncReport {
	w := wireSyncReport{Started: r.Started, Finished: r.Finished, Notices: r.Notices, Err: r.Err, Kinds: []wireSyncKind{}}
	for _, k := range r.Kinds {
		w.Kinds = append(w.Kinds, wireSyncKind{Kind: k.Kind, ToItems: wireSyncCount(k.ToItems), ToCRM: wireSyncCount(k.ToCRM),
			Conflicts: k.Conflicts, Kept: k.Kept})
	}
	return w
}

func syncReportFromWire(w wireSyncReport) agent.SyncReport {
	r := agent.SyncReport{Started: w.Started, Finished: w.Finished, Notices: w.Notices, Err: w.Err}
	for _, k := range w.Kinds {
		r.Kinds = append(r.Kinds, agent.SyncKind{Kind: k.Kind, ToItems: agent.SyncCount(k.ToItems), ToCRM: agent.SyncCount(k.ToCRM),
			Conflicts: k.Conflicts, Kept: k.Kept})
	}
	return r
}

// syncCommand runs a pass; a pass that failed after doing part of its
// work still answers its report, with the error in it.
func (h *handler) syncCommand(ctx context.Context) (any, error) {
	rep, err := h.be.SyncNow(ctx)
	if err != nil && rep.Started.IsZero() {
		return nil, err
	}
	return syncReportToWire(rep), nil
}

// Sync runs a sync pass of the address book and calendar now and returns
// what it did. A first pass over many records can take minutes: give ctx
// a deadline to match.
func (c *Client) Sync(ctx context.Context) (agent.SyncReport, error) {
	var w wireSyncReport
	if err := c.call(ctx, request{Cmd: cmdSync}, &w); err != nil {
		return agent.SyncReport{}, err
	}
	return syncReportFromWire(w), nil
}

// FormatSyncReport writes a report as `crmsync sync` prints it: one line
// per record type with the counts by direction, then the notices.
func FormatSyncReport(w io.Writer, r agent.SyncReport) error {
	for _, k := range r.Kinds {
		where := "calendar"
		if k.Kind == "contacts" {
			where = "address book"
		}
		line := fmt.Sprintf("%-13s %4d kept in step · to your %s: %s · to the CRM: %s", k.Kind, k.Kept, where, countText(k.ToItems), countText(k.ToCRM))
		if k.Conflicts > 0 {
			line += fmt.Sprintf(" · %d conflicting edits, the CRM's kept", k.Conflicts)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	for _, n := range r.Notices {
		if _, err := fmt.Fprintln(w, "  "+n); err != nil {
			return err
		}
	}
	if r.Err != "" {
		if _, err := fmt.Fprintln(w, "The pass did not finish: "+r.Err); err != nil {
			return err
		}
	}
	return nil
}

func countText(c agent.SyncCount) string {
	if c == (agent.SyncCount{}) {
		return "nothing"
	}
	return fmt.Sprintf("%d created, %d updated, %d deleted", c.Created, c.Updated, c.Deleted)
}
