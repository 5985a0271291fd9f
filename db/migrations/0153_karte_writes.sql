-- KARTE write-back (Flows/KarteWriteBack): writes to KARTE are a third kind of the shared outbox ('karte'), and the
-- last user info each user was written with (a hash, ignoring marketo._karte_last_sync_date) so that an unchanged
-- sync result is not written again (karte.writeOnlyOnChange).
ALTER TABLE outbox_messages DROP CONSTRAINT IF EXISTS outbox_messages_kind_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_kind_check CHECK (kind IN ('activities', 'leads', 'karte'));

CREATE TABLE karte_user_values
(
    project_id  text        NOT NULL,
    user_id     text        COLLATE "C" NOT NULL,
    -- SHA-256 of the identify values last queued for KARTE; cleared when KARTE refuses the write for good.
    values_hash text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
