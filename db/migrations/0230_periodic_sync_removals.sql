-- How many times a project's periodic run has removed looked-up emails from periodic_sync_emails (counted in the same
-- transaction as the DELETE). Nothing else removes a queued email, so a host that stored an email and later reads the
-- same count knows the email is still queued, and need not write it again to keep it there (PeriodicSyncIntake).
CREATE TABLE IF NOT EXISTS periodic_sync_removals
(
    project_id text   PRIMARY KEY,
    removals   bigint NOT NULL
);
