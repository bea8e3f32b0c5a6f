-- A per-record version, raised by every write and by the deletion: an
-- external index (Elasticsearch) stores it with the document, so a replayed
-- or late write of an older state is refused rather than applied. A counter
-- in the row, not a timestamp: two writes in one millisecond, or a clock
-- that moved back, still get distinct, ordered versions.
ALTER TABLE search_records ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
