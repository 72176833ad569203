-- Store of the local CRM. Records of every table share one table; their
-- columns live in a JSON document and are filtered in Go. Only what must
-- be found fast (message IDs, users, tokens) has its own column, table or
-- index.

CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS records (
	entityset  TEXT NOT NULL,
	id         TEXT NOT NULL,      -- lower-case GUID
	seq        INTEGER NOT NULL,   -- creation order; breaks ties in sorting and address resolution
	version    INTEGER NOT NULL,   -- row version, the ETag
	createdon  TEXT NOT NULL,
	modifiedon TEXT NOT NULL,
	messageid  TEXT,               -- emails only: the RFC Message-ID, for duplicate detection
	data       TEXT NOT NULL,      -- JSON: {"a": columns, "l": lookups}
	PRIMARY KEY (entityset, id)
);
CREATE INDEX IF NOT EXISTS records_seq ON records (entityset, seq);
CREATE INDEX IF NOT EXISTS records_messageid ON records (messageid) WHERE messageid IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_messageid_nocase ON records (messageid COLLATE NOCASE) WHERE messageid IS NOT NULL;
-- Address resolution (every CheckIncomingEmail and every tracked party)
-- finds a sender by these, not by decoding every contact. The expressions
-- must stay exactly as addressQuery writes them, or SQLite will not use
-- them; crm_lower is registered by the program (see driverName).
CREATE INDEX IF NOT EXISTS records_emailaddress1 ON records (crm_lower(json_extract(data, '$.a.emailaddress1')));
CREATE INDEX IF NOT EXISTS records_emailaddress2 ON records (crm_lower(json_extract(data, '$.a.emailaddress2')));
CREATE INDEX IF NOT EXISTS records_emailaddress3 ON records (crm_lower(json_extract(data, '$.a.emailaddress3')));
CREATE INDEX IF NOT EXISTS records_internalemailaddress ON records (crm_lower(json_extract(data, '$.a.internalemailaddress')));

CREATE TABLE IF NOT EXISTS parties (
	id                  TEXT PRIMARY KEY,
	activityid          TEXT NOT NULL,
	seq                 INTEGER NOT NULL,
	mask                INTEGER NOT NULL,
	party_table         TEXT NOT NULL DEFAULT '',
	party_id            TEXT NOT NULL DEFAULT '',
	addressused         TEXT NOT NULL DEFAULT '',
	unresolvedpartyname TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS parties_activity ON parties (activityid, seq);

CREATE TABLE IF NOT EXISTS users (
	id         TEXT PRIMARY KEY,  -- the systemuserid
	email      TEXT NOT NULL UNIQUE COLLATE NOCASE,
	salt       BLOB NOT NULL,
	hash       BLOB NOT NULL,     -- PBKDF2-HMAC-SHA256 of the password
	iterations INTEGER NOT NULL,
	role       TEXT NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS tokens (
	hash      TEXT PRIMARY KEY,   -- hex SHA-256 of the token; the token itself is never stored
	kind      TEXT NOT NULL,      -- 'access' or 'refresh'
	user_id   TEXT NOT NULL,
	client_id TEXT NOT NULL,
	scope     TEXT NOT NULL,
	expires   INTEGER NOT NULL    -- Unix nanoseconds
);
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);
