// Package outgoing sends the email written in the CRM through the user's
// own mail account, as the legacy Outlook client did for a mailbox whose
// administrator set outgoing mail to be delivered by the client.
//
// A pass asks the CRM for the user's Pending Send emails, claims each by
// marking it Sending (conditional on the version read, so a second device
// cannot claim it too), builds the message in memory, submits it by SMTP,
// marks it Sent with the Message-ID it went out with, and keeps a copy in
// the Sent folder. A refusal marks it Failed, with the server's words in a
// note on the email.
//
// Every step is recorded in the cache (IDs only) before the next begins,
// and the Message-ID derives from the email's ID, so a restart resumes
// where it stopped: a message the server accepted is never handed to it
// again, and one that may or may not have gone out (the process died
// while handing it over, and the Sent folder does not have it) is marked
// Failed with that explanation rather than sent twice.
package outgoing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"crmsync/agent/cache"
	"crmsync/agent/compose"
	"crmsync/agent/crm"
	"crmsync/agent/sched"
	"crmsync/agent/smtp"
)

// CRM is what sending asks of the CRM; *crm.HTTPClient has it.
type CRM interface {
	PendingEmails(ctx context.Context) ([]crm.OutgoingEmail, error)
	OutgoingEmail(ctx context.Context, id string) (crm.OutgoingEmail, error)
	EmailRecipients(ctx context.Context, id string) (crm.Recipients, error)
	EmailAttachments(ctx context.Context, id string) ([]crm.Attachment, error)
	SetEmailStatus(ctx context.Context, id string, version int64, status int, messageID string) (int64, error)
	AddEmailNote(ctx context.Context, id, subject, text string) error
}

// Sent is the user's Sent folder; the Maildir and IMAP sources have it.
type Sent interface {
	SentHas(ctx context.Context, messageID string) (bool, error)
	AppendSent(ctx context.Context, msg []byte) error
}

// Store is the part of the cache that records how far each email got.
type Store interface {
	PutOutgoing(ctx context.Context, o cache.Outgoing) error
	OutgoingSteps(ctx context.Context) ([]cache.Outgoing, error)
	DeleteOutgoing(ctx context.Context, activityID string) error
}

// Submit hands a message to the user's mail server: smtp.Send bound to
// the account and its password.
type Submit func(ctx context.Context, from string, rcpts []string, msg []byte) (string, error)

// Options configure a Worker.
type Options struct {
	// CRM returns the client while the connection is online.
	CRM func() (CRM, error)
	// Sent returns the Sent folder of the mail account; an error means
	// there is none now, and the copy is kept for the next pass.
	Sent   func() (Sent, error)
	Submit Submit
	Store  Store
	// From is the user, as the message's sender when the CRM names none
	// (the CRM makes the sender the user who sends, so this is rare); its
	// address may be empty when the sign-in gave none.
	From compose.Address
	// UserID is the user's systemuserid: only email from them is sent.
	UserID string
	// Interval between passes when nothing asks for one; 0 = 2 minutes.
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	// OnPass, when set, gets the report of each pass Run makes.
	OnPass func(Report)
	// Meetings, when set, returns the CRM for meeting invitations: it
	// returns NotAllowed when the administrator does not let crmsync send
	// appointments. KV keeps what was sent. Both nil: no invitations.
	Meetings func() (Meetings, error)
	KV       KV
}

// Report is what one pass did.
type Report struct {
	Sent, Failed, Waiting int // emails sent, marked Failed, left for later
	Invitations           int // meeting invitations sent
	Notices               []string
	// Blocked says why nothing is sent at all (the administrator's
	// choice, a missing privilege); "" when sending is allowed.
	Blocked string
	Err     string
}

// NotAllowed is what Options.CRM returns when the CRM does not let
// crmsync send the user's email: the pass sends nothing and reports Why.
type NotAllowed struct{ Why string }

// Error returns the reason.
func (n NotAllowed) Error() string { return n.Why }

// Worker sends the user's pending email. Pass may be called from any
// goroutine; passes never overlap.
type Worker struct {
	o      Options
	passMu sync.Mutex
	kick   sched.Kick
	lastMu sync.Mutex
	last   Report
}

// New checks the options and returns a Worker.
func New(o Options) (*Worker, error) {
	if o.CRM == nil || o.Sent == nil || o.Submit == nil || o.Store == nil {
		return nil, errors.New("outgoing: a worker needs a CRM, a Sent folder, a mail server and a store")
	}
	if !crm.IsGUID(o.UserID) {
		return nil, errors.New("outgoing: a worker needs the user's ID")
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Worker{o: o, kick: sched.NewKick()}, nil
}

// Trigger asks Run for a pass now; it never blocks.
func (w *Worker) Trigger() { w.kick.Now() }

// Last returns the report of the last pass.
func (w *Worker) Last() Report {
	w.lastMu.Lock()
	defer w.lastMu.Unlock()
	return w.last
}

// Run makes a pass at once, then every Interval and on Trigger, until ctx
// ends.
func (w *Worker) Run(ctx context.Context) error {
	sched.Periodic(ctx, w.o.Interval, w.kick, func(ctx context.Context) {
		rep, err := w.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			w.o.Log.Warn("outgoing: pass failed", "err", err)
		}
		if w.o.OnPass != nil && ctx.Err() == nil {
			w.o.OnPass(rep)
		}
	})
	return nil
}

// MessageID is the Message-ID (without brackets) an email goes out with:
// derived from its ID, so a restart finds the same one in the Sent folder.
func MessageID(activityID, fromAddr string) string {
	return "crm." + strings.ToLower(activityID) + "@" + domainOf(fromAddr)
}

// Pass resumes the emails a previous run left half way, then sends the
// pending ones.
func (w *Worker) Pass(ctx context.Context) (Report, error) {
	w.passMu.Lock()
	defer w.passMu.Unlock()
	var rep Report
	err := w.pass(ctx, &rep)
	if err != nil {
		rep.Err = err.Error()
	}
	w.lastMu.Lock()
	w.last = rep
	w.lastMu.Unlock()
	return rep, err
}

func (w *Worker) pass(ctx context.Context, rep *Report) error {
	c, err := w.o.CRM()
	var na NotAllowed
	if errors.As(err, &na) {
		rep.Blocked = na.Why
		return nil
	}
	if err != nil {
		return fmt.Errorf("outgoing: %w", err)
	}
	steps, err := w.o.Store.OutgoingSteps(ctx)
	if err != nil {
		return fmt.Errorf("outgoing: %w", err)
	}
	var errs []error
	for _, st := range steps {
		if err := w.resume(ctx, c, st, rep); err != nil {
			errs = append(errs, err)
		}
	}
	pending, err := c.PendingEmails(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("outgoing: ask the CRM for pending email: %w", err))...)
	}
	rep.Waiting = len(pending)
	for _, e := range pending {
		// Recorded before the claim: a restart then finds the email
		// whichever way the claim went (Sending: go on; still Pending
		// Send: forget the record, and the pass takes it up again).
		if err := w.o.Store.PutOutgoing(ctx, cache.Outgoing{ActivityID: e.ID, Step: cache.OutClaimed, Version: e.Version}); err != nil {
			errs = append(errs, err)
			continue
		}
		v, err := c.SetEmailStatus(ctx, e.ID, e.Version, crm.EmailSending, "")
		if errors.Is(err, crm.ErrConflict) {
			// Claimed by another device, or changed meanwhile.
			if err := w.o.Store.DeleteOutgoing(ctx, e.ID); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("outgoing: claim email %s: %w", e.ID, err))
			continue
		}
		e.Version = v
		if err := w.send(ctx, c, e, rep); err != nil {
			errs = append(errs, err)
		}
	}
	if err := w.invitations(ctx, rep); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// resume continues an email from the step a previous run recorded.
func (w *Worker) resume(ctx context.Context, c CRM, st cache.Outgoing, rep *Report) error {
	e, err := c.OutgoingEmail(ctx, st.ActivityID)
	if errors.Is(err, crm.ErrNotFound) {
		return w.o.Store.DeleteOutgoing(ctx, st.ActivityID) // deleted in the CRM meanwhile
	}
	if err != nil {
		return fmt.Errorf("outgoing: read email %s: %w", st.ActivityID, err)
	}
	if e.Status != crm.EmailSending {
		// Finished by the last run after all (Sent or Failed), or put back
		// in the CRM by the user: nothing of it is left to do here.
		if e.Status == crm.EmailSent {
			w.keepCopy(ctx, c, e, rep)
		}
		return w.o.Store.DeleteOutgoing(ctx, st.ActivityID)
	}
	switch st.Step {
	case cache.OutClaimed:
		return w.send(ctx, c, e, rep)
	case cache.OutHanding:
		from, err := w.sender(ctx, c, e.ID)
		if err != nil {
			return err
		}
		s, serr := w.o.Sent()
		if serr == nil {
			if has, herr := s.SentHas(ctx, MessageID(e.ID, from.Addr)); herr == nil && has {
				return w.accepted(ctx, c, e, rep)
			}
		}
		return w.fail(ctx, c, e, rep, "crmsync was stopped while handing this email to your mail server, so it may have gone out. "+
			"It was not sent again, so that nobody gets it twice: check your Sent folder or ask the recipient, and send it again from the CRM if it did not arrive.")
	default: // accepted by the server, perhaps marked Sent already
		return w.accepted(ctx, c, e, rep)
	}
}

// sender is the email's From: the CRM's from party, else the user.
func (w *Worker) sender(ctx context.Context, c CRM, id string) (compose.Address, error) {
	r, err := c.EmailRecipients(ctx, id)
	if err != nil {
		return compose.Address{}, fmt.Errorf("outgoing: read the parties of email %s: %w", id, err)
	}
	if r.From.Address != "" {
		return compose.Address{Name: r.From.Name, Addr: r.From.Address}, nil
	}
	return w.o.From, nil
}

// send builds and submits one claimed email.
func (w *Worker) send(ctx context.Context, c CRM, e crm.OutgoingEmail, rep *Report) error {
	r, err := c.EmailRecipients(ctx, e.ID)
	if err != nil {
		return fmt.Errorf("outgoing: read the parties of email %s: %w", e.ID, err)
	}
	from := w.o.From
	if r.From.Address != "" {
		from = compose.Address{Name: r.From.Name, Addr: r.From.Address}
	}
	if from.Addr == "" {
		return w.fail(ctx, c, e, rep, "The email has no sender address: give your CRM user an email address, then send it again.")
	}
	if r.From.ID != "" && !strings.EqualFold(r.From.ID, w.o.UserID) {
		return w.fail(ctx, c, e, rep, fmt.Sprintf("The email is from %s, but crmsync sends only your own email, through your own mail account.", nameOf(r.From)))
	}
	msg := compose.Email{MessageID: MessageID(e.ID, from.Addr), Date: w.o.Now(), From: from, Subject: e.Subject, HTML: e.HTML}
	var rcpts []string
	add := func(ps []crm.Party, to *[]compose.Address) error {
		for _, p := range ps {
			if p.Address == "" {
				return fmt.Errorf("%s has no email address in the CRM", nameOf(p))
			}
			rcpts = append(rcpts, p.Address)
			if to != nil {
				*to = append(*to, compose.Address{Name: p.Name, Addr: p.Address})
			}
		}
		return nil
	}
	if err := errors.Join(add(r.To, &msg.To), add(r.Cc, &msg.Cc), add(r.Bcc, nil)); err != nil {
		return w.fail(ctx, c, e, rep, "The email cannot be sent: "+err.Error()+".")
	}
	if len(rcpts) == 0 {
		return w.fail(ctx, c, e, rep, "The email has no recipient.")
	}
	if e.HasAttachments {
		atts, err := c.EmailAttachments(ctx, e.ID)
		if err != nil {
			var ce *crm.Error
			if errors.As(err, &ce) && ce.Kind == crm.KindBadRequest {
				return w.fail(ctx, c, e, rep, crm.UserMessage(err))
			}
			return fmt.Errorf("outgoing: read the attachments of email %s: %w", e.ID, err)
		}
		for _, a := range atts {
			msg.Attachments = append(msg.Attachments, compose.Attachment{Filename: a.Filename, MIMEType: a.MIMEType, Data: a.Data})
		}
	}
	data, err := compose.Build(msg)
	if err != nil {
		return w.fail(ctx, c, e, rep, "The email cannot be written as a message: "+err.Error())
	}
	if err := w.o.Store.PutOutgoing(ctx, cache.Outgoing{ActivityID: e.ID, Step: cache.OutHanding, Version: e.Version}); err != nil {
		return err
	}
	answer, err := w.o.Submit(ctx, from.Addr, rcpts, data)
	if err != nil {
		var refused *smtp.RefusedError
		switch {
		case errors.As(err, &refused):
			return w.fail(ctx, c, e, rep, "Your mail server refused the email ("+refused.Stage+"): "+refused.Text)
		case errors.Is(err, smtp.ErrAuth), errors.Is(err, smtp.ErrTLS):
			return w.fail(ctx, c, e, rep, "Your mail server could not be used: "+err.Error()+". Correct the outgoing mail account in crmsync's Settings, then send the email again from the CRM.")
		}
		// Not accepted (a 4xx answer or no answer before DATA ended):
		// the claim stays, and the next pass tries again.
		if perr := w.o.Store.PutOutgoing(ctx, cache.Outgoing{ActivityID: e.ID, Step: cache.OutClaimed, Version: e.Version}); perr != nil {
			return errors.Join(err, perr)
		}
		return fmt.Errorf("outgoing: send email %s: %w", e.ID, err)
	}
	w.o.Log.Info("outgoing: sent", "email", e.ID, "server", answer)
	if err := w.o.Store.PutOutgoing(ctx, cache.Outgoing{ActivityID: e.ID, Step: cache.OutAccepted, Version: e.Version}); err != nil {
		return err
	}
	e.MessageID = msg.MessageID
	return w.acceptedWith(ctx, c, e, data, rep)
}

func nameOf(p crm.Party) string {
	if p.Name != "" {
		return p.Name
	}
	return "a recipient"
}

// accepted finishes an email the mail server accepted in an earlier run.
func (w *Worker) accepted(ctx context.Context, c CRM, e crm.OutgoingEmail, rep *Report) error {
	from, err := w.sender(ctx, c, e.ID)
	if err != nil {
		return err
	}
	e.MessageID = MessageID(e.ID, from.Addr)
	return w.acceptedWith(ctx, c, e, nil, rep)
}

// acceptedWith marks an accepted email Sent with its Message-ID and keeps
// the copy; data is the message when still in memory.
func (w *Worker) acceptedWith(ctx context.Context, c CRM, e crm.OutgoingEmail, data []byte, rep *Report) error {
	// Kept in angle brackets, as tracking writes and looks up Message-IDs:
	// the copy in the Sent folder, when the mail watcher sees it, is then
	// recognised as this email instead of being tracked a second time.
	v, err := c.SetEmailStatus(ctx, e.ID, 0, crm.EmailSent, "<"+e.MessageID+">")
	if err != nil {
		return fmt.Errorf("outgoing: mark email %s sent: %w", e.ID, err)
	}
	if err := w.o.Store.PutOutgoing(ctx, cache.Outgoing{ActivityID: e.ID, Step: cache.OutMarked, Version: v}); err != nil {
		return err
	}
	rep.Sent++
	if data != nil {
		if s, err := w.o.Sent(); err == nil {
			if has, err := s.SentHas(ctx, e.MessageID); err == nil && !has {
				if err := s.AppendSent(ctx, data); err != nil {
					rep.Notices = append(rep.Notices, fmt.Sprintf("%q was sent, but its copy could not be kept in your Sent folder: %v", e.Subject, err))
				}
			}
		}
	} else {
		w.keepCopy(ctx, c, e, rep)
	}
	return w.o.Store.DeleteOutgoing(ctx, e.ID)
}

// keepCopy says so when an email sent by an earlier run has no copy in
// the Sent folder: the message is no longer in memory to append.
func (w *Worker) keepCopy(ctx context.Context, c CRM, e crm.OutgoingEmail, rep *Report) {
	s, err := w.o.Sent()
	if err != nil {
		return
	}
	id := e.MessageID
	if id == "" {
		if from, err := w.sender(ctx, c, e.ID); err == nil {
			id = MessageID(e.ID, from.Addr)
		}
	}
	if has, err := s.SentHas(ctx, strings.Trim(id, "<>")); err == nil && !has {
		rep.Notices = append(rep.Notices, fmt.Sprintf("%q was sent while crmsync was being stopped; its copy is not in your Sent folder.", e.Subject))
	}
}

// fail marks an email Failed, with why in a note on it, and forgets it.
func (w *Worker) fail(ctx context.Context, c CRM, e crm.OutgoingEmail, rep *Report, why string) error {
	if err := c.AddEmailNote(ctx, e.ID, "crmsync could not send this email", why); err != nil {
		w.o.Log.Warn("outgoing: the failure note could not be written", "email", e.ID, "err", err)
	}
	if _, err := c.SetEmailStatus(ctx, e.ID, 0, crm.EmailFailed, ""); err != nil {
		return fmt.Errorf("outgoing: mark email %s failed: %w", e.ID, err)
	}
	rep.Failed++
	rep.Notices = append(rep.Notices, fmt.Sprintf("%q was not sent: %s", e.Subject, why))
	return w.o.Store.DeleteOutgoing(ctx, e.ID)
}
