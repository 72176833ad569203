package engine

import (
	"strings"
	"testing"

	"crmsync/agent"
	"crmsync/agent/smtp/smtptest"
)

// TestOutgoingStatus: with an outgoing server set, the engine sends
// alice's pending CRM email, and the status line names the one the
// server refused, with the server's words, and how to send it again.
func TestOutgoingStatus(t *testing.T) {
	h := newHarness(t)
	mta := smtptest.Start(t, smtptest.RefuseRecipient("yvonne.mckay@fabrikam.example", "Mailbox disabled for this recipient"))
	acct := mta.Account("")
	h.settings.Update(func(s *agent.Settings) {
		s.SMTP = agent.SMTPAccount{Host: acct.Host, Port: acct.Port, Security: acct.Security}
	})
	e := h.start()
	h.signIn(e, "alice@demo.local", "demo-alice")
	waitFor(t, "the refusal in the status line", func() bool {
		o := e.Status().Outgoing
		return strings.Contains(o, "Delivery dates for Fabrikam") && strings.Contains(o, "Mailbox disabled for this recipient") &&
			strings.Contains(o, "Send it again")
	})
}
