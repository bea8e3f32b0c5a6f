-- Secrets every process of a deployment shares, generated on first start:
-- `code_key` derives sign-in codes (codes.rs), so a code never rests in
-- the store, not even inside the message that carries it.
CREATE TABLE outreach_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
