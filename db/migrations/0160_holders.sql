-- Which silo holds a row (issue 19): the silo address with its generation (SiloAddress.ToParsableString()), written by
-- the silo whose memory the work sits in. When membership declares that silo dead, a survivor takes its rows over at
-- once (SiloDeathWatch) instead of waiting for the time-based scans, which stay as the second net. NULL for rows
-- written before this migration or outside a silo: only the scans find those.

-- A pending lookup is held by the silo whose lookup batcher queued it (the key grain's silo).
ALTER TABLE lead_lookups_pending ADD COLUMN IF NOT EXISTS holder text NULL;
CREATE INDEX IF NOT EXISTS lead_lookups_pending_by_holder ON lead_lookups_pending (holder) WHERE holder IS NOT NULL;

-- An in-flight outbox row (every kind: activities, leads, KARTE writes) is held by the silo of the dispatcher that claimed it.
ALTER TABLE outbox_messages ADD COLUMN IF NOT EXISTS holder text NULL;
CREATE INDEX IF NOT EXISTS outbox_messages_in_flight_by_holder ON outbox_messages (holder) WHERE status = 'in_flight';
