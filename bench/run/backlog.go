package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/agent"
	"crmsync/agent/maildir"
)

// backlogSize is the size of the generated Maildir.
var backlogSize = envInt("CRMSYNC_BENCH_BACKLOG", 100_000)

// generateMaildir writes n messages dated over the last three years, with
// sizes from 2 KB to 2 MB (most small, a few large, as in real mailboxes).
// The files are sparse past their first few kilobytes, so the Maildir has
// the sizes without costing the disk.
func generateMaildir(dir string, n int) (string, error) {
	mdir, err := newMaildir(dir)
	if err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	senders := []string{"Maria Campbell <maria.campbell@contoso.example>", "Sam Stranger <sam@unknown.example>",
		"Deals Weekly <noreply@newsletter.example>", "Yvonne McKay <yvonne.mckay@fabrikam.example>",
		"Pat Prospect <pat@prospect.example>", "Bob Nguyen <bob@demo.local>"}
	now := time.Now()
	span := 3 * 365 * 24 * time.Hour
	for i := range n {
		date := now.Add(-time.Duration(rng.Int64N(int64(span))))
		// Log-uniform from 2 KB to 2 MB: median about 64 KB.
		size := int64(2048 * math.Pow(1024, rng.Float64()))
		key := fmt.Sprintf("%d.M%dP1.backlog", date.Unix(), i)
		sub := "cur"
		if i%10 == 0 {
			sub = "new"
		}
		name := key
		if sub == "cur" {
			name += ":2,S"
		}
		path := filepath.Join(mdir, sub, name)
		body := message(senders[i%len(senders)], fmt.Sprintf("Backlog message %d", i), fmt.Sprintf("backlog-%07d@bench.example", i), date, 1500)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return "", err
		}
		if _, err := f.Write(body); err != nil {
			f.Close()
			return "", err
		}
		if size > int64(len(body)) {
			if err := f.Truncate(size); err != nil {
				f.Close()
				return "", err
			}
		}
		if err := f.Close(); err != nil {
			return "", err
		}
	}
	return mdir, nil
}

// backlog measures the initial scan of a 100,000-message Maildir until
// every message is decided, against a naive scan that reads each whole
// message and against the header floor (open, read the header, close),
// both on the same files right after, so that the machine's state is
// the same for the figure and what it is judged against.
func (h *harness) backlog(ctx context.Context) error {
	dir := filepath.Join(h.tmp, "backlog")
	mdir, err := generateMaildir(filepath.Join(dir, "Maildir"), backlogSize)
	if err != nil {
		return err
	}
	h.backlogDir = mdir
	c, err := h.newCRM(ctx)
	if err != nil {
		return err
	}
	defer c.close()

	scope := agent.TrackFromCRMRecords
	if os.Getenv("CRMSYNC_BENCH_SCOPE") == "none" {
		scope = agent.TrackNone
	}
	stopProfile := startProfile(os.Getenv("CRMSYNC_BENCH_PROFILE"), "backlog-engine")
	start := time.Now()
	r, err := h.startEngine(ctx, dir, mdir, c.url, scope)
	if err != nil {
		return err
	}
	defer r.stop()
	for {
		counts, err := r.store.CountByState(ctx)
		if err != nil {
			return err
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		if total >= backlogSize {
			break
		}
		if ctx.Err() != nil || time.Since(start) > 4*time.Minute {
			return fmt.Errorf("only %d of %d decided after %s", total, backlogSize, time.Since(start).Round(time.Second))
		}
		time.Sleep(100 * time.Millisecond) // counting costs the agent's own database time
	}
	elapsed := time.Since(start)
	stopProfile()
	rate := float64(backlogSize) / elapsed.Seconds()

	naive, err := naiveScan(mdir)
	if err != nil {
		return err
	}
	floor, err := headerFloor(mdir)
	if err != nil {
		return err
	}
	h.metric("backlog_messages_per_s", rate, "msg/s")
	h.metric("backlog_over_full_read", rate/naive, "ratio")
	h.metric("backlog_full_read_messages_per_s", naive, "msg/s")
	h.metric("backlog_over_header_floor", rate/floor, "ratio")
	h.metric("backlog_header_floor_messages_per_s", floor, "msg/s")
	return nil
}

// headerFloor lists the Maildir and, in a bare loop, opens each message,
// reads up to the blank line that ends its header and closes it: the
// least any scan that decides by header must do. It returns messages per
// second, the listing included as the agent must list too.
func headerFloor(mdir string) (float64, error) {
	start := time.Now()
	n := 0
	buf := make([]byte, 4096)
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(mdir, sub))
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			f, err := os.Open(filepath.Join(mdir, sub, e.Name()))
			if err != nil {
				return 0, err
			}
			// The header ends at the first empty line; a line break may
			// straddle two reads, so the last bytes of one are kept.
			keep := 0
			for {
				k, err := f.Read(buf[keep:])
				data := buf[:keep+k]
				if bytes.Contains(data, []byte("\n\r\n")) || bytes.Contains(data, []byte("\n\n")) || err != nil {
					break
				}
				keep = copy(buf, data[max(0, len(data)-2):])
			}
			f.Close()
			n++
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// naiveScan reads every message whole and parses its header, on as many
// goroutines as the agent's deciders, and returns messages per second.
func naiveScan(mdir string) (float64, error) {
	var files []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(mdir, sub))
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			files = append(files, filepath.Join(mdir, sub, e.Name()))
		}
	}
	start := time.Now()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(files)) {
					return
				}
				b, err := os.ReadFile(files[i])
				if err == nil {
					_, err = maildir.ParseHeader(bytes.NewReader(b))
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return float64(len(files)) / time.Since(start).Seconds(), nil
}

// envInt reads a positive integer from the environment, else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
