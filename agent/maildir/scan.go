package maildir

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"crmsync/agent"
)

// listBatch is how many directory entries a listing reads at a time, so a
// directory of 100,000 messages never has all its entries in memory at once.
const listBatch = 1024

// listed is a file a listing found where the index does not have it.
type listed struct {
	key   agent.MessageKey
	e     entry
	order int64 // sort key: the name's time prefix, or the mtime (Unix seconds)
}

// listDir reads new/ or cur/ of one folder from its directory entries
// alone: no file is opened, so a Maildir of 100,000 messages costs a
// directory read, not 100,000 reads. Files already indexed at this path are
// marked seen by listing gen; the others are appended to fresh. A missing
// directory is skipped; the next rescan looks again.
func (s *Source) listDir(folder uint16, cur bool, gen uint32, fresh []listed) []listed {
	dir := filepath.Join(s.opts.Root, s.folderList[folder], subdir(cur))
	d, err := os.Open(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.log.Warn("cannot list maildir directory", "dir", dir, "err", err)
		}
		return fresh
	}
	defer d.Close()
	for {
		ents, err := d.ReadDir(listBatch)
		start := len(fresh)
		s.mu.Lock()
		for _, de := range ents {
			if t := de.Type(); !t.IsRegular() && t&fs.ModeSymlink == 0 {
				continue // a directory, pipe, socket or device is no message
			}
			name := de.Name()
			key, _, perr := ParseName(name)
			if perr != nil {
				continue
			}
			e := entry{name: name, folder: folder, cur: cur, seen: gen}
			if old, ok := s.index.get(key); ok && s.holds(key, old, e) {
				old.seen = gen
				s.index.put(key, old)
				continue
			}
			fresh = append(fresh, listed{key: key, e: e})
		}
		s.mu.Unlock()
		for i := start; i < len(fresh); i++ {
			l := &fresh[i]
			if t, ok := timePrefix(l.e.name); ok {
				l.order = t
			} else if fi, err := os.Lstat(filepath.Join(dir, l.e.name)); err == nil {
				l.order = fi.ModTime().Unix()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.log.Warn("cannot list maildir directory", "dir", dir, "err", err)
			}
			return fresh
		}
	}
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

// newestFirst keeps one place per key, the one listed last (the same key
// in new/ and cur/ means a rename raced the listing, and cur/ is listed
// second), and orders the result newest message first; ties are broken by
// key so the order is the same on every run.
func newestFirst(fresh []listed) []listed {
	slices.SortStableFunc(fresh, func(a, b listed) int { return cmp.Compare(a.key, b.key) })
	out := fresh[:0]
	for i, l := range fresh {
		if i+1 < len(fresh) && fresh[i+1].key == l.key {
			continue
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b listed) int {
		if c := cmp.Compare(b.order, a.order); c != 0 {
			return c
		}
		return cmp.Compare(b.key, a.key)
	})
	return out
}

// rescan lists the Maildir and reconciles the index with it: new keys are
// reported Added (or Moved when reported before), keys at another path
// Moved, keys no longer listed Removed. The initial scan also drives
// Progress.
func (r *runner) rescan(initial bool) error {
	r.ensureWatches()
	r.gen++
	var fresh []listed
	for i := range r.s.folderList {
		for _, cur := range []bool{false, true} {
			fresh = r.s.listDir(uint16(i), cur, r.gen, fresh)
		}
	}
	fresh = newestFirst(fresh)
	if initial {
		r.s.total.Store(int64(len(fresh)))
	}
	for _, l := range fresh {
		// A file also found at its indexed path in this listing was seen
		// in two places: a rename raced the listing. cur/ is where
		// messages go, never leave, so it wins.
		if old, ok := r.s.seenAt(l.key); !ok || old.seen != r.gen || l.e.cur || !old.cur {
			if err := r.place(l.key, l.e); err != nil {
				return err
			}
		}
		if initial {
			r.s.done.Add(1)
		}
	}
	var gone []agent.MessageKey
	r.s.mu.RLock()
	r.s.index.each(func(k agent.MessageKey, sl slot) {
		if sl.seen != r.gen {
			gone = append(gone, agent.MessageKey(strings.Clone(string(k))))
		}
	})
	r.s.mu.RUnlock()
	for _, k := range gone {
		if err := r.remove(k); err != nil {
			return err
		}
	}
	r.s.mu.Lock()
	r.s.index.compact(initial)
	r.s.mu.Unlock()
	return nil
}

// Delivered returns the modification time of k's file. The delivering
// program sets it when it writes the message, so it is the arrival time of
// a message whose name has no time prefix and whose header has no Date.
func (s *Source) Delivered(k agent.MessageKey) (time.Time, error) {
	f, err := s.open(k)
	if err != nil {
		return time.Time{}, fmt.Errorf("maildir: delivery time of %s: %w", k, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}, fmt.Errorf("maildir: delivery time of %s: %w", k, err)
	}
	return fi.ModTime(), nil
}
