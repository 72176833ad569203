-- 0004: links between CRM records (contacts, appointments, tasks) and the
-- items that stand for them in the user's address book and calendar. Only
-- IDs and hashes: the records themselves live in the CRM and in the
-- user's own address book and calendar.
CREATE TABLE record_links (
	kind      INTEGER NOT NULL,  -- 1 contact, 2 appointment, 3 task
	crm_id    TEXT NOT NULL,     -- the record's GUID
	href      TEXT NOT NULL,     -- the item's name in its collection when it is made of IDs only, else ''
	href_hash BLOB NOT NULL,     -- salted hash of the item's path, to match the server's answers
	etag      TEXT NOT NULL,     -- the item's ETag when last in step
	version   INTEGER NOT NULL,  -- the record's versionnumber when last in step
	fields    BLOB NOT NULL,     -- salted hashes of the synchronised values when last in step
	PRIMARY KEY (kind, crm_id)
);
CREATE UNIQUE INDEX record_links_href ON record_links (href_hash);
