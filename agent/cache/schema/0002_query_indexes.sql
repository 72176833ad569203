-- 0002: indexes for the queries the agent runs most: the outbox worker's
-- "what is due" and the items window's "most recent first".
CREATE INDEX outbox_next_at ON outbox (next_at, id);
CREATE INDEX messages_received_at ON messages (received_at DESC, key DESC);
