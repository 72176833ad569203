package control

import (
	"context"
	"fmt"
	"sync"

	"crmsync/agent"
)

const (
	guid1 = "6f1c3e0a-8d3b-4c6e-9a57-2a4c1d1e0b11"
	guid2 = "0b8e2a44-51c9-4f0e-8c1d-7d3e9a6b2c55"
)

// call is one backend call as the recording backend saw it.
type call struct {
	Method string
	Key    agent.MessageKey
	Ref    *agent.RecordRef
	Query  string
	Limit  int
	Folder string
	ID     string
}

// recBackend records every call and answers with canned values. The control
// socket is a boundary between processes, so what matters here is exactly
// what crosses it; the engine behind it is tested on its own.
type recBackend struct {
	mu      sync.Mutex
	calls   []call
	status  agent.Status
	items   []agent.Item
	refs    []agent.RecordRef
	untrack agent.UntrackResult
	rules   []agent.FolderRule   // answered by FolderRules
	rule    agent.FolderRule     // answered by AddFolderRule
	sync    agent.SyncReport     // answered by SyncNow
	outbox  agent.OutgoingReport // answered by Outbox
	err     error                // returned by every method but Status when set
	block   chan struct{}        // when set, every method but Status waits for it or its context
	panics  bool                 // when set, every method but Status panics
}

func (b *recBackend) record(ctx context.Context, c call) error {
	b.mu.Lock()
	b.calls = append(b.calls, c)
	block, err, panics := b.block, b.err, b.panics
	b.mu.Unlock()
	if panics {
		panic("backend exploded")
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return fmt.Errorf("engine: %s: %w", c.Method, ctx.Err())
		}
	}
	return err
}

func (b *recBackend) Calls() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]call(nil), b.calls...)
}

func (b *recBackend) Status() agent.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call{Method: "Status"})
	return b.status
}

func (b *recBackend) RecentItems(ctx context.Context, limit int) ([]agent.Item, error) {
	if err := b.record(ctx, call{Method: "RecentItems", Limit: limit}); err != nil {
		return nil, err
	}
	return b.items, nil
}

func (b *recBackend) Track(ctx context.Context, k agent.MessageKey, r *agent.RecordRef) error {
	return b.record(ctx, call{Method: "Track", Key: k, Ref: r})
}

func (b *recBackend) Untrack(ctx context.Context, k agent.MessageKey) (agent.UntrackResult, error) {
	if err := b.record(ctx, call{Method: "Untrack", Key: k}); err != nil {
		return agent.UntrackResult{}, err
	}
	return b.untrack, nil
}

func (b *recBackend) SetRegarding(ctx context.Context, k agent.MessageKey, r agent.RecordRef) error {
	return b.record(ctx, call{Method: "SetRegarding", Key: k, Ref: &r})
}

func (b *recBackend) SearchRecords(ctx context.Context, q string, limit int) ([]agent.RecordRef, error) {
	if err := b.record(ctx, call{Method: "SearchRecords", Query: q, Limit: limit}); err != nil {
		return nil, err
	}
	return b.refs, nil
}

func (b *recBackend) SignOut(ctx context.Context) error {
	return b.record(ctx, call{Method: "SignOut"})
}

func (b *recBackend) FolderRules(ctx context.Context) ([]agent.FolderRule, error) {
	if err := b.record(ctx, call{Method: "FolderRules"}); err != nil {
		return nil, err
	}
	return b.rules, nil
}

func (b *recBackend) AddFolderRule(ctx context.Context, folder string, r agent.RecordRef) (agent.FolderRule, error) {
	if err := b.record(ctx, call{Method: "AddFolderRule", Folder: folder, Ref: &r}); err != nil {
		return agent.FolderRule{}, err
	}
	return b.rule, nil
}

func (b *recBackend) RemoveFolderRule(ctx context.Context, folder string) error {
	return b.record(ctx, call{Method: "RemoveFolderRule", Folder: folder})
}

func (b *recBackend) Outbox(ctx context.Context) (agent.OutgoingReport, error) {
	err := b.record(ctx, call{Method: "Outbox"})
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.outbox, err
}

func (b *recBackend) RetryEmail(ctx context.Context, id string) error {
	return b.record(ctx, call{Method: "RetryEmail", ID: id})
}

func (b *recBackend) SyncNow(ctx context.Context) (agent.SyncReport, error) {
	err := b.record(ctx, call{Method: "SyncNow"})
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sync, err
}
