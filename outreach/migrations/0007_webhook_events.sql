-- Webhook deliveries already handled, by their provider's id (SNS
-- delivers at least once).
CREATE TABLE outreach_webhook_events (
    source      TEXT NOT NULL,    -- 'sns'
    event_id    TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);
