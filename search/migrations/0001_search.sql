-- One text for both dialects: only portable types and statements.
--
-- People and events share one table and one id counter (search_state.id,
-- also used by attendances): the same code path stores, logs and indexes
-- both, and an id never names two records.
CREATE TABLE search_records (
    id             BIGINT PRIMARY KEY,
    kind           TEXT NOT NULL,            -- 'person' | 'event'
    doc            TEXT,                     -- the resource as served; NULL once deleted
    timezone_given BIGINT NOT NULL DEFAULT 0, -- 0: derived from the address, re-derived on change
    created_at     BIGINT NOT NULL,          -- unix milliseconds
    modified_at    BIGINT NOT NULL,
    deleted_at     BIGINT
);
CREATE INDEX search_records_deleted ON search_records (kind, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX search_records_scan ON search_records (kind, id) WHERE deleted_at IS NULL;

-- OSDI identifiers ("van:12345"): what import matches records on.
CREATE TABLE search_identifiers (
    kind       TEXT NOT NULL,
    identifier TEXT NOT NULL,
    record_id  BIGINT NOT NULL,
    PRIMARY KEY (kind, identifier)
);
CREATE INDEX search_identifiers_record ON search_identifiers (record_id);

CREATE TABLE search_attendances (
    id          BIGINT PRIMARY KEY,
    event_id    BIGINT NOT NULL,
    timeslot_id BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    status      TEXT NOT NULL,
    attended    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    UNIQUE (event_id, timeslot_id, person_id)
);

-- The change log every serving process follows into its index. `seq` is
-- taken from the locked 'seq' row of search_state inside the writing
-- transaction, so sequence order is commit order and a follower that has
-- read up to N has missed nothing below N.
CREATE TABLE search_changes (
    seq       BIGINT PRIMARY KEY,
    record_id BIGINT NOT NULL
);

CREATE TABLE search_state (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO search_state (name, value) VALUES ('seq', 0), ('id', 0), ('reindex', 0);
