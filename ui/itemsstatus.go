package ui

import (
	"fmt"
	"strings"
	"time"

	"crmsync/agent"
)

// windowStatus is the items window's status line: the connection in
// words, the mail account watched, the work waiting, the initial scan and
// the last sync, the address book and calendar when they are kept in
// step, and the CRM's email when crmsync sends it. Some desktops have no tray, so this line alone must tell
// where things stand.
func windowStatus(s agent.Status, now time.Time) string {
	parts := []string{connectionWords(s, now)}
	if s.Mail != "" {
		parts = append(parts, "mail "+s.Mail)
	} else {
		parts = append(parts, "no mail account set")
	}
	if s.ScanTotal > 0 && s.ScanDone < s.ScanTotal {
		parts = append(parts, fmt.Sprintf("reading mail: %d of %d messages", s.ScanDone, s.ScanTotal))
	}
	switch s.Pending {
	case 0:
		parts = append(parts, "nothing waiting")
	case 1:
		parts = append(parts, "1 action waiting")
	default:
		parts = append(parts, fmt.Sprintf("%d actions waiting", s.Pending))
	}
	if s.LastSync.IsZero() {
		parts = append(parts, "not synced yet")
	} else {
		parts = append(parts, "last sync "+ago(now.Sub(s.LastSync)))
	}
	if s.Records != "" {
		parts = append(parts, "address book and calendar: "+s.Records)
	}
	if s.Outgoing != "" {
		parts = append(parts, "CRM email: "+s.Outgoing)
	}
	line := strings.Join(parts, " · ")
	if n := len(s.Warnings); n > 0 {
		line += "\n" + s.Warnings[0].Title
		if n > 1 {
			line += fmt.Sprintf(" (and %d more)", n-1)
		}
	}
	return line
}

// connectionWords says what the connection to the CRM is doing.
func connectionWords(s agent.Status, now time.Time) string {
	switch s.State {
	case agent.StateStarting:
		return "Starting"
	case agent.StateNeedsSignIn:
		return "Signed out: sign in to track mail"
	case agent.StateOff:
		return "Connection off: nothing is sent, work waits"
	case agent.StateConnecting:
		return "Connecting to the CRM"
	case agent.StateOnline:
		if s.User != "" {
			return "Online as " + s.User
		}
		return "Online"
	case agent.StateBackoff:
		if d := s.NextRetry.Sub(now); !s.NextRetry.IsZero() && d > 0 {
			return "CRM unreachable, next try in " + span(d.Round(time.Minute))
		}
		return "CRM unreachable, trying again"
	case agent.StateNotPermitted:
		return "Not permitted to sync: ask your CRM administrator"
	}
	return s.State.String()
}
