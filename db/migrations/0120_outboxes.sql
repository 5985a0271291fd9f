-- The outboxes of KARTE -> Marketo work: custom activities (kind 'activities') and lead upserts (kind 'leads').
-- A row is written before the request is answered 202, claimed by its project's dispatcher grain (status
-- in_flight with a lease), sent in batches of up to 300, and finished with Marketo's per-record result.
CREATE TABLE outbox_messages
(
    id                 bigserial   NOT NULL PRIMARY KEY,
    project_id         text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('activities', 'leads')),
    -- KARTE's delivery id for activities, the Idempotency-Key or a generated id for lead upserts.
    delivery_id        text        NOT NULL,
    user_id            text        NULL,
    email              text        NULL,
    payload            jsonb       NOT NULL,
    status             text        NOT NULL CHECK (status IN ('pending', 'in_flight', 'delivered', 'skipped', 'failed')),
    attempts           integer     NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL,
    lease_id           uuid        NULL,
    lease_until        timestamptz NULL,
    -- Set just before the batch holding the row is sent: a claimed row found with it after a crash may have
    -- reached Marketo, so its resend is flagged as a possible duplicate.
    sent_at            timestamptz NULL,
    possible_duplicate boolean     NOT NULL DEFAULT false,
    lead_id            bigint      NULL,
    -- Lead upserts: when Sync Leads accepted the row (a cookie association may still be due).
    synced_at          timestamptz NULL,
    marketo_guid       text        NULL,
    result             jsonb       NULL,
    error_code         text        NULL,
    error_message      text        NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    delivered_at       timestamptz NULL,
    CONSTRAINT outbox_messages_delivery UNIQUE (project_id, kind, delivery_id)
);

CREATE INDEX outbox_messages_due ON outbox_messages (project_id, kind, next_attempt_at, id)
    WHERE status IN ('pending', 'in_flight');
CREATE INDEX outbox_messages_by_status ON outbox_messages (project_id, kind, status, id);

-- Cookies associated with leads through Associate Lead, so a cookie is associated with a lead once.
CREATE TABLE lead_cookie_associations
(
    project_id    text        NOT NULL,
    cookie        text        NOT NULL,
    lead_id       bigint      NOT NULL,
    associated_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, cookie)
);
