// Package maildir is the agent's intake. It watches a Maildir (the inbox and
// chosen Maildir++ folders), reports every message as a Change keyed by the
// unique part of its file name, and reads a message's header block, never
// its body, into an Envelope for the tracking decision. The body is opened
// only for a message that is being tracked.
//
// Header parsing is lenient by design: real mail breaks every rule of RFC
// 5322 and RFC 2047, and one bad field must not cost the rest of the
// envelope. Only input that holds no header field at all, a header block
// beyond MaxHeaderBytes, or a read error is refused.
package maildir
