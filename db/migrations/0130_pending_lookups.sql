-- Realtime lookups that were queued but have not been answered yet. A lead key grain writes its row before it queues
-- the lookup in its silo's batcher (which holds it in memory only); the batcher deletes the rows of a batch once the
-- results reached their keys. A row that outlives LeadSync:PendingLookupRecoveryAfter belonged to a silo that died
-- (or to a delivery that failed): every silo's PendingLookupRecovery finds such rows and wakes their key grains,
-- which queue the lookup again.
CREATE TABLE IF NOT EXISTS lead_lookups_pending
(
    project_id   text        NOT NULL,
    key_type     text        NOT NULL CHECK (key_type IN ('email', 'cookie')),
    key_value    text        NOT NULL,
    requested_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, key_type, key_value)
);

-- The recovery scan reads the oldest rows first.
CREATE INDEX IF NOT EXISTS lead_lookups_pending_by_age ON lead_lookups_pending (requested_at);
