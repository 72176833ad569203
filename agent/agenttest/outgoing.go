package agenttest

import (
	"context"

	"crmsync/agent"
)

// Outbox records the call as "Outbox" and returns OutboxValue.
func (f *FakeBackend) Outbox(context.Context) (agent.OutgoingReport, error) {
	err := f.record("Outbox")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.OutboxValue, err
}

// RetryEmail records the call as "RetryEmail ID".
func (f *FakeBackend) RetryEmail(_ context.Context, id string) error {
	return f.record("RetryEmail %s", id)
}

// TestSMTP records the call as "TestSMTP URL password=B" and returns
// SMTPSteps.
func (f *FakeBackend) TestSMTP(_ context.Context, a agent.SMTPAccount, password string) ([]agent.CheckStep, error) {
	err := f.record("TestSMTP %s password=%v", a.URL(), password != "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SMTPSteps, err
}

// SaveSMTPPassword records the call as "SaveSMTPPassword URL" and keeps
// the password in SMTPPassword.
func (f *FakeBackend) SaveSMTPPassword(_ context.Context, a agent.SMTPAccount, password string) error {
	err := f.record("SaveSMTPPassword %s", a.URL())
	if err == nil {
		f.mu.Lock()
		f.SMTPPassword = password
		f.mu.Unlock()
	}
	return err
}
