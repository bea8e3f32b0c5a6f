-- Replies that were not keywords, for staff (GET /v1/inbound), and every
-- inbound message's provider id, so a webhook Twilio delivers twice is
-- handled (and answered) once.
CREATE TABLE outreach_inbound (
    id                  BIGINT PRIMARY KEY,
    channel             TEXT NOT NULL,
    sender              TEXT NOT NULL,     -- E.164
    body                TEXT NOT NULL,
    keyword             TEXT,              -- opt_out | opt_in | help, or NULL for a reply
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    received_at         BIGINT NOT NULL,
    UNIQUE (provider, provider_message_id)
);
INSERT INTO outreach_state (name, value) VALUES ('inbound_id', 0);

-- Status callbacks find their message by the provider's id.
CREATE INDEX outreach_messages_provider_id ON outreach_messages (provider_message_id);
