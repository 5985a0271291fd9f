-- Orleans ADO.NET grain storage for Orleans 10.4.2. Written for this project from orleans-adonet-contract.md §4.
--
-- Unlike the upstream script, a state's identity is UNIQUE (with a NULL key extension counting as one value), so two
-- concurrent first writes can never create two rows for one grain. The loser of that race, and any write with a stale
-- ETag, gets "no new version" (NULL / no row) rather than an SQL error: the provider turns that into
-- InconsistentStateException, which makes the runtime deactivate the grain so that its next call re-reads the state.

CREATE TABLE IF NOT EXISTS orleansstorage
(
    -- Hashes only narrow the lookup; correctness rests on comparing every identity column.
    grainidhash            integer      NOT NULL,
    graintypehash          integer      NOT NULL,
    serviceid              varchar(150) NOT NULL,
    grainidn0              bigint       NOT NULL,
    grainidn1              bigint       NOT NULL,
    graintypestring        varchar(512) NOT NULL, -- the state name
    grainidextensionstring varchar(512) NULL,     -- string keys and key extensions; NULL for plain numeric/GUID keys
    payloadbinary          bytea        NULL,     -- NULL: the state was cleared (the row and its version stay)
    modifiedon             timestamptz  NOT NULL DEFAULT now(),
    version                integer      NOT NULL CHECK (version >= 1), -- the ETag; int32 on the wire
    CONSTRAINT orleansstorage_identity UNIQUE NULLS NOT DISTINCT
        (grainidhash, graintypehash, serviceid, grainidn0, grainidn1, graintypestring, grainidextensionstring)
);

INSERT INTO orleansquery (querykey, querytext) VALUES
('ReadFromStorageKey', $q$
SELECT payloadbinary, version
  FROM orleansstorage
 WHERE grainidhash = @GrainIdHash
   AND graintypehash = @GrainTypeHash
   AND serviceid = @ServiceId
   AND grainidn0 = @GrainIdN0
   AND grainidn1 = @GrainIdN1
   AND graintypestring = @GrainTypeString
   AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString;
$q$),

-- With an ETag: update only that version. Without one: insert version 1 only if no row exists. Exactly one row
-- comes back; NewGrainStateVersion is NULL when the ETag did not match or a concurrent first write won.
('WriteToStorageKey', $q$
WITH updated AS (
    UPDATE orleansstorage
       SET payloadbinary = @PayloadBinary, version = version + 1, modifiedon = now()
     WHERE @GrainStateVersion IS NOT NULL
       AND grainidhash = @GrainIdHash
       AND graintypehash = @GrainTypeHash
       AND serviceid = @ServiceId
       AND grainidn0 = @GrainIdN0
       AND grainidn1 = @GrainIdN1
       AND graintypestring = @GrainTypeString
       AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
       AND version = @GrainStateVersion
    RETURNING version
), inserted AS (
    INSERT INTO orleansstorage
        (grainidhash, graintypehash, serviceid, grainidn0, grainidn1, graintypestring, grainidextensionstring,
         payloadbinary, version)
    SELECT @GrainIdHash, @GrainTypeHash, @ServiceId, @GrainIdN0, @GrainIdN1, @GrainTypeString,
           @GrainIdExtensionString, @PayloadBinary, 1
     WHERE @GrainStateVersion IS NULL
    ON CONFLICT ON CONSTRAINT orleansstorage_identity DO NOTHING
    RETURNING version
)
SELECT (SELECT version FROM updated UNION ALL SELECT version FROM inserted LIMIT 1) AS newgrainstateversion;
$q$),

-- Clear keeps the row: payload NULL, version raised. The new version (column 0) becomes the grain's ETag.
('ClearStorageKey', $q$
UPDATE orleansstorage
   SET payloadbinary = NULL, version = version + 1, modifiedon = now()
 WHERE grainidhash = @GrainIdHash
   AND graintypehash = @GrainTypeHash
   AND serviceid = @ServiceId
   AND grainidn0 = @GrainIdN0
   AND grainidn1 = @GrainIdN1
   AND graintypestring = @GrainTypeString
   AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
   AND version = @GrainStateVersion
RETURNING version;
$q$),

-- DeleteStateOnClear=true: remove the row if the ETag matches; column 0 differs from the ETag sent.
('DeleteStorageKey', $q$
DELETE FROM orleansstorage
 WHERE grainidhash = @GrainIdHash
   AND graintypehash = @GrainTypeHash
   AND serviceid = @ServiceId
   AND grainidn0 = @GrainIdN0
   AND grainidn1 = @GrainIdN1
   AND graintypestring = @GrainTypeString
   AND grainidextensionstring IS NOT DISTINCT FROM @GrainIdExtensionString
   AND version = @GrainStateVersion
RETURNING version + 1;
$q$)
ON CONFLICT (querykey) DO UPDATE SET querytext = EXCLUDED.querytext;
