package maildir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"crmsync/agent"
)

// eventBuffer is the length of the watcher's event channel. The kernel
// queue holds far more; the buffer only smooths bursts while a Change waits
// for its reader.
const eventBuffer = 4096

// runner is the state Run owns. Nothing else touches it.
type runner struct {
	s   *Source
	ctx context.Context
	out chan<- Change
	w   *fsnotify.Watcher

	watched   map[string]bool                // directories with a live watch
	dirs      map[string]dirInfo             // message directories by path
	removed   map[agent.MessageKey]struct{}  // keys reported Removed; never Added again
	pending   map[agent.MessageKey]time.Time // possibly removed keys and when to decide
	rescanDue bool                           // a rescan is due when the debounce timer fires
	gen       uint32                         // the number of the latest listing
	gone      bool                           // Unavailable was reported last
}

// dirInfo names a message directory.
type dirInfo struct {
	folder uint16 // index into Source.folderList
	cur    bool
}

// Run checks that Root is a Maildir, watches new/ and cur/ of the inbox and
// of every folder, then reports every message present, newest first, and
// from then on every arrival, move and removal, until ctx ends. Each key is
// reported Added at most once in the Source's life. A periodic rescan, and
// an immediate one when the event queue overflows or a watched directory
// comes back, catches whatever the events missed. Run returns ctx.Err()
// when ctx ends, or an error when Root is not a Maildir or cannot be
// watched. A Source runs once.
func (s *Source) Run(ctx context.Context, out chan<- Change) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("maildir: run: the source is already running or has run")
	}
	if err := checkMaildir(s.opts.Root); err != nil {
		return err
	}
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return fmt.Errorf("maildir: watch %s: %w", s.opts.Root, err)
	}
	defer w.Close()
	r := &runner{
		s: s, ctx: ctx, out: out, w: w,
		watched: make(map[string]bool),
		dirs:    make(map[string]dirInfo),
		removed: make(map[agent.MessageKey]struct{}),
		pending: make(map[agent.MessageKey]time.Time),
	}
	for i, folder := range s.folderList {
		for _, cur := range []bool{false, true} {
			r.dirs[filepath.Join(s.opts.Root, folder, subdir(cur))] = dirInfo{uint16(i), cur}
		}
	}
	// Watch before listing, so nothing delivered during the scan is missed;
	// what the scan already reported is then ignored as a duplicate.
	r.ensureWatches()
	if !r.watched[filepath.Join(s.opts.Root, "new")] || !r.watched[filepath.Join(s.opts.Root, "cur")] {
		return fmt.Errorf("maildir: watch %s: cannot watch new/ and cur/", s.opts.Root)
	}
	if err := r.rescan(true); err != nil {
		return err
	}
	s.log.Info("initial scan done", "messages", s.total.Load())
	return r.loop()
}

// missingPoll is how often a vanished Maildir is looked for.
const missingPoll = 2 * time.Second

// loop handles events, debounced removals and rescans until ctx ends.
func (r *runner) loop() error {
	tick := time.NewTicker(r.s.opts.Rescan)
	defer tick.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	// missing polls for the inbox's new/ while it is gone (the Maildir was
	// removed, or its disk unmounted): nothing watches a directory that
	// does not exist, so only looking finds it when it is back.
	missing := time.NewTimer(time.Hour)
	missing.Stop()
	checkMissing := func() {
		present := r.watched[filepath.Join(r.s.opts.Root, "new")]
		if !present {
			missing.Reset(missingPoll)
		}
		if present == r.gone {
			// Say so once per change; a send cut short by ctx ends the
			// loop on its next turn.
			r.gone = !present
			kind := Available
			if r.gone {
				kind = Unavailable
			}
			r.send(Change{Kind: kind})
		}
	}
	armed := false
	arm := func() {
		if !armed {
			debounce.Reset(r.s.opts.Debounce)
			armed = true
		}
	}
	for {
		var err error
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case ev, ok := <-r.w.Events:
			if !ok {
				return errors.New("maildir: watcher closed")
			}
			if r.handle(ev) {
				arm()
			}
		case werr, ok := <-r.w.Errors:
			if !ok {
				return errors.New("maildir: watcher closed")
			}
			// Events were lost (queue overflow) or the watcher hiccuped:
			// a listing tells the truth.
			r.s.log.Warn("file events lost; rescanning", "err", werr)
			r.rescanDue = true
			arm()
		case <-debounce.C:
			armed = false
			if r.rescanDue {
				r.rescanDue = false
				err = r.rescan(false)
			}
			if err == nil {
				err = r.flushRemovals()
			}
			if len(r.pending) > 0 {
				arm()
			}
			checkMissing()
		case <-missing.C:
			err = r.rescan(false)
			checkMissing()
		case <-tick.C:
			err = r.rescan(false)
		}
		if err != nil {
			return err
		}
	}
}

// handle applies one file event. It reports whether the debounce timer
// must run (a removal to confirm or a rescan to do). Sending a Change may
// block; a cancelled ctx ends the wait.
func (r *runner) handle(ev fsnotify.Event) bool {
	if r.watched[ev.Name] && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		// A watched directory went away; a rescan reports its messages
		// removed and watches it again once it is back.
		delete(r.watched, ev.Name)
		r.w.Remove(ev.Name)
		r.rescanDue = true
		return true
	}
	d, ok := r.dirs[filepath.Dir(ev.Name)]
	if !ok {
		// An event in the root or a folder directory: a folder or its
		// new/ or cur/ may have been created again.
		if ev.Has(fsnotify.Create) {
			r.rescanDue = true
			return true
		}
		return false
	}
	key, _, err := ParseName(filepath.Base(ev.Name))
	if err != nil {
		return false
	}
	// key is a slice of the event's whole path; the index must keep only
	// the key's own bytes.
	key = agent.MessageKey(strings.Clone(string(key)))
	switch {
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(ev.Name)
		if err != nil || !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			return false // gone again already, or not a message file
		}
		name := filepath.Base(ev.Name)
		if err := r.place(key, entry{name: name, folder: d.folder, cur: d.cur, seen: r.gen}); err != nil {
			return false // ctx ended; loop returns on its next turn
		}
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		if e, ok := r.s.lookup(key); ok && r.s.path(e) == ev.Name {
			// Wait: new/ to cur/ is a rename away followed by a create.
			r.pending[key] = time.Now().Add(r.s.opts.Debounce)
			return true
		}
	}
	return false
}

// place records that key is at loc and reports it: Added the first time,
// Moved when the path changed, nothing when it is already known there.
func (r *runner) place(key agent.MessageKey, e entry) error {
	delete(r.pending, key)
	kind := Added
	known, at := r.s.where(key, e)
	if at {
		return nil
	}
	if known {
		kind = Moved
	} else if _, ok := r.removed[key]; ok {
		kind = Moved
		delete(r.removed, key)
	}
	r.s.setIndex(key, e)
	return r.send(r.change(key, e, kind))
}

// remove reports key Removed and forgets where it was.
func (r *runner) remove(key agent.MessageKey) error {
	delete(r.pending, key)
	e, ok := r.s.lookup(key)
	if !ok {
		return nil
	}
	r.s.dropIndex(key)
	r.removed[key] = struct{}{}
	return r.send(r.change(key, e, Removed))
}

// flushRemovals reports the pending removals whose wait is over and whose
// file is still absent.
func (r *runner) flushRemovals() error {
	now := time.Now()
	for key, at := range r.pending {
		if now.Before(at) {
			continue
		}
		e, ok := r.s.lookup(key)
		if !ok {
			delete(r.pending, key)
			continue
		}
		if _, err := os.Lstat(r.s.path(e)); err == nil {
			delete(r.pending, key) // it came back under the same name
			continue
		}
		if err := r.remove(key); err != nil {
			return err
		}
	}
	return nil
}

// change describes what happened to key at e. Its strings are its own:
// key and flags are slices of file names read in batches, and a receiver
// keeping one would keep the whole batch's memory from being reused.
func (r *runner) change(key agent.MessageKey, e entry, kind ChangeKind) Change {
	return Change{
		Key:    agent.MessageKey(strings.Clone(string(key))),
		Folder: r.s.folderList[e.folder],
		Path:   r.s.path(e),
		Kind:   kind,
		Flags:  strings.Clone(e.flags()),
	}
}

// send delivers c unless ctx ends first.
func (r *runner) send(c Change) error {
	select {
	case r.out <- c:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// ensureWatches adds a watch on the root, every folder directory and every
// new/ and cur/ that exists and is not watched yet. Directories that are
// missing are tried again on the next rescan.
func (r *runner) ensureWatches() {
	root := r.s.opts.Root
	paths := []string{root}
	for _, folder := range r.s.folderList {
		if folder != "" {
			paths = append(paths, filepath.Join(root, folder))
		}
		paths = append(paths, filepath.Join(root, folder, "new"), filepath.Join(root, folder, "cur"))
	}
	// A watch follows its directory when that is renamed: after the
	// Maildir is moved away, a watch on new/ still reports, under the old
	// path, a directory that is no longer there. Such watches are dropped.
	for p := range r.watched {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			r.w.Remove(p)
			delete(r.watched, p)
		}
	}
	for _, p := range paths {
		if r.watched[p] {
			continue
		}
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			continue
		}
		if err := r.w.Add(p); err != nil {
			r.s.log.Warn("cannot watch maildir directory", "path", p, "err", err)
			continue
		}
		r.watched[p] = true
	}
}
