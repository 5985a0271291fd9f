-- KARTE users of each project as the lead sync sees them: the synced user info, the lead id and how it was found,
-- and the lookup keys each user was seen with. Written by the lead sync (PostgresUserStore); read by user info,
-- segments and the webhook flows.

CREATE TABLE IF NOT EXISTS users
(
    project_id  text        NOT NULL,
    -- "C" collation: segment cursors page by byte order, the same order the in-memory store uses.
    user_id     text        COLLATE "C" NOT NULL,
    info        jsonb       NULL,     -- the user info's identify object; NULL until a lead was found
    lead_id     bigint      NULL,
    synced_by   text        NULL CHECK (synced_by IN ('email', 'cookie')),
    synced_at   timestamptz NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);

-- Marketo webhooks find users by lead id.
CREATE INDEX IF NOT EXISTS users_by_lead_id ON users (project_id, lead_id) WHERE lead_id IS NOT NULL;

-- Segments: marketo-lead-synced and marketo-cookie-synced, paged by user id.
CREATE INDEX IF NOT EXISTS users_lead_synced ON users (project_id, user_id) WHERE lead_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_cookie_synced ON users (project_id, user_id) WHERE lead_id IS NOT NULL AND synced_by = 'cookie';

CREATE TABLE IF NOT EXISTS user_keys
(
    project_id  text        NOT NULL,
    user_id     text        COLLATE "C" NOT NULL,
    key_type    text        NOT NULL CHECK (key_type IN ('email', 'cookie')),
    key_value   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id, key_type, key_value),
    FOREIGN KEY (project_id, user_id) REFERENCES users (project_id, user_id) ON DELETE CASCADE
);

-- Finding the users of a key (webhooks by email or cookie).
CREATE INDEX IF NOT EXISTS user_keys_by_key ON user_keys (project_id, key_type, key_value);
