-- Campaigns and named templates.
CREATE TABLE outreach_campaigns (
    id          BIGINT PRIMARY KEY,
    spec        TEXT NOT NULL,    -- JSON: name, channel, template, audience, send_window, timezone, ...
    status      TEXT NOT NULL,    -- draft | launching | scheduled | running | paused | completed | cancelled
    send_at     BIGINT,           -- unix ms, when given
    created_by  TEXT,             -- the API key's id
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    launched_at BIGINT
);
INSERT INTO outreach_state (name, value) VALUES ('campaign_id', 0);

-- One message per (campaign, person), whatever happens to a launch.
CREATE UNIQUE INDEX outreach_messages_campaign_person
    ON outreach_messages (campaign_id, person_id)
    WHERE campaign_id IS NOT NULL AND person_id IS NOT NULL;
-- "Has this person had a campaign SMS before?" (the opt-out footer).
CREATE INDEX outreach_messages_person ON outreach_messages (person_id, channel)
    WHERE campaign_id IS NOT NULL;

CREATE TABLE outreach_templates (
    name       TEXT PRIMARY KEY,
    channel    TEXT NOT NULL,
    subject    TEXT,
    body       TEXT NOT NULL,
    html       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
