-- SMS segments each message takes (what carriers bill), counted when it
-- is queued; NULL for email.
ALTER TABLE outreach_messages ADD COLUMN segments BIGINT;
