-- Per-provider send limits shared by every worker of every process: the
-- GCRA theoretical arrival time (unix ns) of the next message on each.
CREATE TABLE outreach_throttles (
    name TEXT PRIMARY KEY,   -- 'sms' | 'email'
    tat  BIGINT NOT NULL
);
