-- Event reminders already decided, one per attendance and timeslot: the
-- row is written in the same transaction as the reminder's message, so a
-- reminder is queued once, whichever process's task gets there first.
CREATE TABLE outreach_reminders (
    attendance_id BIGINT NOT NULL,
    timeslot_id   BIGINT NOT NULL,
    outcome       TEXT NOT NULL,      -- 'queued' | 'past' | 'no_address' | 'window'
    message_id    BIGINT,
    decided_at    BIGINT NOT NULL,
    PRIMARY KEY (attendance_id, timeslot_id)
);
