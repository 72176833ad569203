-- 0005: emails written in the CRM that crmsync is sending through the
-- user's own mail account. A row lives from the moment crmsync marks an
-- email Sending until the CRM says Sent (or Failed), so that a restart
-- knows how far each one got and never sends one twice. IDs only.
CREATE TABLE outgoing (
	activity_id TEXT PRIMARY KEY,  -- the email's GUID
	step        INTEGER NOT NULL,  -- 1 claimed, 2 handing to the mail server, 3 accepted by it, 4 marked Sent in the CRM
	version     INTEGER NOT NULL,  -- the email's row version after crmsync's last change to it
	updated_at  INTEGER NOT NULL   -- unix milliseconds
);
