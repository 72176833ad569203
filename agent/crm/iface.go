package crm

import (
	"context"

	"crmsync/agent"
)

// Directory is the read side of the CRM the engine uses to decide: who the
// user is, whether they may sync, and which records addresses belong to.
// *HTTPClient implements it.
type Directory interface {
	WhoAmI(ctx context.Context) (Identity, error)
	CanSync(ctx context.Context, userID string) (bool, error)
	ResolveParties(ctx context.Context, addrs []string) ([]Party, error)
	CheckIncomingEmail(ctx context.Context, h Headers) (CheckResult, error)
	Search(ctx context.Context, q string, limit int) ([]agent.RecordRef, error)
	UserName(ctx context.Context, userID string) (string, error)
}

// Activities is the write side: tracked email activities, addressed by ID.
// *HTTPClient implements it.
type Activities interface {
	CreateEmail(ctx context.Context, e Email) (ActivityInfo, bool, error)
	Activity(ctx context.Context, id ActivityID) (ActivityInfo, error)
	Activities(ctx context.Context, ids []ActivityID, pageSize int) ([]ActivityInfo, error)
	SetRegarding(ctx context.Context, id ActivityID, r *agent.RecordRef) error
	DeleteActivity(ctx context.Context, id ActivityID) error
}

var (
	_ Directory  = (*HTTPClient)(nil)
	_ Activities = (*HTTPClient)(nil)
)
