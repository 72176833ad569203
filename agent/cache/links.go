package cache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
)

// Link ties a CRM record to the item that stands for it in the user's
// address book or calendar. It holds IDs and hashes only.
type Link struct {
	Kind  int    // the record's table, as the caller numbers it
	CRMID string // the record's GUID
	// Href is the item's name in its collection when it is made of IDs
	// only (crmsync's own "crm-<GUID>.vcf", or a calendar app's UUID
	// name); "" when it could carry a name, and then only HrefHash is
	// kept.
	Href     string
	HrefHash []byte
	ETag     string
	Version  int64
	Fields   []byte // salted hashes of the values, as the caller encodes them
}

// HashHref returns the salted hash a link keeps of an item's path.
func (s *Store) HashHref(href string) []byte {
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte("href\x00"))
	m.Write([]byte(href))
	return m.Sum(nil)[:16]
}

// HashValue returns a short salted hash of one synchronised value, so a
// later pass sees whether it changed without the value being kept.
func (s *Store) HashValue(field, value string) []byte {
	m := hmac.New(sha256.New, s.salt)
	m.Write([]byte("value\x00"))
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)[:8]
}

// Links returns every link of a kind.
func (s *Store) Links(ctx context.Context, kind int) ([]Link, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT kind, crm_id, href, href_hash, etag, version, fields FROM record_links WHERE kind = ?", kind)
	if err != nil {
		return nil, wrap("list links", err)
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		var l Link
		if err := rows.Scan(&l.Kind, &l.CRMID, &l.Href, &l.HrefHash, &l.ETag, &l.Version, &l.Fields); err != nil {
			return nil, wrap("list links", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list links", err)
	}
	return out, nil
}

// PutLink stores a link, replacing the one of the same record and any
// other link to the same item.
func (s *Store) PutLink(ctx context.Context, l Link) error {
	id, err := normGUID("a link's CRM ID", l.CRMID)
	if err != nil {
		return wrap("put link", err)
	}
	if id == "" {
		return wrap("put link", invalid("a link needs its record's GUID"))
	}
	l.CRMID = id
	if len(l.HrefHash) == 0 {
		return wrap("put link", invalid("a link needs the hash of its item's path"))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("put link", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "DELETE FROM record_links WHERE href_hash = ? AND NOT (kind = ? AND crm_id = ?)",
		l.HrefHash, l.Kind, l.CRMID); err != nil {
		return wrap("put link", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO record_links (kind, crm_id, href, href_hash, etag, version, fields)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, crm_id) DO UPDATE SET href = excluded.href, href_hash = excluded.href_hash,
			etag = excluded.etag, version = excluded.version, fields = excluded.fields`,
		l.Kind, l.CRMID, l.Href, l.HrefHash, l.ETag, l.Version, l.Fields)
	if err != nil {
		return wrap("put link", err)
	}
	return wrap("put link", tx.Commit())
}

// DeleteLink forgets the link of a record; a missing one is not an error.
func (s *Store) DeleteLink(ctx context.Context, kind int, crmID string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx, "DELETE FROM record_links WHERE kind = ? AND crm_id = ?", kind, crmID)
	return wrap("delete link", err)
}

// DeleteLinks forgets every link, for a new address book or calendar.
func (s *Store) DeleteLinks(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.db.ExecContext(ctx, "DELETE FROM record_links")
	return wrap("delete links", err)
}
