package maildir

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"

	"crmsync/agent"
)

// folders returns the inbox ("") and the configured Maildir++ folders.
func (s *Source) folders() []string {
	return append([]string{""}, s.opts.Folders...)
}

// list returns every message in new/ and cur/ of every folder, from the
// directory listings alone: no file is opened, so a Maildir of 100,000
// messages costs a directory read, not 100,000 reads. A missing directory
// is skipped; the next rescan looks again.
func (s *Source) list() map[agent.MessageKey]location {
	found := make(map[agent.MessageKey]location)
	for _, folder := range s.folders() {
		for _, sub := range []string{"new", "cur"} {
			entries, err := os.ReadDir(filepath.Join(s.opts.Root, folder, sub))
			if err != nil {
				if !os.IsNotExist(err) {
					s.log.Warn("cannot list maildir directory", "folder", folder, "dir", sub, "err", err)
				}
				continue
			}
			for _, e := range entries {
				if e.IsDir() {
					continue
				}
				key, flags, err := ParseName(e.Name())
				if err != nil {
					continue
				}
				loc := location{folder: folder, sub: sub, name: e.Name(), flags: flags}
				if t, ok := timePrefix(e.Name()); ok {
					loc.order = t
				} else if fi, err := e.Info(); err == nil {
					loc.order = fi.ModTime().Unix()
				}
				// The same key in new/ and cur/ means a rename raced the
				// listing; cur/ is listed second and is the newer state.
				found[key] = loc
			}
		}
	}
	return found
}

// timePrefix returns the delivery time that Maildir names start with
// ("1700000000.M1P2.host": seconds since 1970).
func timePrefix(name string) (int64, bool) {
	var t int64
	i := 0
	for ; i < len(name) && i < 19 && '0' <= name[i] && name[i] <= '9'; i++ {
		t = t*10 + int64(name[i]-'0')
	}
	if i == 0 || i < len(name) && name[i] != '.' && name[i] != '_' {
		return 0, false
	}
	return t, true
}

// newestFirst returns the keys of found, newest message first; ties are
// broken by key so the order is the same on every run.
func newestFirst(found map[agent.MessageKey]location) []agent.MessageKey {
	keys := make([]agent.MessageKey, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b agent.MessageKey) int {
		if c := cmp.Compare(found[b].order, found[a].order); c != 0 {
			return c
		}
		return cmp.Compare(b, a)
	})
	return keys
}

// rescan lists the Maildir and reconciles the index with it: new keys are
// reported Added (or Moved when reported before), keys at another path
// Moved, keys no longer listed Removed. The initial scan also drives
// Progress.
func (r *runner) rescan(initial bool) error {
	r.ensureWatches()
	found := r.s.list()
	keys := newestFirst(found)
	if initial {
		r.s.total.Store(int64(len(keys)))
	}
	for _, k := range keys {
		if err := r.place(k, found[k]); err != nil {
			return err
		}
		if initial {
			r.s.done.Add(1)
		}
	}
	var gone []agent.MessageKey
	r.s.mu.RLock()
	for k := range r.s.index {
		if _, ok := found[k]; !ok {
			gone = append(gone, k)
		}
	}
	r.s.mu.RUnlock()
	for _, k := range gone {
		if err := r.remove(k); err != nil {
			return err
		}
	}
	return nil
}
