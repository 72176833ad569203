package cache

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strings"
)

// maxValue bounds a kv value: GUIDs, cursors and counters are short, and a
// bound keeps the table from becoming a place for anything else.
const maxValue = 4096

// checkKVKey accepts short lower-case names such as "user_id" or
// "scan.cursor.sent".
func checkKVKey(k string) error {
	if k == "" || len(k) > 64 {
		return invalid("kv key is empty or longer than 64 bytes")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid("kv key has characters other than a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// Get returns the value stored under k, and whether there is one.
func (s *Store) Get(ctx context.Context, k string) ([]byte, bool, error) {
	if err := checkKVKey(k); err != nil {
		return nil, false, wrap("kv get", err)
	}
	var v []byte
	err := s.db.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = ?", k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("kv get", err)
	}
	return v, true, nil
}

// Set stores v under k, replacing any earlier value. Only IDs may go in: the
// signed-in user's GUID, scan cursors made of Maildir keys and times, schema
// facts. Never an address, a name, a subject or a token; secrets belong in
// the keychain. Keys starting with "cache." are the store's own and are
// refused, as are values over 4 KiB.
func (s *Store) Set(ctx context.Context, k string, v []byte) error {
	if err := checkKVKey(k); err != nil {
		return wrap("kv set", err)
	}
	if strings.HasPrefix(k, "cache.") {
		return wrap("kv set", invalid("kv keys starting with \"cache.\" are reserved"))
	}
	if len(v) > maxValue {
		return wrap("kv set", invalid("kv value is larger than 4 KiB"))
	}
	if v == nil {
		v = []byte{}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx,
		"INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", k, v)
	if err != nil {
		return wrap("kv set", err)
	}
	return nil
}

// loadSalt reads the per-file salt of HashMessageID, creating it on first
// use. It is made here rather than in a migration so it comes from the
// system's secure random source.
func (s *Store) loadSalt(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return wrap("make salt", err)
	}
	// INSERT OR IGNORE keeps an existing salt: changing it would orphan every
	// stored hash.
	if _, err := s.db.ExecContext(ctx, "INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", saltKey, salt); err != nil {
		return wrap("store salt", err)
	}
	var v []byte
	if err := s.db.QueryRowContext(ctx, "SELECT value FROM kv WHERE key = ?", saltKey).Scan(&v); err != nil {
		return wrap("read salt", err)
	}
	if len(v) < 16 {
		return wrap("read salt", &corruptError{"message ID salt is too short"})
	}
	s.salt = v
	return nil
}
