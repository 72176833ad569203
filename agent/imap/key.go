package imap

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	goimap "github.com/emersion/go-imap/v2"

	"crmsync/agent"
)

// Key returns the key of message uid in mailbox as it is while the
// mailbox's UIDVALIDITY is validity: the lowercase hex of the first 16
// bytes of SHA-256(salt || mailbox || 0 || validity || 0 || uid), with
// the numbers in decimal. A message keeps its key as long as the server
// keeps its UID; moved, or renumbered by a new UIDVALIDITY, it is another
// message to the agent, which finds it again by its Message-ID.
func Key(salt []byte, mailbox string, validity uint32, uid goimap.UID) agent.MessageKey {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(mailbox))
	var b [32]byte
	n := append(b[:0], 0)
	n = strconv.AppendUint(n, uint64(validity), 10)
	n = append(n, 0)
	n = strconv.AppendUint(n, uint64(uid), 10)
	h.Write(n)
	var sum [sha256.Size]byte
	return agent.MessageKey(hex.EncodeToString(h.Sum(sum[:0])[:16]))
}

// msg is what the Source knows of a message: where it is and what the
// listing said of it. It is kept in memory only.
type msg struct {
	mailbox  string // shared with the mailbox's state, not a copy per message
	validity uint32
	uid      goimap.UID
	size     uint32 // RFC822.SIZE, saturated at 4 GiB
	date     int64  // INTERNALDATE, Unix seconds
}
