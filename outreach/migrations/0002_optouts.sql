-- Who must not be messaged. Addresses are kept as SHA-256 hashes of their
-- canonical form (E.164, lower-cased email), so an opt-out outlives the
-- person's record: a deleted number stays opted out.
CREATE TABLE outreach_optouts (
    channel      TEXT NOT NULL,     -- 'sms' | 'email'
    address_hash TEXT NOT NULL,
    reason       TEXT NOT NULL,     -- 'stop' | 'carrier' | 'unsubscribe' | 'bounce' | 'complaint'
    created_at   BIGINT NOT NULL,   -- unix ms
    PRIMARY KEY (channel, address_hash)
);
