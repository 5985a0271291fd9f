-- Emails waiting for a project's periodic sync (and those of the run in progress, in_run). Written in bulk by the
-- events endpoint before it answers 202 (group-committed across requests), read 300 at a time by the project's
-- SyncSchedulerGrain on each tick, and deleted once their results reached the lead key grains. An email seen again
-- while it waits, or while its run is in progress, is not added twice.
CREATE TABLE IF NOT EXISTS periodic_sync_emails
(
    project_id text        NOT NULL,
    email      text        COLLATE "C" NOT NULL,
    in_run     boolean     NOT NULL DEFAULT false,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, email)
);

-- A run reads its emails in order, a chunk at a time.
CREATE INDEX IF NOT EXISTS periodic_sync_emails_run ON periodic_sync_emails (project_id, email) WHERE in_run;
