// Package compose writes the messages the agent sends through the user's
// own mail account: an email written in the CRM (Build), and the
// iCalendar meeting request for an appointment the user organises there
// (Invitation), which Build carries as Outlook and Gmail carry theirs.
//
// What the CRM holds is not trusted to be well formed: names, subjects and
// bodies may hold anything, so every header is encoded and folded here and
// every body is quoted-printable or base64. Nothing panics on any input; a
// message that cannot be written safely is refused with an error that says
// which field is wrong.
package compose
