package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// sentBox is the mailbox that holds the user's sent mail: the one the
// server marks \Sent, else "Sent".
func (s *Source) sentBox() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sent != "" {
		return s.sent
	}
	return "Sent"
}

// SentHas reports whether the Sent mailbox holds a message with this
// Message-ID (without angle brackets): one the server saved itself on
// submission, as Exchange and Gmail do, or one appended before.
func (s *Source) SentHas(ctx context.Context, messageID string) (bool, error) {
	if messageID == "" {
		return false, errors.New("imap: an empty Message-ID")
	}
	ss, err := s.session()
	if err != nil {
		return false, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	box := s.sentBox()
	if _, err := ss.selectBox(box); err != nil {
		return false, fetchErr("open the sent mail", err)
	}
	crit := &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: messageID}}}
	data, err := ss.c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return false, fetchErr("search the sent mail", err)
	}
	return len(data.AllUIDs()) > 0, nil
}

// AppendSent stores a copy of a message the user sent in the Sent
// mailbox, marked read, as a mail app does after sending.
func (s *Source) AppendSent(ctx context.Context, msg []byte) error {
	ss, err := s.session()
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	cmd := ss.c.Append(s.sentBox(), int64(len(msg)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagSeen}, Time: time.Now()})
	if _, err := bytes.NewReader(msg).WriteTo(cmd); err != nil {
		cmd.Close()
		return offlineError{fmt.Errorf("append to the sent mail: %w", err)}
	}
	if err := cmd.Close(); err != nil {
		return fetchErr("append to the sent mail", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fetchErr("append to the sent mail", err)
	}
	return nil
}
