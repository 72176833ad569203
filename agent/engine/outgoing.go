package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"crmsync/agent"
	"crmsync/agent/compose"
	"crmsync/agent/crm"
	"crmsync/agent/outgoing"
	"crmsync/agent/smtp"
)

// outgoingState is the loop's part of sending the CRM's email.
type outgoingState struct {
	stop    context.CancelFunc // stops the running worker; nil when none
	key     string             // the user and settings the worker was made for
	status  string             // for the status line
	err     string             // a warning; "" when none
	pending int                // emails waiting, as the last pass left them
	passes  chan outgoing.Report
}

// smtpAccount converts the settings' account for the SMTP client.
func smtpAccount(a agent.SMTPAccount) smtp.Account {
	return smtp.Account{Host: a.Host, Port: a.Port, Security: a.Security, Username: a.Username, CAFile: a.CAFile}
}

// checkSMTP refuses an outgoing mail server that cannot work.
func checkSMTP(a agent.SMTPAccount) error {
	if a.IsZero() {
		return nil
	}
	return smtp.CheckAccount(smtpAccount(a))
}

// permission is whether the CRM lets crmsync send the user's email, as
// last read; it is read again after permissionAge.
type permission struct {
	mu  sync.Mutex
	at  time.Time
	why string // "" = allowed
}

// permissionAge is how long the administrator's switch is trusted as read.
const permissionAge = 10 * time.Minute

// sendPermission reads (or recalls) whether the user's mailbox is set to
// have its outgoing email delivered by a client application, and whether
// the user may send email; the answer is a sentence when not.
func (e *Engine) sendPermission(ctx context.Context, c *crm.HTTPClient, userID string) (string, error) {
	p := &e.perm
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && e.clock.Now().Sub(p.at) < permissionAge {
		return p.why, nil
	}
	mb, err := c.Mailbox(ctx, userID)
	if err != nil {
		return "", err
	}
	why := ""
	if mb == "" {
		why = "Your CRM user has no mailbox, so crmsync sends none of your CRM email."
	} else {
		d, err := c.MailboxDelivery(ctx, mb)
		if err != nil {
			return "", err
		}
		switch d {
		case crm.DeliveryOutlook:
		case crm.DeliveryServerSideSync:
			why = "Your CRM administrator set your mailbox's outgoing email to server-side synchronization: the CRM sends it, not crmsync."
		default:
			why = "Your CRM administrator has not set your mailbox's outgoing email to be delivered by a client application, so crmsync sends none of it."
		}
	}
	// BackgroundSendEmail needs prvReadActivity and prvWriteActivity
	// (Microsoft's message privileges); Dataverse has no privilege of its
	// own for sending one's own email (prvSendAsUser is for sending as
	// someone else).
	for _, priv := range []string{"prvReadActivity", "prvWriteActivity"} {
		if why != "" {
			break
		}
		ok, err := c.HasPrivilege(ctx, userID, priv)
		if err != nil {
			return "", err
		}
		if !ok {
			why = "Your CRM security role does not let you change activities (" + priv + "), which sending needs; ask your CRM administrator."
		}
	}
	p.why, p.at = why, e.clock.Now()
	return why, nil
}

// outgoingCRM gives a pass the CRM client while online and while the
// administrator lets crmsync send.
func (e *Engine) outgoingCRM() (outgoing.CRM, error) {
	c, user, err := e.onlineClient("sending the CRM's email")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(e.online(), time.Minute)
	defer cancel()
	why, err := e.sendPermission(ctx, c, user)
	if err != nil {
		return nil, err
	}
	if why != "" {
		return nil, outgoing.NotAllowed{Why: why}
	}
	return c, nil
}

// meetingsCRM gives a pass the CRM client for meeting invitations while
// online and while the user's mailbox says a client application delivers
// appointments (actdeliverymethod "Microsoft Dynamics 365 for Outlook").
func (e *Engine) meetingsCRM() (outgoing.Meetings, error) {
	c, user, err := e.onlineClient("sending meeting invitations")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(e.online(), time.Minute)
	defer cancel()
	mb, err := c.Mailbox(ctx, user)
	if err != nil {
		return nil, err
	}
	if mb == "" {
		return nil, outgoing.NotAllowed{Why: "no mailbox"}
	}
	d, err := c.MailboxAppointmentDelivery(ctx, mb)
	if err != nil {
		return nil, err
	}
	if d != 0 {
		return nil, outgoing.NotAllowed{Why: "appointments are not delivered by a client application"}
	}
	return c, nil
}

// sentFolder is the mail account's Sent folder, when the mail source has
// one.
func (e *Engine) sentFolder() (outgoing.Sent, error) {
	m := e.mail.get()
	if s, ok := m.(outgoing.Sent); ok && s != nil {
		return s, nil
	}
	return nil, errors.New("no mail account is open")
}

// smtpPassword returns a's password from the keychain (or this session's).
func (e *Engine) smtpPassword(ctx context.Context, a agent.SMTPAccount) (string, error) {
	if a.Username == "" {
		return "", nil
	}
	return e.accountPassword(ctx, a.URL(), errNoSMTPPassword)
}

var errNoSMTPPassword = errors.New("no password is saved for the outgoing mail server; enter it in Settings, Send email from the CRM")

// startOutgoing starts sending the CRM's email when the settings name an
// outgoing server and the user is known; it restarts on a change.
func (l *loop) startOutgoing() {
	a := l.settings.SMTP
	key := fmt.Sprintf("%s\x00%+v", l.userID, a)
	if l.out.stop != nil && l.out.key == key {
		return
	}
	l.stopOutgoing()
	l.out.status, l.out.err, l.out.key, l.out.pending = "", "", key, 0
	if a.IsZero() {
		return
	}
	if l.userID == "" {
		l.out.status = "waiting for the CRM connection"
		return
	}
	ctx, cancel := context.WithCancel(l.ctx)
	l.out.stop = cancel
	e, passes, userID := l.e, l.out.passes, l.userID
	from := compose.Address{Name: l.name, Addr: l.self}
	report := func(rep outgoing.Report) {
		select {
		case passes <- rep:
		case <-ctx.Done():
		}
	}
	l.g.Go("outgoing", func(context.Context) error {
		pw, err := e.smtpPassword(ctx, a)
		if err != nil {
			report(outgoing.Report{Err: err.Error()})
			return nil
		}
		acct := smtpAccount(a)
		w, err := outgoing.New(outgoing.Options{
			CRM: e.outgoingCRM, Sent: e.sentFolder, Store: e.o.Store, From: from, UserID: userID, Log: e.log, Now: e.clock.Now, OnPass: report,
			Meetings: e.meetingsCRM, KV: e.o.Store,
			Submit: func(ctx context.Context, from string, rcpts []string, msg []byte) (string, error) {
				return smtp.Send(ctx, acct, smtp.Options{Password: pw}, from, rcpts, msg)
			},
		})
		if err != nil {
			report(outgoing.Report{Err: err.Error()})
			return nil
		}
		e.sender.Store(w)
		defer e.sender.CompareAndSwap(w, nil)
		return w.Run(ctx)
	})
}

func (l *loop) stopOutgoing() {
	if l.out.stop != nil {
		l.out.stop()
		l.out.stop = nil
	}
}

// onOutgoingPass takes a pass's report for the status line and the tray.
func (l *loop) onOutgoingPass(rep outgoing.Report) {
	switch {
	case rep.Blocked != "":
		l.out.status, l.out.err, l.out.pending = "not sent by crmsync: "+rep.Blocked, "", 0
	case rep.Err != "" && !l.online:
		l.out.status, l.out.err = "waiting for the CRM connection", ""
	case rep.Err != "":
		l.out.status, l.out.err = "not all sent", "The CRM's email could not all be sent: "+rep.Err
	default:
		l.out.err = ""
		l.out.pending = max(rep.Waiting-rep.Sent-rep.Failed, 0)
		l.out.status = "nothing waiting to be sent"
		if l.out.pending > 0 {
			l.out.status = fmt.Sprintf("%d waiting to be sent", l.out.pending)
		}
		// The items window's status line says what failed and why, until
		// the next pass; Settings, Send email, retries it.
		for _, n := range rep.Notices {
			if rep.Failed > 0 && strings.Contains(n, " was not sent: ") {
				l.out.status = n + " Send it again in Settings, Send email, or from the CRM."
				break
			}
		}
	}
	for _, n := range rep.Notices {
		l.e.publishNotice("Email from the CRM", n)
	}
	l.publish(true)
}

// Outbox implements agent.OutgoingSender.
func (e *Engine) Outbox(ctx context.Context) (agent.OutgoingReport, error) {
	s := e.Settings()
	if s.SMTP.IsZero() {
		return agent.OutgoingReport{Why: "No outgoing mail server is set, so crmsync sends none of your CRM email; add one in Settings, Send email from the CRM, or start the agent with --smtp."}, nil
	}
	c, user, err := e.onlineClient("listing the CRM's outgoing email")
	if err != nil {
		return agent.OutgoingReport{}, err
	}
	why, err := e.sendPermission(ctx, c, user)
	if err != nil {
		return agent.OutgoingReport{}, err
	}
	rep := agent.OutgoingReport{Enabled: why == "", Why: why}
	if rep.Enabled {
		rep.Why = "crmsync sends your CRM email through " + s.SMTP.URL() + "."
	}
	list, err := c.RecentOutgoing(ctx, user, e.clock.Now().Add(-7*24*time.Hour))
	if err != nil {
		return rep, err
	}
	for _, m := range list {
		rep.Items = append(rep.Items, agent.OutgoingItem{ID: m.ID, Subject: m.Subject, State: outboxState(m.Status), Modified: m.Modified})
	}
	return rep, nil
}

// outboxState names an email status as the outbox lists it.
func outboxState(status int) string {
	switch status {
	case crm.EmailPendingSend:
		return "pending"
	case crm.EmailSending:
		return "sending"
	case crm.EmailFailed:
		return "failed"
	case crm.EmailSent:
		return "sent"
	}
	return "other"
}

// RetryEmail implements agent.OutgoingSender.
func (e *Engine) RetryEmail(ctx context.Context, id string) error {
	if !crm.IsGUID(id) {
		return fmt.Errorf("%q is not an email's ID; `crmsync outbox` lists them", id)
	}
	c, _, err := e.onlineClient("sending an email again")
	if err != nil {
		return err
	}
	if err := c.SendEmailAgain(ctx, strings.ToLower(id)); err != nil {
		return err
	}
	if w := e.sender.Load(); w != nil {
		w.Trigger()
	}
	return nil
}

// TestSMTP implements agent.OutgoingSender.
func (e *Engine) TestSMTP(ctx context.Context, a agent.SMTPAccount, password string) ([]agent.CheckStep, error) {
	if err := checkSMTP(a); err != nil {
		return nil, err
	}
	if password == "" && a.Username != "" {
		pw, err := e.smtpPassword(ctx, a)
		if err != nil {
			return nil, err
		}
		password = pw
	}
	var out []agent.CheckStep
	for _, s := range smtp.Probe(ctx, smtpAccount(a), password) {
		out = append(out, agent.CheckStep{Name: s.Name, OK: s.OK, Warning: s.Warning, Detail: s.Detail})
	}
	return out, nil
}

// SaveSMTPPassword implements agent.OutgoingSender.
func (e *Engine) SaveSMTPPassword(ctx context.Context, a agent.SMTPAccount, password string) error {
	if err := checkSMTP(a); err != nil {
		return err
	}
	if e.o.Passwords == nil {
		return agent.ErrKeychainUnavailable
	}
	if err := e.o.Passwords.SaveMailPassword(ctx, a.URL(), password); err != nil {
		return err
	}
	return e.do(ctx, func(l *loop) {
		l.out.key = ""
		l.startOutgoing()
		l.publish(true)
	})
}
