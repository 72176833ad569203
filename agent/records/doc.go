// Package records keeps the user's CRM contacts, appointments and tasks in
// step with their own address book and calendar on a CardDAV/CalDAV server.
//
// Which records take part is decided by the CRM: the user's and the
// organisation's synchronisation filters (saved queries of type 256), run
// on the CRM so that only IDs and row versions come back. Which fields
// flow, and which way, is the administrator's field mapping
// (syncattributemapping); a secured column the user may not read is never
// written out and never overwritten from the other side.
//
// A pass reads what changed on both sides (the filters' IDs and versions
// on the CRM; the collection's sync token, or its ETags, on the server),
// merges field by field against the values both sides last agreed on, and
// writes the differences. On the device it keeps only IDs, ETags, sync
// tokens and salted hashes of those agreed values (cache.Link): the
// records themselves live in the CRM and in the user's address book and
// calendar.
//
// Every write is safe to repeat. Items crmsync creates are named after
// the record (crm-<GUID>.vcf) and written with If-None-Match, records
// created from an item get a GUID derived from its UID, and updates are
// conditional on the ETag or row version last seen, so a pass cut short
// at any point, even by kill -9, neither loses nor doubles anything when
// the next pass runs.
package records
