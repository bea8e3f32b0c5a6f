-- The SQLite and PostgreSQL texts differ only in outreach_message_events.seq.

-- The durable queue: one row per message. A worker claims due rows under
-- a lease; before it calls the provider it sets handed_over (and commits),
-- so a lease that runs out tells the two crash cases apart: never handed
-- over → safe to send again; handed over → the provider may have it, so
-- the message ends 'unknown' instead of being sent twice.
CREATE TABLE outreach_messages (
    id                  BIGINT PRIMARY KEY,
    channel             TEXT NOT NULL,           -- 'sms' | 'email'
    recipient           TEXT NOT NULL,           -- E.164 number or email address
    campaign_id         BIGINT,
    person_id           BIGINT,
    sender_key          TEXT,                    -- the API key of a transactional send
    payload             TEXT NOT NULL,           -- JSON: body, subject, html, headers
    status              TEXT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    not_before          BIGINT NOT NULL,         -- unix ms: not claimed before this
    lease_owner         TEXT,
    lease_until         BIGINT,
    handed_over         BIGINT NOT NULL DEFAULT 0,
    provider            TEXT,
    provider_message_id TEXT,
    error_code          TEXT,
    error               TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX outreach_messages_due ON outreach_messages (status, not_before, id);
CREATE INDEX outreach_messages_lease ON outreach_messages (lease_until) WHERE status = 'sending';
CREATE INDEX outreach_messages_campaign ON outreach_messages (campaign_id, status);

-- Every status a message passed through, for GET /v1/messages/{id}.
CREATE TABLE outreach_message_events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- the order events happened in
    message_id BIGINT NOT NULL,
    at         BIGINT NOT NULL,                  -- unix ms
    status     TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX outreach_message_events_message ON outreach_message_events (message_id, seq);

CREATE TABLE outreach_state (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO outreach_state (name, value) VALUES ('id', 0);
