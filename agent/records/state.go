package records

import (
	"bytes"
	"context"
	"path"
	"regexp"
	"sort"

	"crmsync/agent/cache"
	"crmsync/agent/crm"
	"crmsync/agent/item"
)

// Store is the part of the agent's cache a pass keeps its links in.
type Store interface {
	Links(ctx context.Context, kind int) ([]cache.Link, error)
	PutLink(ctx context.Context, l cache.Link) error
	DeleteLink(ctx context.Context, kind int, crmID string) error
	DeleteLinks(ctx context.Context) error
	HashHref(href string) []byte
	HashValue(field, value string) []byte
	Get(ctx context.Context, k string) ([]byte, bool, error)
	Set(ctx context.Context, k string, v []byte) error
}

// hashes are the salted hashes of an item's agreed values, by Exchange
// name.
type hashes map[string][]byte

// hashValues hashes the values of the given fields.
func hashValues(st Store, fields []field, v item.Values) hashes {
	h := hashes{}
	for _, f := range fields {
		h[f.ex] = st.HashValue(f.ex, v[f.ex])
	}
	return h
}

// encode writes hashes as the cache keeps them: for each field in name
// order, its name's length, the name and the 8-byte hash.
func (h hashes) encode() []byte {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		if len(n) > 255 || len(h[n]) != 8 {
			continue
		}
		b.WriteByte(byte(len(n)))
		b.WriteString(n)
		b.Write(h[n])
	}
	return b.Bytes()
}

// decodeHashes reads what encode wrote; a damaged tail is dropped, which
// reads as "changed" for those fields and so costs a comparison, never
// data.
func decodeHashes(b []byte) hashes {
	h := hashes{}
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+8 {
			break
		}
		h[string(b[1:1+n])] = append([]byte(nil), b[1+n:1+n+8]...)
		b = b[1+n+8:]
	}
	return h
}

// idName matches item names made of IDs only: crmsync's own
// "crm-<GUID>" and the UUIDs calendar and address book apps choose.
var idName = regexp.MustCompile(`^(crm-)?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}(\.vcf|\.ics)?$`)

// keptHref is what a link keeps of an item's path: its last segment when
// that is an ID, else "" (only the hash is kept, and the path is found
// again by listing the collection). The collection's own path, which
// holds the user name, is never kept.
func keptHref(href string) string {
	if name := path.Base(href); idName.MatchString(name) {
		return name
	}
	return ""
}

// linkHref is the item's path a link points at in coll; "" when only its
// hash was kept.
func linkHref(coll, kept string) string {
	if kept == "" {
		return ""
	}
	return coll + kept
}

// itemName is the name crmsync gives the item of a record.
func itemName(sp *spec, crmID string) string { return "crm-" + crmID + sp.ext }

// itemUID is the UID crmsync gives the item of a record: derived from its
// ID, so a reinstall finds the same item.
func itemUID(crmID string) string { return "crm-" + crmID }

// recordID derives the GUID of a record created from an item, from the
// user and the item's UID: a retry after a crash asks for the same GUID,
// which the CRM refuses as a duplicate instead of making a second record.
// A meeting tracked from an invitation by mail gets the same GUID.
func recordID(userID, uid string) string { return crm.DerivedID(userID, uid) }
