-- 0003: the Message-ID hash index holds only the messages that have a hash.
-- Most rows of a first scan are decided from the Maildir name alone and
-- have none; indexing their NULLs cost every such insert a second B-tree
-- write and served no query: every lookup is msgid_hash = ? or IN (...),
-- which implies IS NOT NULL, so SQLite uses the partial index for them.
DROP INDEX messages_msgid_hash;
CREATE INDEX messages_msgid_hash ON messages (msgid_hash) WHERE msgid_hash IS NOT NULL;
