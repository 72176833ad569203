package maildir

import (
	"cmp"
	"slices"
	"strings"

	"crmsync/agent"
)

// index maps each present message's key to its slot. A Maildir of 100,000
// messages must not cost the agent tens of megabytes, so most of the index
// is a compact table sorted by key, its keys back to back in one string;
// what changed since the table was last rebuilt sits in a small map beside
// it. The owner serialises access (Source.mu).
type index struct {
	keys  string // the keys of recs, back to back
	recs  []rec  // sorted by key
	gone  int    // recs marked removed
	extra map[agent.MessageKey]slot
}

// rec is one message of the sorted table.
type rec struct {
	off  uint32 // where the key starts in index.keys
	n    uint16 // the key's length
	dead bool   // removed since the table was built
	slot slot
}

func newIndex() index { return index{extra: make(map[agent.MessageKey]slot)} }

// key returns the key of r. It shares the bytes of the table; callers that
// keep it beyond the table's life clone it (see each).
func (x *index) key(r *rec) agent.MessageKey {
	return agent.MessageKey(x.keys[r.off : r.off+uint32(r.n)])
}

// find returns the table position of k, if it is there (even removed).
func (x *index) find(k agent.MessageKey) (int, bool) {
	return slices.BinarySearchFunc(x.recs, k, func(r rec, k agent.MessageKey) int {
		return cmp.Compare(x.key(&r), k)
	})
}

// get returns k's slot.
func (x *index) get(k agent.MessageKey) (slot, bool) {
	if sl, ok := x.extra[k]; ok {
		return sl, true
	}
	if i, ok := x.find(k); ok && !x.recs[i].dead {
		return x.recs[i].slot, true
	}
	return slot{}, false
}

// put records k's slot. A key in the table is updated in place; a new one
// goes to the map, and k is kept as given, so it must not be a slice of a
// longer string.
func (x *index) put(k agent.MessageKey, sl slot) {
	if i, ok := x.find(k); ok {
		if x.recs[i].dead {
			x.recs[i].dead = false
			x.gone--
		}
		x.recs[i].slot = sl
		return
	}
	x.extra[k] = sl
}

// del forgets k.
func (x *index) del(k agent.MessageKey) {
	if _, ok := x.extra[k]; ok {
		delete(x.extra, k)
		return
	}
	if i, ok := x.find(k); ok && !x.recs[i].dead {
		x.recs[i].dead = true
		x.gone++
	}
}

// len returns how many messages the index holds.
func (x *index) len() int { return len(x.recs) - x.gone + len(x.extra) }

// each calls fn for every message. The keys it passes share the table's
// bytes; fn clones one it keeps.
func (x *index) each(fn func(k agent.MessageKey, sl slot)) {
	for i := range x.recs {
		if !x.recs[i].dead {
			fn(x.key(&x.recs[i]), x.recs[i].slot)
		}
	}
	for k, sl := range x.extra {
		fn(k, sl)
	}
}

// compactAt is how many changes (new keys and removals) the index gathers
// before the table is rebuilt: a sixteenth of it, and at least 1,024, so a
// rebuild's cost is spread over many changes.
func (x *index) compactAt() int { return max(1024, len(x.recs)/16) }

// compact rebuilds the table with the map's keys in it and the removed ones
// out, when enough has changed; force rebuilds whenever anything has.
func (x *index) compact(force bool) {
	changes := len(x.extra) + x.gone
	if changes == 0 || !force && changes < x.compactAt() {
		return
	}
	type kv struct {
		k  agent.MessageKey
		sl slot
	}
	all := make([]kv, 0, x.len())
	x.each(func(k agent.MessageKey, sl slot) { all = append(all, kv{k, sl}) })
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
	size := 0
	for _, e := range all {
		size += len(e.k)
	}
	var b strings.Builder
	b.Grow(size)
	recs := make([]rec, len(all))
	for i, e := range all {
		// A key is part of a file name, which no file system lets be
		// longer than 255 bytes.
		recs[i] = rec{off: uint32(b.Len()), n: uint16(len(e.k)), slot: e.sl}
		b.WriteString(string(e.k))
	}
	x.keys, x.recs, x.gone = b.String(), recs, 0
	x.extra = make(map[agent.MessageKey]slot)
}
