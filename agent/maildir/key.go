package maildir

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"crmsync/agent"
)

// ErrBadName reports a file name that is not a Maildir message name.
var ErrBadName = errors.New("not a maildir message name")

// syntheticDomain marks synthetic message IDs; .invalid is reserved (RFC
// 2606), so a synthetic ID can never equal a real one.
const syntheticDomain = "@crmsync.invalid"

// syntheticFields are hashed, in this order, for a message without a usable
// Message-ID. They are the fields that identify a message to a reader, and
// no mail client rewrites them after delivery.
var syntheticFields = []string{"date", "from", "to", "cc", "subject"}

// volatileFields are rewritten by mail clients after delivery and must not
// feed a synthetic ID, which has to stay the same across scans.
var volatileFields = map[string]bool{
	"status": true, "x-status": true, "x-keywords": true, "x-uid": true,
	"x-mozilla-status": true, "x-mozilla-status2": true, "x-mozilla-keys": true,
	"lines": true, "content-length": true, "x-imapbase": true, "x-imap": true,
	"x-label": true,
}

// syntheticID derives a stable message ID from the raw values of Date,
// From, To, Cc and Subject, with folding whitespace normalised, so it is the
// same on every scan and after a restart, whatever the file is called. A
// message with none of these fields hashes its other fields instead, so that
// such messages do not all share one ID.
func syntheticID(fields []headerField) string {
	h := sha256.New()
	n := 0
	for _, name := range syntheticFields {
		for _, f := range fields {
			if f.name == name {
				writeCanonical(h, f)
				n++
			}
		}
	}
	if n == 0 {
		for _, f := range fields {
			if !volatileFields[f.name] {
				writeCanonical(h, f)
			}
		}
	}
	return "synthetic-" + hex.EncodeToString(h.Sum(nil))[:32] + syntheticDomain
}

// writeCanonical writes one field with its folding whitespace collapsed, so
// that refolding by a mail tool does not change the hash.
func writeCanonical(w io.Writer, f headerField) {
	w.Write([]byte(f.name))
	w.Write([]byte{':'})
	w.Write([]byte(strings.Join(strings.Fields(string(f.value)), " ")))
	w.Write([]byte{'\n'})
}

// ParseName splits a Maildir file name into its key (the unique part, which
// stays the same when the message moves from new/ to cur/ and when its flags
// change) and its flags (the letters after ":2,"; empty in new/ and for the
// experimental ":1," info).
//
// The info separator is ':' as the Maildir specification says; ';' and '!'
// are accepted too, because mail tools on file systems that forbid ':'
// (mbsync, Dovecot and others on Windows or exFAT) write those instead. A
// separator counts only when followed by "2," or "1,", so a unique part that
// merely contains one of these characters is left alone.
//
// Names starting with '.' (editor and sync leftovers, "." and "..") and
// names whose unique part is empty are refused with ErrBadName.
func ParseName(base string) (key agent.MessageKey, flags string, err error) {
	switch {
	case base == "":
		return "", "", fmt.Errorf("maildir: parse name: %w: empty name", ErrBadName)
	case base[0] == '.':
		return "", "", fmt.Errorf("maildir: parse name %q: %w: hidden file", base, ErrBadName)
	case strings.ContainsAny(base, "/\x00"):
		return "", "", fmt.Errorf("maildir: parse name %q: %w: contains a path separator or NUL", base, ErrBadName)
	}
	unique, info := base, ""
	if i := infoIndex(base); i >= 0 {
		unique, info = base[:i], base[i+1:]
	}
	if unique == "" {
		return "", "", fmt.Errorf("maildir: parse name %q: %w: no unique part before the flags", base, ErrBadName)
	}
	if strings.HasPrefix(info, "2,") {
		flags = info[2:]
	}
	return agent.MessageKey(unique), flags, nil
}

// infoIndex returns the index of the separator that starts the info part,
// or -1. The last candidate wins: the info part never contains one.
func infoIndex(base string) int {
	for i := len(base) - 3; i >= 0; i-- {
		switch base[i] {
		case ':', ';', '!':
			if (base[i+1] == '2' || base[i+1] == '1') && base[i+2] == ',' {
				return i
			}
		}
	}
	return -1
}
