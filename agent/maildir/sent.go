package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SentFolder is the Maildir++ folder of the user's sent mail.
const SentFolder = ".Sent"

// maxSentScan bounds the files SentHas reads, so a huge Sent folder costs
// a bounded time; the newest are read first.
const maxSentScan = 5000

// SentHas reports whether the Sent folder holds a message with this
// Message-ID (without angle brackets). Only the headers of each file are
// read.
func (s *Source) SentHas(ctx context.Context, messageID string) (bool, error) {
	if messageID == "" {
		return false, errors.New("maildir: an empty Message-ID")
	}
	want := strings.Trim(messageID, "<>")
	var files []os.DirEntry
	var dirs []string
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(s.opts.Root, SentFolder, sub)
		es, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("maildir: read the sent mail: %w", err)
		}
		for _, e := range es {
			files = append(files, e)
			dirs = append(dirs, dir)
		}
	}
	// Newest first: Maildir names start with the delivery time.
	for i := len(files) - 1; i >= 0 && len(files)-i <= maxSentScan; i-- {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if !files[i].Type().IsRegular() {
			continue
		}
		id, err := headerMessageID(filepath.Join(dirs[i], files[i].Name()))
		if err == nil && strings.EqualFold(id, want) {
			return true, nil
		}
	}
	return false, nil
}

// headerMessageID reads the Message-ID of a message file, as the
// header parser reads every message's.
func headerMessageID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	env, err := ParseHeader(f)
	return env.MessageID, err
}

// AppendSent stores a copy of a message the user sent in the Sent
// folder, marked seen, as a mail app does: written in tmp/, then moved
// into cur/, so a reader never sees half of it.
func (s *Source) AppendSent(ctx context.Context, msg []byte) error {
	dir := filepath.Join(s.opts.Root, SentFolder)
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("maildir: create the sent folder: %w", err)
		}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("maildir: name a sent message: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", "_", ":", "_").Replace(host)
	name := fmt.Sprintf("%d.M%sP%d.%s", time.Now().Unix(), hex.EncodeToString(rnd[:]), os.Getpid(), host)
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("maildir: write a sent message: %w", err)
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("maildir: write a sent message: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("maildir: write a sent message: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir: write a sent message: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "cur", name+":2,S")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir: write a sent message: %w", err)
	}
	return nil
}
