-- Grain state of the lead-key grains (StorageNames.LeadKeys, PostgresGroupedGrainStorage): one row per grain and state
-- name, read and written many grains per statement. The ETag is `version`, raised by every write; a NULL payload is a
-- cleared state whose row and version stay, as in orleansstorage.
CREATE TABLE IF NOT EXISTS grain_states
(
    service_id text    NOT NULL,
    grain_id   text    NOT NULL,  -- GrainId.ToString(): 'lead-key/k:{project}/{email|cookie}/{value}'
    state_name text    NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    payload    bytea   NULL,      -- the grain storage serializer's output (System.Text.Json)
    PRIMARY KEY (service_id, grain_id, state_name)
);

-- Lead-key states written before this migration lived in Orleans' table, with the same serializer: they move here
-- with their versions, so a key keeps its window, lead id and ETag across the upgrade. Their keys start with 'k:',
-- never hexadecimal, so Orleans stored each whole key as the extension string.
INSERT INTO grain_states (service_id, grain_id, state_name, version, payload)
SELECT serviceid, 'lead-key/' || grainidextensionstring, graintypestring, version, payloadbinary
  FROM orleansstorage
 WHERE graintypestring = 'lead-key-state' AND grainidextensionstring IS NOT NULL
ON CONFLICT DO NOTHING;

DELETE FROM orleansstorage WHERE graintypestring = 'lead-key-state' AND grainidextensionstring IS NOT NULL;
