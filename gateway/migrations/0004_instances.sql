-- Live gateway instances: each one writes its heartbeat here, and the
-- Redis limiter's fallback divides a plan's limits by how many were seen
-- recently (limiter/instances.rs).
CREATE TABLE gateway_instances (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL          -- unix seconds
);
