-- A cache at schema version 1, as the first release wrote it, with a few
-- rows. Never edit: it stands for files that exist on users' machines.
CREATE TABLE messages (
	key              TEXT PRIMARY KEY NOT NULL,
	folder           TEXT NOT NULL DEFAULT '',
	msgid_hash       BLOB CHECK (msgid_hash IS NULL OR length(msgid_hash) = 32),
	state            INTEGER NOT NULL DEFAULT 0,
	reason           INTEGER NOT NULL DEFAULT 0,
	activity_id      TEXT NOT NULL DEFAULT '',
	regarding_entity TEXT NOT NULL DEFAULT ''
		CHECK (regarding_entity IN ('', 'contact', 'account', 'opportunity', 'incident')),
	regarding_id     TEXT NOT NULL DEFAULT '',
	owned_by_me      INTEGER NOT NULL DEFAULT 0 CHECK (owned_by_me IN (0, 1)),
	received_at      INTEGER NOT NULL DEFAULT 0,
	updated_at       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX messages_msgid_hash ON messages (msgid_hash);
CREATE INDEX messages_activity_id ON messages (activity_id) WHERE activity_id <> '';
CREATE TABLE outbox (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	key              TEXT NOT NULL,
	action           INTEGER NOT NULL CHECK (action IN (1, 2, 3)),
	regarding_entity TEXT NOT NULL DEFAULT ''
		CHECK (regarding_entity IN ('', 'contact', 'account', 'opportunity', 'incident')),
	regarding_id     TEXT NOT NULL DEFAULT '',
	idem_key         TEXT NOT NULL UNIQUE,
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_at          INTEGER NOT NULL,
	last_error       INTEGER NOT NULL DEFAULT 0,
	created_at       INTEGER NOT NULL,
	changed          INTEGER NOT NULL DEFAULT 0,
	UNIQUE (key, action)
);
CREATE TABLE kv (
	key   TEXT PRIMARY KEY NOT NULL,
	value BLOB NOT NULL
) WITHOUT ROWID;

INSERT INTO kv (key, value) VALUES ('cache.msgid_salt', x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
INSERT INTO kv (key, value) VALUES ('user_id', CAST('6f1c2a4e-8b1d-4c1e-9a55-0d7e3c2b1a00' AS BLOB));
INSERT INTO messages VALUES ('1700000000.M1P100Q1.host', '', zeroblob(32), 3, 0,
	'0b7e5a1c-2d3f-4a5b-8c9d-0e1f2a3b4c5d', 'contact', '1a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d', 1, 1700000000000, 1700000001000);
INSERT INTO messages VALUES ('1700000100.M2P100Q2.host', '.Sent', NULL, 2, 0, '', '', '', 0, 1700000100000, 1700000101000);
INSERT INTO outbox (key, action, regarding_entity, regarding_id, idem_key, attempts, next_at, last_error, created_at)
	VALUES ('1700000100.M2P100Q2.host', 1, '', '', '00112233445566778899aabbccddeeff', 2, 1700000200000, 7, 1700000100500);
PRAGMA user_version = 1;
