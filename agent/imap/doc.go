// Package imap is the mail intake from an IMAP account, a sibling of
// package maildir behind the same interface: it lists INBOX, the \Sent
// mailbox and the folders of the user's rules, keeps them in IDLE (or
// polls them where the server has no IDLE), and reports every message
// as a maildir.Change.
//
// Privacy: before a message is tracked, only the header fields a decision
// needs are ever fetched (BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT
// MESSAGE-ID DATE IN-REPLY-TO REFERENCES)]); the text is fetched by Body,
// which is called for tracked messages only. Every fetch is a PEEK on a
// mailbox selected read-only, so no message is ever marked \Seen. What
// the Source learns stays in memory: a message is known by a salted hash
// of its mailbox, UIDVALIDITY and UID (Key), and envelopes are cached in
// memory, bounded.
//
// Connections: one command connection lists and fetches; each of up to
// five watched mailboxes has an IDLE connection of its own that only
// listens. After a drop, Run reconnects with jittered exponential backoff
// and resumes from the highest UID it saw in each mailbox, comparing
// counts (and HIGHESTMODSEQ where the server has CONDSTORE) to find what
// was removed meanwhile. QRESYNC is not used: the IMAP library cannot
// parse its VANISHED responses.
package imap
