-- 0001: the first schema. Every column holds an ID, a hash, a small code or
-- a time; nothing here may ever hold an address, a name, a subject or a body.

-- messages maps a Maildir key to what the CRM knows about that message.
CREATE TABLE messages (
	key              TEXT PRIMARY KEY NOT NULL,              -- Maildir unique name
	folder           TEXT NOT NULL DEFAULT '',               -- Maildir++ folder name: '' or '.Sent'
	msgid_hash       BLOB CHECK (msgid_hash IS NULL OR length(msgid_hash) = 32), -- salted SHA-256 of the Message-ID
	state            INTEGER NOT NULL DEFAULT 0,             -- agent.TrackState
	reason           INTEGER NOT NULL DEFAULT 0,             -- decision code; the text is rebuilt from it
	activity_id      TEXT NOT NULL DEFAULT '',               -- CRM email activity GUID or ''
	regarding_entity TEXT NOT NULL DEFAULT ''
		CHECK (regarding_entity IN ('', 'contact', 'account', 'opportunity', 'incident')),
	regarding_id     TEXT NOT NULL DEFAULT '',               -- CRM record GUID or ''
	owned_by_me      INTEGER NOT NULL DEFAULT 0 CHECK (owned_by_me IN (0, 1)),
	received_at      INTEGER NOT NULL DEFAULT 0,             -- unix ms
	updated_at       INTEGER NOT NULL DEFAULT 0              -- unix ms
) WITHOUT ROWID;

-- Replies are matched to tracked mail by the hashes of In-Reply-To and
-- References, locally.
CREATE INDEX messages_msgid_hash ON messages (msgid_hash);

-- The periodic sync asks which messages an activity belongs to.
CREATE INDEX messages_activity_id ON messages (activity_id) WHERE activity_id <> '';

-- outbox holds the user's and the pipeline's actions until the CRM has
-- confirmed them. A row is the promise that the action will be carried out.
CREATE TABLE outbox (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	key              TEXT NOT NULL,                          -- Maildir unique name
	action           INTEGER NOT NULL CHECK (action IN (1, 2, 3)), -- Track, Untrack, SetRegarding
	regarding_entity TEXT NOT NULL DEFAULT ''
		CHECK (regarding_entity IN ('', 'contact', 'account', 'opportunity', 'incident')),
	regarding_id     TEXT NOT NULL DEFAULT '',
	idem_key         TEXT NOT NULL UNIQUE,                   -- 128-bit random hex, sent with the create
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_at          INTEGER NOT NULL,                       -- unix ms
	last_error       INTEGER NOT NULL DEFAULT 0,             -- error kind code, never error text
	created_at       INTEGER NOT NULL,                       -- unix ms
	changed          INTEGER NOT NULL DEFAULT 0,             -- target changed since the worker last took the row
	UNIQUE (key, action)                                     -- one pending action of a kind per message
);

-- kv holds small facts: the hash salt, the signed-in user's GUID, scan
-- cursors. IDs only.
CREATE TABLE kv (
	key   TEXT PRIMARY KEY NOT NULL,
	value BLOB NOT NULL
) WITHOUT ROWID;
