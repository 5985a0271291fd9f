-- Lead identity rules (API.md, second part): a lead id belongs to a Marketo instance; deferred keys and resyncs wait
-- in a durable backlog; the periodic sync skips emails a realtime lookup answered within its interval.

-- The instance (MarketoSettings.InstanceId) the user's lead id came from. NULL for rows written before this
-- migration: they belong to the instance the project used then, and are cleared when the project moves.
ALTER TABLE users ADD COLUMN IF NOT EXISTS lead_instance text NULL;

-- Cookie associations made by lead upserts, per Marketo instance and keyed on the cookie's token: part (Marketo
-- associates on the token, which survives changes of the id: part). Replaces lead_cookie_associations, which had
-- neither; an association missing here costs one Associate Lead call again, nothing else.
CREATE TABLE IF NOT EXISTS lead_cookie_tokens
(
    project_id    text        NOT NULL,
    instance      text        NOT NULL,
    token         text        NOT NULL,
    lead_id       bigint      NOT NULL,
    associated_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, instance, token)
);

-- Keys to look up again by themselves: deferred for lack of a permit (quota, rate window, Marketo's 606/615/607),
-- or queued by a resync (POST .../sync/resync, or a move to another instance). Drained 300 per call by the project's
-- lead backlog grain once due_at has passed.
CREATE TABLE IF NOT EXISTS lead_key_backlog
(
    project_id text        NOT NULL,
    key_type   text        NOT NULL CHECK (key_type IN ('email', 'cookie')),
    key_value  text        COLLATE "C" NOT NULL,
    due_at     timestamptz NOT NULL,
    PRIMARY KEY (project_id, key_type, key_value)
);

CREATE INDEX IF NOT EXISTS lead_key_backlog_due ON lead_key_backlog (project_id, key_type, due_at);

-- When a realtime lookup last answered for a queued email: the periodic run of the same interval skips it.
ALTER TABLE periodic_sync_emails ADD COLUMN IF NOT EXISTS looked_up_at timestamptz NULL;
