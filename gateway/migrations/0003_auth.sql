-- Sign-in for app users (auth/).

-- The keys tokens are signed with. A new key is published (verifiers
-- load it) before it signs (`active_from`), so every instance knows it
-- before any token carries its kid; the key it replaces retires at the
-- same moment and keeps verifying until the tokens it signed expire.
CREATE TABLE auth_signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,        -- base64 PKCS#8 (Ed25519)
    public_key  TEXT NOT NULL,        -- base64url raw public key: the JWK's "x"
    created_at  BIGINT NOT NULL,      -- unix seconds
    active_from BIGINT NOT NULL,
    retired_at  BIGINT                -- NULL: in force
);

-- One-time codes. The code itself is never stored (outreach/src/codes.rs
-- derives it from the id); the destination is kept as a keyed hash.
CREATE TABLE auth_challenges (
    id          TEXT PRIMARY KEY,
    destination TEXT NOT NULL,        -- keyed hash of "sms:+1..." / "email:..."
    channel     TEXT NOT NULL,
    key_id      TEXT NOT NULL,        -- the API key that asked
    created_at  BIGINT NOT NULL,      -- unix ms
    expires_at  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    used_at     BIGINT
);
CREATE INDEX auth_challenges_destination ON auth_challenges (destination, created_at);
CREATE INDEX auth_challenges_key ON auth_challenges (key_id, created_at);

-- Wrong codes per destination across its challenges, for the lockout.
CREATE TABLE auth_failures (
    destination  TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,     -- unix ms: failures count from here
    locked_until BIGINT NOT NULL DEFAULT 0
);

-- SMS codes sent per UTC day, against the daily budget.
CREATE TABLE auth_sms_budget (
    day   TEXT PRIMARY KEY,
    sent  BIGINT NOT NULL
);

-- The person sign-in created for a destination, so a second sign-in finds
-- them before the search index has caught up.
CREATE TABLE auth_people (
    destination TEXT PRIMARY KEY,
    person_id   BIGINT NOT NULL
);
CREATE INDEX auth_people_person ON auth_people (person_id);

-- Refresh tokens: one row per token, stored as a SHA-256 of its secret;
-- a family is one sign-in and everything refreshed from it.
CREATE TABLE auth_refresh_families (
    id         TEXT PRIMARY KEY,
    person_id  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    reason     TEXT
);
CREATE INDEX auth_refresh_families_person ON auth_refresh_families (person_id);

CREATE TABLE auth_refresh_tokens (
    id          TEXT PRIMARY KEY,
    family      TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX auth_refresh_tokens_family ON auth_refresh_tokens (family);
