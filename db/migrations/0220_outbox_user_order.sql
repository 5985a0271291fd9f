-- A KARTE write is claimed only when no earlier row of its user is waiting for a retry or held by another lease
-- (PostgresOutboxStore.ClaimAsync): this index finds a user's waiting rows without reading the delivered ones.
CREATE INDEX IF NOT EXISTS outbox_messages_waiting_by_user
    ON outbox_messages (project_id, kind, user_id, id)
    WHERE status IN ('pending', 'in_flight') AND user_id IS NOT NULL;
