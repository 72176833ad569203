package control

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"crmsync/agent"
)

// timeLayout is how times are printed: to the minute, in the time's own
// zone, which for answers from a local agent is the local one.
const timeLayout = "2006-01-02 15:04"

// FormatStatus writes the status as the `crmsync status` command prints it:
// one "label: value" line per fact, then the warnings.
func FormatStatus(w io.Writer, s agent.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(label, value string) { fmt.Fprintf(tw, "%s:\t%s\n", label, value) }
	state := s.State.String()
	if !s.Since.IsZero() {
		state += " since " + s.Since.Format(timeLayout)
	}
	line("State", state)
	user := s.User
	if user == "" {
		user = "(not signed in)"
	}
	line("User", clean(user, 80))
	if !s.LastSuccess.IsZero() {
		line("Last success", s.LastSuccess.Format(timeLayout))
	}
	if !s.NextRetry.IsZero() {
		line("Next retry", s.NextRetry.Format(timeLayout))
	}
	line("Pending", fmt.Sprint(s.Pending))
	if s.ScanTotal > 0 {
		line("Scan", fmt.Sprintf("%d of %d messages", s.ScanDone, s.ScanTotal))
	}
	if s.Records != "" {
		line("Address book and calendar", clean(s.Records, 200))
	}
	if s.Outgoing != "" {
		line("CRM email", clean(s.Outgoing, 300))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("control: format status: %w", err)
	}
	for _, x := range s.Warnings {
		text := clean(x.Title, 120)
		if x.Text != "" {
			text += ": " + clean(x.Text, 400)
		}
		if _, err := fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(severityName(x.Severity)), text); err != nil {
			return fmt.Errorf("control: format status: %w", err)
		}
	}
	return nil
}

// FormatItems writes items as the `crmsync items` command prints them: an
// aligned table with the key first, since the key is what track, untrack and
// regarding take.
func FormatItems(w io.Writer, items []agent.Item) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "No recent messages.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tRECEIVED\tSTATE\tREGARDING\tFROM\tSUBJECT\tWHY")
	for _, it := range items {
		received := "-"
		if !it.Received.IsZero() {
			received = it.Received.Format(timeLayout)
		}
		regarding := "-"
		if r := it.Regarding; r != nil {
			regarding = r.Entity + ":" + r.ID
			if r.Name != "" {
				regarding = clean(r.Name, 30) + " (" + r.Entity + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(string(it.Key), 80), received, it.Track,
			regarding, clean(it.From, 40), clean(it.Subject, 60), clean(it.Reason, 80))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("control: format items: %w", err)
	}
	return nil
}

// clean makes untrusted text safe for one table cell: a subject or sender
// name comes from whoever sent the mail, and control characters in it could
// break the table or drive the user's terminal. Empty text prints as "-".
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Bidi_Control, r):
			return '?'
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return "-"
	}
	return clip(s, max)
}

// FormatFolderRules writes rules as `crmsync folders` prints them: an
// aligned table with the folder first, since the folder is what `folders
// remove` takes, then how many of the CRM's rules per mailbox are used.
func FormatFolderRules(w io.Writer, rules []agent.FolderRule) error {
	if len(rules) == 0 {
		fmt.Fprintln(w, "No folder rules; add one with: crmsync folders add FOLDER ENTITY:GUID")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tTYPE\tRECORD\tRULE")
		for _, r := range rules {
			// The name is looked up live and may be missing, for a record
			// deleted or hidden from this user; its id still tells which.
			record := r.Regarding.Name
			if record == "" {
				record = r.Regarding.ID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(r.Folder, 200), clean(r.Regarding.Entity, 20), clean(record, 60), clean(r.ID, 40))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("control: format folder rules: %w", err)
		}
	}
	if _, err := fmt.Fprintf(w, "%d of %d rules\n", len(rules), agent.MaxFolderRules); err != nil {
		return fmt.Errorf("control: format folder rules: %w", err)
	}
	return nil
}
