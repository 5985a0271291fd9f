-- Orleans ADO.NET reminders for Orleans 10.4.2 (the classic table: 10.4.2 has no cron/next-due columns).
-- Written for this project from orleans-adonet-contract.md §5.

CREATE TABLE IF NOT EXISTS orleansreminderstable
(
    serviceid    varchar(150)  NOT NULL,
    grainid      varchar(1024) NOT NULL, -- the full grain id "type/key", stored exactly as sent (GrainId.Parse)
    remindername varchar(150)  NOT NULL, -- case-sensitive
    starttime    timestamptz   NOT NULL,
    period       bigint        NOT NULL, -- milliseconds; over ~24.8 days it arrives as int8
    grainhash    integer       NOT NULL, -- the uniform hash as signed int32; ranges compare signed
    version      integer       NOT NULL, -- the ETag; changes on every upsert
    PRIMARY KEY (serviceid, grainid, remindername)
);

-- The reminder service reads its ring range by hash at start, on ring changes and every few minutes.
CREATE INDEX IF NOT EXISTS orleansreminderstable_range ON orleansreminderstable (serviceid, grainhash);

INSERT INTO orleansquery (querykey, querytext) VALUES
-- Last writer wins (no ETag check); the version changes on every upsert (0 on insert, +1 after, wrapping before
-- int32 overflow because the provider parses it with int.Parse).
('UpsertReminderRowKey', $q$
INSERT INTO orleansreminderstable AS r (serviceid, grainid, remindername, starttime, period, grainhash, version)
VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 0)
ON CONFLICT (serviceid, grainid, remindername) DO UPDATE
   SET starttime = EXCLUDED.starttime,
       period = EXCLUDED.period,
       grainhash = EXCLUDED.grainhash,
       version = CASE WHEN r.version = 2147483647 THEN 0 ELSE r.version + 1 END
RETURNING version;
$q$),

('ReadReminderRowKey', $q$
SELECT grainid, remindername, starttime, period, version
  FROM orleansreminderstable
 WHERE serviceid = @ServiceId
   AND grainid = @GrainId
   AND remindername = @ReminderName;
$q$),

('ReadReminderRowsKey', $q$
SELECT grainid, remindername, starttime, period, version
  FROM orleansreminderstable
 WHERE serviceid = @ServiceId
   AND grainid = @GrainId;
$q$),

-- Used when BeginHash < EndHash (signed): the range (Begin, End].
('ReadRangeRows1Key', $q$
SELECT grainid, remindername, starttime, period, version
  FROM orleansreminderstable
 WHERE serviceid = @ServiceId
   AND grainhash > @BeginHash
   AND grainhash <= @EndHash;
$q$),

-- Used otherwise (wrap-around, or Begin = End for the full ring): above Begin or up to End.
('ReadRangeRows2Key', $q$
SELECT grainid, remindername, starttime, period, version
  FROM orleansreminderstable
 WHERE serviceid = @ServiceId
   AND (grainhash > @BeginHash OR grainhash <= @EndHash);
$q$),

-- Delete only the version the caller holds. One boolean: true = deleted.
('DeleteReminderRowKey', $q$
WITH deleted AS (
    DELETE FROM orleansreminderstable
     WHERE serviceid = @ServiceId
       AND grainid = @GrainId
       AND remindername = @ReminderName
       AND version = @Version
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM deleted);
$q$),

('DeleteReminderRowsKey', $q$
DELETE FROM orleansreminderstable WHERE serviceid = @ServiceId;
$q$)
ON CONFLICT (querykey) DO UPDATE SET querytext = EXCLUDED.querytext;
