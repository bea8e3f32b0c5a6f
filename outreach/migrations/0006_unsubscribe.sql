-- One-click unsubscribe links: each bulk email carries its own token,
-- which never expires. Only the token's hash is kept, so the table alone
-- cannot unsubscribe anyone.
CREATE TABLE outreach_unsubscribe_tokens (
    token_hash TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
