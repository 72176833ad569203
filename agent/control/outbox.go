package control

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"crmsync/agent"
)

// The outbox commands.
const (
	cmdOutbox = "outbox" // list the CRM's outgoing email crmsync deals with
	cmdRetry  = "retry"  // send a failed email again
)

// wireOutgoingItem is an agent.OutgoingItem on the wire.
type wireOutgoingItem struct {
	ID       string    `json:"id"`
	Subject  string    `json:"subject,omitempty"`
	State    string    `json:"state"`
	Modified time.Time `json:"modified,omitzero"`
}

// wireOutbox is an agent.OutgoingReport on the wire.
type wireOutbox struct {
	Enabled bool               `json:"enabled"`
	Why     string             `json:"why,omitempty"`
	Items   []wireOutgoingItem `json:"items"`
}

// outboxCommand runs `outbox` and `retry`; the caller checked the fields.
func (h *handler) outboxCommand(ctx context.Context, req request) (any, error) {
	if req.Cmd == cmdRetry {
		if err := h.be.RetryEmail(ctx, req.ID); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	}
	rep, err := h.be.Outbox(ctx)
	if err != nil {
		return nil, err
	}
	w := wireOutbox{Enabled: rep.Enabled, Why: rep.Why, Items: []wireOutgoingItem{}}
	for _, it := range rep.Items {
		w.Items = append(w.Items, wireOutgoingItem(it))
	}
	return w, nil
}

// Outbox lists the CRM's outgoing email crmsync deals with, live.
func (c *Client) Outbox(ctx context.Context) (agent.OutgoingReport, error) {
	var w wireOutbox
	if err := c.call(ctx, request{Cmd: cmdOutbox}, &w); err != nil {
		return agent.OutgoingReport{}, err
	}
	rep := agent.OutgoingReport{Enabled: w.Enabled, Why: w.Why}
	for _, it := range w.Items {
		rep.Items = append(rep.Items, agent.OutgoingItem(it))
	}
	return rep, nil
}

// RetryEmail sends a failed email again.
func (c *Client) RetryEmail(ctx context.Context, id string) error {
	return c.call(ctx, request{Cmd: cmdRetry, ID: id}, nil)
}

// FormatOutbox writes the outbox as `crmsync outbox` prints it: whether
// crmsync sends, then one email a line with its ID first, since retry
// takes the ID.
func FormatOutbox(w io.Writer, rep agent.OutgoingReport) error {
	if _, err := fmt.Fprintln(w, clean(rep.Why, 400)); err != nil {
		return err
	}
	if len(rep.Items) == 0 {
		_, err := fmt.Fprintln(w, "No email waiting, failed or sent in the last week.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCHANGED\tSUBJECT")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.ID, it.State, it.Modified.Local().Format(timeLayout), clean(it.Subject, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range rep.Items {
		if it.State == "failed" {
			_, err := fmt.Fprintln(w, "Send a failed email again with: crmsync outbox retry ID (why it failed is in a note on the email in the CRM)")
			return err
		}
	}
	return nil
}
