-- Orleans ADO.NET clustering (membership table and gateway list) for Orleans 10.4.2.
-- Written for this project from orleans-adonet-contract.md §3.
--
-- Concurrency model: one version row per cluster is the table's ETag. Every membership write (insert or update of
-- a member row) compares that version with the one the silo read and raises it, in the same atomic step as the member
-- change; if either part fails, nothing changes and the provider gets false (it then re-reads and retries).
-- All times are timestamptz: the provider sends UTC DateTimes typed as timestamptz.

CREATE TABLE IF NOT EXISTS orleansmembershipversiontable
(
    deploymentid varchar(150) NOT NULL PRIMARY KEY,
    "timestamp"  timestamptz  NOT NULL DEFAULT now(),
    -- int32 on the wire (int.Parse); never negative, or every membership write is refused client-side.
    version      integer      NOT NULL DEFAULT 0 CHECK (version >= 0)
);

CREATE TABLE IF NOT EXISTS orleansmembershiptable
(
    deploymentid varchar(150) NOT NULL REFERENCES orleansmembershipversiontable (deploymentid),
    address      varchar(45)  NOT NULL, -- text, not inet: the provider casts the value to string
    port         integer      NOT NULL,
    generation   integer      NOT NULL,
    siloname     text         NOT NULL,
    hostname     text         NOT NULL,
    status       integer      NOT NULL, -- SiloStatus: 3 Active, 6 Dead
    proxyport    integer      NULL,     -- gateway port, 0 = not a gateway
    suspecttimes text         NULL,     -- opaque to the database
    starttime    timestamptz  NOT NULL,
    iamalivetime timestamptz  NOT NULL,
    -- A second insert for the same silo incarnation must fail (and report false).
    PRIMARY KEY (deploymentid, address, port, generation)
);

-- Insert a member row and raise the version, all or nothing. The version row is locked first by the UPDATE, so
-- concurrent writers queue on it; a writer that read an old version finds no match and returns false.
-- The exception block is a subtransaction: a duplicate member row rolls back the version increase as well.
CREATE OR REPLACE FUNCTION orleans_membership_insert(
    p_deploymentid text, p_address text, p_port integer, p_generation integer, p_siloname text, p_hostname text,
    p_status integer, p_proxyport integer, p_starttime timestamptz, p_iamalivetime timestamptz, p_version integer)
    RETURNS boolean
    LANGUAGE plpgsql
AS
$$
BEGIN
    UPDATE orleansmembershipversiontable
       SET version = version + 1, "timestamp" = now()
     WHERE deploymentid = p_deploymentid
       AND version = p_version
       AND version < 2147483647; -- never overflow: the next read would not parse
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    INSERT INTO orleansmembershiptable
        (deploymentid, address, port, generation, siloname, hostname, status, proxyport, suspecttimes, starttime, iamalivetime)
    VALUES
        (p_deploymentid, p_address, p_port, p_generation, p_siloname, p_hostname, p_status, p_proxyport, NULL,
         p_starttime, p_iamalivetime);
    RETURN true;
EXCEPTION
    WHEN unique_violation THEN
        RETURN false;
END;
$$;

-- Update status, suspicions and liveness of an existing member row and raise the version, all or nothing.
-- Name, host, ports and start time are never changed after the insert. IAmAliveTime never moves backwards.
CREATE OR REPLACE FUNCTION orleans_membership_update(
    p_deploymentid text, p_address text, p_port integer, p_generation integer, p_status integer,
    p_suspecttimes text, p_iamalivetime timestamptz, p_version integer)
    RETURNS boolean
    LANGUAGE plpgsql
AS
$$
BEGIN
    UPDATE orleansmembershipversiontable
       SET version = version + 1, "timestamp" = now()
     WHERE deploymentid = p_deploymentid
       AND version = p_version
       AND version < 2147483647;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    UPDATE orleansmembershiptable
       SET status = p_status,
           suspecttimes = p_suspecttimes,
           iamalivetime = GREATEST(iamalivetime, p_iamalivetime)
     WHERE deploymentid = p_deploymentid
       AND address = p_address
       AND port = p_port
       AND generation = p_generation;
    IF NOT FOUND THEN
        -- Undo the version increase: raising inside the block rolls the whole block back.
        RAISE EXCEPTION 'membership row not found' USING ERRCODE = 'no_data_found';
    END IF;
    RETURN true;
EXCEPTION
    WHEN no_data_found THEN
        RETURN false;
END;
$$;

INSERT INTO orleansquery (querykey, querytext) VALUES
-- Once per silo start: create the cluster's version row at 0 unless it exists. One boolean: true = created.
('InsertMembershipVersionKey', $q$
WITH created AS (
    INSERT INTO orleansmembershipversiontable (deploymentid) VALUES (@DeploymentId)
    ON CONFLICT (deploymentid) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM created);
$q$),

('InsertMembershipKey', $q$
SELECT orleans_membership_insert(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status,
                                 @ProxyPort, @StartTime, @IAmAliveTime, @Version);
$q$),

('UpdateMembershipKey', $q$
SELECT orleans_membership_update(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes,
                                 @IAmAliveTime, @Version);
$q$),

-- The heartbeat: no version check, no version increase, never backwards; a missing row is not an error.
('UpdateIAmAlivetimeKey', $q$
UPDATE orleansmembershiptable
   SET iamalivetime = GREATEST(iamalivetime, @IAmAliveTime)
 WHERE deploymentid = @DeploymentId
   AND address = @Address
   AND port = @Port
   AND generation = @Generation;
$q$),

-- All members with the cluster version on every row; the version row alone (NULL StartTime) when there are none.
-- One statement, one snapshot: the version and the rows always belong together.
('MembershipReadAllKey', $q$
SELECT v.deploymentid, m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
       m.suspecttimes, m.starttime, m.iamalivetime, v.version
  FROM orleansmembershipversiontable v
  LEFT JOIN orleansmembershiptable m ON m.deploymentid = v.deploymentid
 WHERE v.deploymentid = @DeploymentId;
$q$),

('MembershipReadRowKey', $q$
SELECT v.deploymentid, m.address, m.port, m.generation, m.siloname, m.hostname, m.status, m.proxyport,
       m.suspecttimes, m.starttime, m.iamalivetime, v.version
  FROM orleansmembershipversiontable v
  LEFT JOIN orleansmembershiptable m
         ON m.deploymentid = v.deploymentid
        AND m.address = @Address
        AND m.port = @Port
        AND m.generation = @Generation
 WHERE v.deploymentid = @DeploymentId;
$q$),

-- Gateways for clients: silos in the requested status (Active) that have a gateway port.
('GatewaysQueryKey', $q$
SELECT address, proxyport, generation
  FROM orleansmembershiptable
 WHERE deploymentid = @DeploymentId
   AND status = @Status
   AND proxyport > 0;
$q$),

-- Tooling and tests: forget the cluster entirely (members first, for the foreign key).
('DeleteMembershipTableEntriesKey', $q$
DELETE FROM orleansmembershiptable WHERE deploymentid = @DeploymentId;
DELETE FROM orleansmembershipversiontable WHERE deploymentid = @DeploymentId;
$q$),

-- Bulk cleanup (run only when the per-row key below is missing): Dead rows older than the cutoff.
-- Dead is final, so removing them cannot disturb a live silo.
('CleanupDefunctSiloEntriesKey', $q$
DELETE FROM orleansmembershiptable
 WHERE deploymentid = @DeploymentId
   AND status = 6
   AND iamalivetime < @IAmAliveTime
   AND starttime < @IAmAliveTime;
$q$),

-- Per-row cleanup: compare-and-delete one Dead row, only if it still holds what the provider read.
('CleanupDefunctSiloEntryKey', $q$
DELETE FROM orleansmembershiptable
 WHERE deploymentid = @DeploymentId
   AND address = @Address
   AND port = @Port
   AND generation = @Generation
   AND status = 6
   AND starttime = @StartTime
   AND iamalivetime = @IAmAliveTime
   AND COALESCE(suspecttimes, '') = COALESCE(@SuspectTimes, '');
$q$)
ON CONFLICT (querykey) DO UPDATE SET querytext = EXCLUDED.querytext;
