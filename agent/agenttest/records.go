package agenttest

import (
	"context"

	"crmsync/agent"
)

// SyncNow records the call as "SyncNow" and returns SyncReportValue.
func (f *FakeBackend) SyncNow(context.Context) (agent.SyncReport, error) {
	err := f.record("SyncNow")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SyncReportValue, err
}

// LastSyncReport returns SyncReportValue.
func (f *FakeBackend) LastSyncReport() agent.SyncReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.SyncReportValue
}

// SyncOverview records the call as "SyncOverview" and returns
// OverviewValue.
func (f *FakeBackend) SyncOverview(context.Context) (agent.SyncOverview, error) {
	err := f.record("SyncOverview")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.OverviewValue, err
}

// TestDAV records the call as "TestDAV URL password=B" (whether a
// password was given) and returns DAVSteps.
func (f *FakeBackend) TestDAV(_ context.Context, a agent.DAVAccount, password string) ([]agent.CheckStep, error) {
	err := f.record("TestDAV %s password=%v", a.Display(), password != "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.DAVSteps, err
}

// SaveDAVPassword records the call as "SaveDAVPassword URL" and keeps
// the password in DAVPassword.
func (f *FakeBackend) SaveDAVPassword(_ context.Context, a agent.DAVAccount, password string) error {
	err := f.record("SaveDAVPassword %s", a.Display())
	if err == nil {
		f.mu.Lock()
		f.DAVPassword = password
		f.mu.Unlock()
	}
	return err
}
