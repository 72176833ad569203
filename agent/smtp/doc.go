// Package smtp submits the emails written in the CRM through the user's
// own outgoing mail server: one connection per message, secured with
// implicit TLS or STARTTLS, signed in with AUTH PLAIN, LOGIN or XOAUTH2,
// and every failure classified so the caller knows whether to retry
// (ErrTemporary), give up on the message (*RefusedError) or ask the
// user for other settings (ErrTLS, ErrAuth).
//
// The client is written here over net/textproto rather than on
// net/smtp: net/smtp discards the server's answer to the message (the
// "250 2.0.0 Ok: queued as 4ABC" a user may quote to their mail
// administrator), takes no context, refuses PLAIN over a plaintext
// connection to an address it does not know as local, and has no LOGIN
// or XOAUTH2. What a submission needs is small: greeting, EHLO,
// STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT.
//
// Plaintext is used only with a server on this computer: a password, or
// a message, never crosses a network unencrypted.
package smtp
