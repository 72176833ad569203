package imap

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// sync brings b up to date on the command connection and reports what
// changed: a first listing, new messages, removals, a UIDVALIDITY change.
// The connection is held only while commands run; the changes are sent
// after, so that Envelope and Body calls from the reader of out are not
// kept waiting by a slow reader. An error means the connection broke.
func (r *runner) sync(ctx context.Context, ss *session, b *mbox) error {
	var (
		changes []maildir.Change
		listing []maildir.Change // a first listing's, counted by Progress
		renew   bool             // the mailbox's IDLE connection watches what is gone
	)
	err := func() error {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		data, err := ss.selectBox(b.name)
		if err != nil {
			if !isRefusal(err) {
				return err
			}
			// Deleted, renamed, or not created yet: its messages are
			// gone; a watcher or a poll notices when it is back.
			if b.listed {
				r.s.log.Info("imap: a watched mailbox cannot be opened; its messages are reported removed", "messages", len(b.uids), "err", logErr(err))
				renew = true
			}
			changes = r.forget(b)
			return nil
		}
		if b.listed && data.UIDValidity != b.validity {
			r.s.log.Info("imap: a mailbox was renumbered (UIDVALIDITY changed); listing it again", "messages", len(b.uids))
			changes = r.forget(b)
			renew = true
		}
		if !b.listed {
			var err error
			listing, err = r.list(ss, b, data)
			return err
		}
		if ss.condStore() && data.HighestModSeq != 0 && data.HighestModSeq == b.modSeq &&
			data.UIDNext == b.uidNext && int(data.NumMessages) == len(b.uids) {
			return nil // nothing happened: the common case of a poll or a reconnection
		}
		more, err := r.fetchNew(ss, b)
		changes = append(changes, more...)
		if err != nil {
			return err
		}
		gone, err := r.findRemoved(ss, b)
		changes = append(changes, gone...)
		if err != nil {
			return err
		}
		b.uidNext, b.modSeq = data.UIDNext, data.HighestModSeq
		return nil
	}()
	if renew && r.w != nil {
		r.w.restart(ctx, b.name)
	}
	r.emit(ctx, changes, false)
	r.emit(ctx, listing, true)
	if b.listed && listing != nil && ctx.Err() == nil {
		r.s.lists.Add(1)
	}
	return err
}

// list makes the first listing of b under the UIDVALIDITY in data: every
// message's UID, INTERNALDATE and size, then the header fields of the
// recent ones (Options.Since), newest first and as many as the envelope
// cache holds, so that the decisions that follow are memory hits.
func (r *runner) list(ss *session, b *mbox, data *goimap.SelectData) ([]maildir.Change, error) {
	s := r.s
	start := time.Now()
	s.total.Add(int64(data.NumMessages))
	cmd := ss.c.Fetch(goimap.UIDSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{UID: true, InternalDate: true, RFC822Size: true})
	var found []fetched
	for {
		f := cmd.Next()
		if f == nil {
			break
		}
		if got := readFetch(f); got.uid != 0 {
			found = append(found, got)
		}
	}
	if err := cmd.Close(); err != nil {
		s.total.Add(-int64(data.NumMessages))
		return nil, err
	}
	// The listing may differ from the count SELECT gave: keep Progress
	// consistent with what is reported.
	s.total.Add(int64(len(found)) - int64(data.NumMessages))
	slices.SortFunc(found, func(a, b fetched) int { return cmp.Compare(a.uid, b.uid) })
	found = slices.CompactFunc(found, func(a, b fetched) bool { return a.uid == b.uid })
	b.listed, b.validity = true, data.UIDValidity
	b.uidNext, b.modSeq = data.UIDNext, data.HighestModSeq
	// Never nil, even for an empty mailbox: it marks a listing done.
	changes := make([]maildir.Change, 0, len(found))
	s.mu.Lock()
	for _, f := range found {
		changes = append(changes, r.add(b, f))
	}
	s.mu.Unlock()
	prefetched, err := r.prefetch(ss, b, found)
	s.log.Info("imap: listed a mailbox", "messages", len(found), "prefetched", prefetched, "took", time.Since(start).Round(time.Millisecond))
	return changes, err
}

// prefetch fetches and caches the header fields of the messages of found
// received since Options.Since, newest first, at most half the cache so
// that arrivals still find room.
func (r *runner) prefetch(ss *session, b *mbox, found []fetched) (int, error) {
	var uids []goimap.UID
	for i := len(found) - 1; i >= 0 && len(uids) < envCacheSize/2; i-- {
		if !found[i].date.Before(r.s.o.Since) {
			uids = append(uids, found[i].uid)
		}
	}
	n := len(uids)
	if n == 0 {
		return 0, nil
	}
	slices.Reverse(uids)
	set := goimap.UIDSetNum(uids...)
	cmd := ss.c.Fetch(set, &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{headerSection()}})
	for {
		f := cmd.Next()
		if f == nil {
			break
		}
		got := readFetch(f)
		i, ok := slices.BinarySearchFunc(found, got.uid, func(x fetched, uid goimap.UID) int { return cmp.Compare(x.uid, uid) })
		if !ok {
			continue
		}
		got.date, got.size = found[i].date, found[i].size
		if k, ok := b.uids[got.uid]; ok {
			if env, err := parseHeader(got); err == nil {
				r.s.envs.put(k, env)
			}
		}
	}
	return n, cmd.Close()
}

// fetchNew fetches the messages after the highest UID seen, with their
// header fields, in one command, caches their envelopes and returns them
// as Added.
func (r *runner) fetchNew(ss *session, b *mbox) ([]maildir.Change, error) {
	if b.lastUID == math.MaxUint32 {
		return nil, nil
	}
	first := b.lastUID + 1
	// first:* also answers the highest message when first is above every
	// UID; the filter below drops it.
	cmd := ss.c.Fetch(goimap.UIDSet{{Start: first, Stop: 0}}, &goimap.FetchOptions{
		UID: true, InternalDate: true, RFC822Size: true,
		BodySection: []*goimap.FetchItemBodySection{headerSection()},
	})
	var found []fetched
	for {
		f := cmd.Next()
		if f == nil {
			break
		}
		if got := readFetch(f); got.uid >= first {
			found = append(found, got)
		}
	}
	if err := cmd.Close(); err != nil {
		// Part of an answer may skip a UID that was still to come: take
		// none of it, and fetch from the same UID on the next connection.
		return nil, err
	}
	slices.SortFunc(found, func(a, b fetched) int { return cmp.Compare(a.uid, b.uid) })
	found = slices.CompactFunc(found, func(a, b fetched) bool { return a.uid == b.uid })
	var (
		changes []maildir.Change
		added   []fetched
	)
	r.s.mu.Lock()
	for _, f := range found {
		if _, known := b.uids[f.uid]; known {
			continue
		}
		changes = append(changes, r.add(b, f))
		added = append(added, f)
	}
	r.s.mu.Unlock()
	for i, f := range added {
		if env, perr := parseHeader(f); perr == nil {
			r.s.envs.put(changes[i].Key, env)
		}
	}
	if len(added) > 0 {
		r.s.log.Debug("imap: new messages", "count", len(added), "last_uid", uint32(b.lastUID))
	}
	return changes, nil
}

// findRemoved compares the server's message count with what b holds
// and, when they differ, asks for the UIDs present and reports the rest
// as Removed.
func (r *runner) findRemoved(ss *session, b *mbox) ([]maildir.Change, error) {
	sel := ss.c.Mailbox()
	if sel == nil || int(sel.NumMessages) == len(b.uids) {
		return nil, nil
	}
	var opts *goimap.SearchOptions
	if ss.caps.Has(goimap.CapESearch) || ss.caps.Has(goimap.CapIMAP4rev2) {
		opts = &goimap.SearchOptions{ReturnAll: true}
	}
	data, err := ss.c.UIDSearch(&goimap.SearchCriteria{}, opts).Wait()
	if err != nil {
		return nil, err
	}
	present, _ := data.All.(goimap.UIDSet)
	var changes []maildir.Change
	r.s.mu.Lock()
	for uid, k := range b.uids {
		if present.Contains(uid) {
			continue
		}
		delete(b.uids, uid)
		changes = append(changes, r.remove(b, k))
	}
	r.s.mu.Unlock()
	for _, c := range changes {
		r.s.envs.drop(c.Key)
	}
	// A message that arrived after the fetch is in the search too; it is
	// fetched on the next sync, which its EXISTS (or the next poll)
	// brings about.
	if len(changes) > 0 {
		r.s.log.Debug("imap: messages removed", "count", len(changes))
	}
	return changes, nil
}

// add records f as a message of b and returns its Change: Added, or Moved
// for a key reported Removed before (a folder watched again). The caller
// holds r.s.mu for writing.
func (r *runner) add(b *mbox, f fetched) maildir.Change {
	k := Key(r.s.o.Salt, b.name, b.validity, f.uid)
	size := uint32(math.MaxUint32)
	if f.size >= 0 && f.size < math.MaxUint32 {
		size = uint32(f.size)
	}
	r.s.index[k] = msg{mailbox: b.name, validity: b.validity, uid: f.uid, size: size, date: f.date.Unix()}
	b.uids[f.uid] = k
	b.lastUID = max(b.lastUID, f.uid)
	kind := maildir.Added
	if _, again := r.removed[k]; again {
		delete(r.removed, k)
		kind = maildir.Moved
	}
	return maildir.Change{Key: k, Folder: b.name, Kind: kind}
}

// remove forgets k of b and returns its Removed. The caller holds r.s.mu
// for writing.
func (r *runner) remove(b *mbox, k agent.MessageKey) maildir.Change {
	delete(r.s.index, k)
	r.removed[k] = struct{}{}
	return maildir.Change{Key: k, Folder: b.name, Kind: maildir.Removed}
}

// forget reports every message of b Removed and resets b to be listed
// afresh: its mailbox is gone, renumbered or no longer watched.
func (r *runner) forget(b *mbox) []maildir.Change {
	changes := make([]maildir.Change, 0, len(b.uids))
	r.s.mu.Lock()
	for _, k := range b.uids {
		changes = append(changes, r.remove(b, k))
	}
	r.s.mu.Unlock()
	for _, c := range changes {
		r.s.envs.drop(c.Key)
	}
	slices.SortFunc(changes, func(a, b maildir.Change) int { return cmp.Compare(a.Key, b.Key) })
	b.uids = make(map[goimap.UID]agent.MessageKey)
	b.listed, b.validity, b.lastUID, b.uidNext, b.modSeq = false, 0, 0, 0, 0
	return changes
}
