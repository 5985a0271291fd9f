-- Events recorded from Marketo webhooks (API.md, "Marketo activity -> KARTE event").
-- An event is kept against the lead keys it carried (email, lead id, cookie) as well as the users found when it
-- arrived, so users that link to one of those keys later see it too.
CREATE TABLE webhook_events
(
    id          bigserial   NOT NULL PRIMARY KEY,
    project_id  text        NOT NULL,
    dedupe_key  text        NULL,
    event_name  text        NOT NULL,
    event_values jsonb      NOT NULL,
    email       text        NULL,
    lead_id     bigint      NULL,
    cookie      text        NULL,
    user_ids    text[]      NOT NULL,
    received_at timestamptz NOT NULL,
    occurred_at timestamptz NULL
);

-- Idempotency-Key / dedupe_key: one event per key and project.
CREATE UNIQUE INDEX webhook_events_dedupe ON webhook_events (project_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX webhook_events_users ON webhook_events USING gin (user_ids);
CREATE INDEX webhook_events_email ON webhook_events (project_id, email) WHERE email IS NOT NULL;
CREATE INDEX webhook_events_lead ON webhook_events (project_id, lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX webhook_events_cookie ON webhook_events (project_id, cookie) WHERE cookie IS NOT NULL;
