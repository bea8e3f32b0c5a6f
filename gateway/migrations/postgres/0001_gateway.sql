-- Keys, plans, settings and the audit log. Every write to plans, keys or
-- settings takes the next value of gateway_revision in the same
-- transaction; instances follow changes by asking for rows with a higher
-- rev (keys/sync.rs). Plans and keys are never hard-deleted so that the
-- deletion itself travels to the other instances.
CREATE TABLE gateway_revision (id BIGINT PRIMARY KEY, rev BIGINT NOT NULL);
INSERT INTO gateway_revision (id, rev) VALUES (1, 0);

CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    rev BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX plans_live_name ON plans (name) WHERE deleted = 0;
CREATE INDEX plans_rev ON plans (rev);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    plan_id TEXT NOT NULL REFERENCES plans (id),
    key_type TEXT NOT NULL,
    status TEXT NOT NULL,
    secret_hash BYTEA NOT NULL,
    scopes TEXT,
    overrides TEXT NOT NULL,
    rev BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX api_keys_rev ON api_keys (rev);
CREATE INDEX api_keys_plan ON api_keys (plan_id);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    rev BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);

-- Quota counts per key and calendar period; the limiter adds its unflushed
-- deltas here every second and reads them back at start.
CREATE TABLE quota_counts (
    key_id TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start TEXT NOT NULL,
    count BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, period, period_start)
);

-- Usage per minute, key and route, one row per instance: each instance is
-- the only writer of its rows and replaces them whole (histograms cannot be
-- added up inside SQL); readers merge across instances.
CREATE TABLE usage_minutes (
    minute BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    route TEXT NOT NULL,
    instance TEXT NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (minute, key_id, route, instance)
);
CREATE INDEX usage_minutes_key ON usage_minutes (key_id, minute);
