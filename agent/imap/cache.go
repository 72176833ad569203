package imap

import (
	"sync"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// envCacheSize bounds the envelopes kept in memory: enough for the
// arrivals the engine has yet to decide and a first listing's recent
// mail, small enough to be a few megabytes.
const envCacheSize = 10_000

// envCache keeps parsed envelopes by key, in memory only, forgetting the
// oldest entry once full. An arrival's envelope is put here before the
// arrival is reported, so the engine's Envelope call right after costs no
// round trip.
type envCache struct {
	mu   sync.Mutex
	m    map[agent.MessageKey]cached
	ring []slotRef // the last len(ring) puts, oldest at next
	next int
	seq  uint64 // numbers the puts
}

// cached is one envelope and the put that stored it.
type cached struct {
	env maildir.Envelope
	seq uint64
}

// slotRef names a put: the entry is evicted with its ring slot only if no
// later put replaced it.
type slotRef struct {
	key agent.MessageKey
	seq uint64
}

func newEnvCache(size int) *envCache {
	return &envCache{m: make(map[agent.MessageKey]cached), ring: make([]slotRef, size)}
}

// get returns k's envelope if cached.
func (c *envCache) get(k agent.MessageKey) (maildir.Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e.env, ok
}

// put stores k's envelope, evicting the oldest put when full.
func (c *envCache) put(k agent.MessageKey, env maildir.Envelope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.ring[c.next]
	if e, ok := c.m[old.key]; ok && e.seq == old.seq {
		delete(c.m, old.key)
	}
	c.seq++
	c.m[k] = cached{env: env, seq: c.seq}
	c.ring[c.next] = slotRef{key: k, seq: c.seq}
	c.next = (c.next + 1) % len(c.ring)
}

// drop forgets k.
func (c *envCache) drop(k agent.MessageKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// len returns how many envelopes are cached.
func (c *envCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
