package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"crmsync/agent"
)

// The checks below are the store's half of "nothing but IDs at rest": a value
// that is not shaped like an ID is refused before it reaches SQLite. Their
// errors never quote the refused value, because errors end up in logs and
// the value may be exactly what must not be written anywhere.

// MaxCode is the largest reason or error code the store accepts. Codes are
// small enums; their user-facing text is rebuilt from them, never stored.
const MaxCode = 1<<16 - 1

// maxName bounds keys and folder names, as file names are bounded.
const maxName = 255

// HashSize is the length of a Message-ID hash.
const HashSize = sha256.Size

// entities are the CRM tables a message may be regarding.
var entities = map[string]bool{"contact": true, "account": true, "opportunity": true, "incident": true}

// invalid makes an ErrInvalid saying what was wrong, without the value.
func invalid(what string) error { return fmt.Errorf("%w: %s", ErrInvalid, what) }

// checkKey accepts a Maildir unique name. Such names are built from a time,
// a unique part and a host name; none has white space or an '@', which is
// what a subject or an address would bring.
func checkKey(k agent.MessageKey) error {
	switch {
	case k == "":
		return invalid("message key is empty")
	case len(k) > maxName:
		return invalid("message key is longer than 255 bytes")
	case k[0] == '.':
		return invalid("message key starts with a dot")
	}
	for _, r := range string(k) {
		switch {
		case r == '/' || r == 0:
			return invalid("message key contains a path separator or NUL")
		case r == '@':
			return invalid("message key contains '@', like an address")
		case r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r == 0xfeff || isSpace(r):
			return invalid("message key contains white space or a control character")
		}
	}
	return nil
}

// checkFolder accepts a folder as the cache keeps it: "" for the inbox,
// otherwise the folder's salted hash (Store.HashFolder), 32 lowercase hex
// digits. A folder's name ("Contoso deal") is company data and never
// reaches the file.
func checkFolder(f string) error {
	if f == "" || isFolderHash(f) {
		return nil
	}
	return invalid("folder is not a folder hash; the cache keeps no folder names")
}

// isFolderHash reports whether f has the shape of HashFolder's result.
func isFolderHash(f string) bool {
	if len(f) != 32 {
		return false
	}
	for _, r := range f {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// KeySalt returns a secret derived from the file's salt, for a mail source
// that makes message keys from names (an IMAP mailbox, its UIDVALIDITY and
// a UID), so that a key reveals nothing of them.
func (s *Store) KeySalt() []byte {
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte("message key\x00"))
	return m.Sum(nil)
}

// HashFolder returns the salted hash the cache keeps for a mail folder
// ("INBOX/Contoso", ".Sent"): "" for the inbox ("" or "INBOX", whatever
// its case), else 32 hex digits. Folder rules are matched by it too.
func (s *Store) HashFolder(name string) string {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return ""
	}
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte("folder\x00"))
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// isSpace covers the Unicode spaces a subject may carry that are above
// the ASCII range tested by the caller.
func isSpace(r rune) bool {
	return strings.ContainsRune("\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000", r)
}

// normGUID returns a GUID in the lower-case 8-4-4-4-12 form the Web API
// uses, so the same record always compares equal. "" stays "".
func normGUID(what, g string) (string, error) {
	if g == "" {
		return "", nil
	}
	if len(g) != 36 {
		return "", invalid(what + " is not a GUID")
	}
	b := []byte(g)
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", invalid(what + " is not a GUID")
			}
			continue
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", invalid(what + " is not a GUID")
		}
	}
	return string(b), nil
}

// normRef checks a regarding reference and returns its entity and GUID.
// Name is for display only and is dropped here, never stored.
func normRef(r *agent.RecordRef) (entity, id string, err error) {
	if r == nil {
		return "", "", nil
	}
	if !entities[r.Entity] {
		return "", "", invalid("regarding entity is not contact, account, opportunity or incident")
	}
	id, err = normGUID("regarding ID", r.ID)
	if err != nil {
		return "", "", err
	}
	if id == "" {
		return "", "", invalid("regarding ID is empty")
	}
	return r.Entity, id, nil
}

// refFrom rebuilds a reference from stored columns; nil when unset.
func refFrom(entity, id string) *agent.RecordRef {
	if entity == "" || id == "" {
		return nil
	}
	return &agent.RecordRef{Entity: entity, ID: id}
}

// checkCode accepts reason and error codes.
func checkCode(what string, c int) error {
	if c < 0 || c > MaxCode {
		return invalid(what + " is not a small code")
	}
	return nil
}

// checkHash accepts HashSize bytes that do not read as text. A real hash is
// all printable ASCII with a chance of about 1 in 10^14; 32 bytes of a
// Message-ID passed by mistake always are.
func checkHash(h []byte) error {
	if len(h) != HashSize {
		return invalid("message ID hash is not 32 bytes")
	}
	for _, c := range h {
		if c < ' ' || c > '~' {
			return nil
		}
	}
	return invalid("message ID hash is text, not a hash")
}

// checkIdemKey accepts 128 bits as 32 lower-case hex digits.
func checkIdemKey(k string) error {
	if len(k) != 32 {
		return invalid("idempotency key is not 32 hex digits")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid("idempotency key is not 32 hex digits")
		}
	}
	return nil
}

// HashMessageID returns the salted SHA-256 (HMAC) of a Message-ID, the only
// form in which a Message-ID is stored. The salt is random per cache file,
// so a hash cannot be looked up against hashes from elsewhere. Surrounding
// white space and one pair of angle brackets are removed first, so the
// Message-ID header and a References entry hash the same. An empty ID hashes
// to nil.
func (s *Store) HashMessageID(id string) []byte {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = strings.TrimSpace(id[1 : len(id)-1])
	}
	if id == "" {
		return nil
	}
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte(id))
	return m.Sum(nil)
}
