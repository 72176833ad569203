package engine

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"crmsync/agent"
	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/maildir"
	"crmsync/agent/sched"
	"crmsync/agent/track"
)

const activityA = "0a3f1a8e-4b5c-4d6e-8f70-1a2b3c4d5e6f"

// TestClassify sorts one result of each kind.
func TestClassify(t *testing.T) {
	hash := make([]byte, 32)
	hash[0] = 1
	relearned := make([]byte, 32)
	relearned[0] = 2
	known := knownSet{string(relearned): {ID: activityA}}
	batch := []result{
		{job: job{key: "offline"}, err: errOffline},
		{job: job{key: "known"}, err: errKnown},
		{job: job{key: "settling"}, err: maildir.ErrSettling},
		{job: job{key: "unreadable"}, err: errors.Join(errUnreadable, errors.New("bad"))},
		{job: job{key: "outage"}, err: &crm.Error{Kind: crm.KindUnavailable, Message: "down"}},
		{job: job{key: "skip"}, hash: hash, decision: track.Decision{Action: track.Skip, Reason: track.ReasonNoCRMMatch}},
		{job: job{key: "track"}, hash: hash, decision: track.Decision{Action: track.Track, Reason: track.ReasonSenderInCRM}},
		{job: job{key: "link-unknown"}, hash: hash, decision: track.Decision{Action: track.Link, Reason: track.ReasonDuplicateInCRM}},
		{job: job{key: "link"}, hash: hash, decision: track.Decision{Action: track.Link, Reason: track.ReasonDuplicateInCRM, ActivityID: activityA},
			known: &crm.ActivityInfo{ID: activityA}},
		{job: job{key: "relearned"}, hash: relearned, decision: track.Decision{Action: track.Track, Reason: track.ReasonScopeAll}},
	}
	s := classify(batch, &known, slog.New(slog.DiscardHandler))
	keys := func(rs []result) (out []agent.MessageKey) {
		for _, r := range rs {
			out = append(out, r.key)
		}
		return out
	}
	check := func(what string, got, want []agent.MessageKey) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s = %v, want %v", what, got, want)
				return
			}
		}
	}
	check("waiting", s.waiting, []agent.MessageKey{"outage"})
	check("offline", s.offline, []agent.MessageKey{"offline"})
	check("settling", s.settling, []agent.MessageKey{"settling"})
	check("rows", keys(s.rowsOf), []agent.MessageKey{"unreadable", "skip", "link", "relearned"})
	check("tracks", keys(s.tracks), []agent.MessageKey{"track", "link-unknown"})
	if s.lookupErr == nil {
		t.Error("the outage was not kept for the supervisor")
	}
	for i, m := range s.rows {
		want := agent.Untracked
		if m.Key == "link" || m.Key == "relearned" {
			want = agent.Tracked
		}
		if m.State != want || m.Key != s.rowsOf[i].key {
			t.Errorf("row %s: state %v, want %v", m.Key, m.State, want)
		}
	}
	if m := s.rows[0]; m.Reason != int(track.ReasonUnreadable) {
		t.Errorf("unreadable row reason %d", m.Reason)
	}
}

// TestWrite records a sorted batch: tracks with their action, rows in one
// go, and a row the user wrote meanwhile kept.
func TestWrite(t *testing.T) {
	store, err := cache.Open(filepath.Join(t.TempDir(), "cache.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if _, err := store.Enqueue(ctx, cache.Action{Key: "user", Kind: cache.ActionTrack}); err != nil {
		t.Fatal(err)
	}
	skip := result{job: job{key: "skip"}, decision: track.Decision{Action: track.Skip, Reason: track.ReasonNoCRMMatch}}
	user := result{job: job{key: "user"}, decision: track.Decision{Action: track.Skip, Reason: track.ReasonNoCRMMatch}}
	tr := result{job: job{key: "track"}, decision: track.Decision{Action: track.Track, Reason: track.ReasonScopeAll}}
	s := sorted{rows: []cache.Message{skip.message(), user.message()}, rowsOf: []result{skip, user}, tracks: []result{tr}}
	w := write(ctx, store, s)
	if w.err != nil || w.queued != 1 || len(w.retry) != 0 || len(w.shown) != 2 || w.shown[0].key != "track" || w.shown[1].key != "skip" {
		t.Fatalf("write = %+v", w)
	}
	if m, _, _ := store.Message(ctx, "user"); m.State != agent.Pending {
		t.Errorf("the user's queued track was overwritten: %+v", m)
	}
	if n, _ := store.Pending(ctx); n != 2 {
		t.Errorf("pending = %d, want the user's and the pipeline's track", n)
	}
	store.Close()
	if w := write(ctx, store, s); w.err == nil || len(w.retry) != 3 {
		t.Errorf("write to a closed store = %+v; want every key retried", w)
	}
}

// TestReclaimer: memory goes back after a big backlog at once, and after
// a burst of uploads once mail has been quiet.
func TestReclaimer(t *testing.T) {
	var r reclaimer
	now := time.Unix(1_700_000_000, 0)
	for range bigBurst - 1 {
		r.arrived(now)
	}
	if r.drained() {
		t.Error("released after a small backlog")
	}
	for range bigBurst {
		r.arrived(now)
	}
	if !r.drained() || r.drained() {
		t.Error("a big backlog is released once")
	}
	for range bigSend {
		r.uploaded()
	}
	if !r.outboxEmpty() || r.outboxEmpty() {
		t.Error("a burst of uploads arms the release once")
	}
	if r.quiet(now.Add(releaseAfter/2), true) || r.quiet(now.Add(releaseAfter), false) || !r.quiet(now.Add(releaseAfter), true) {
		t.Error("released while mail was not quiet, or not once it was")
	}
}

// TestAlarms runs the loop's timed jobs on the real clock inside a
// synctest bubble, where time moves only when everything waits: each
// fires at its time, alone on the one timer.
func TestAlarms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := alarms{clock: sched.Real{}}
		start := time.Now()
		a.set(alarmSync, 2*time.Minute)
		a.set(alarmScan, 250*time.Millisecond)
		a.setIfIdle(alarmScan, time.Hour) // set already: unchanged
		a.set(alarmSettle, 2*time.Second)
		var got []string
		for a.c != nil {
			at := <-a.c
			due := a.fired()
			for k, d := range due {
				if d {
					got = append(got, alarm(k).name()+"@"+at.Sub(start).String())
				}
			}
		}
		want := []string{"scan@250ms", "settle@2s", "sync@2m0s"}
		if len(got) != len(want) {
			t.Fatalf("fired %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("fired %v, want %v", got, want)
			}
		}
		a.set(alarmRelease, time.Second)
		a.clear(alarmRelease)
		if a.isSet(alarmRelease) {
			t.Error("cleared alarm still set")
		}
		a.stop()
	})
}
