-- Idempotency-Key: the first response to each (API key, Idempotency-Key),
-- kept 24 hours. One text for both dialects.
CREATE TABLE gateway_idempotency (
    key_id       TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,    -- SHA-256 of method, path and query, and body
    status       BIGINT,           -- NULL while the first request is in flight
    content_type TEXT,
    body         TEXT,
    created_at   BIGINT NOT NULL,  -- unix seconds
    PRIMARY KEY (key_id, idem_key)
);
CREATE INDEX gateway_idempotency_age ON gateway_idempotency (created_at);
