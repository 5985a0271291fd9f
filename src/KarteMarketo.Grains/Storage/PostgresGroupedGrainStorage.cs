using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Orleans.Storage;

namespace KarteMarketo.Grains.Storage;

/// <summary>
/// Grain storage in PostgreSQL (<c>grain_states</c>) for grains that are many and busy together, the lead keys: the
/// reads and writes that activations make at the same moment share one statement (<see cref="GroupCall{TItem,TResult}"/>),
/// where Orleans' ADO.NET storage runs one statement and one commit per grain. Each caller still returns only once its
/// own row is read or durable, and ETags keep their meaning per grain: a write whose ETag is stale, or a first write
/// that finds a row already there, changes nothing and throws <see cref="InconsistentStateException"/>, which makes the
/// runtime deactivate that activation so its next call reads the state again.
/// <para>Why: a new lead key is an activation read and two state writes. One statement each per key made those
/// statements most of what PostgreSQL did while new users arrived (issue 18); grouped, a burst of keys costs a few
/// statements.</para>
/// </summary>
public sealed class PostgresGroupedGrainStorage : IGrainStorage, IAsyncDisposable
{
    /// <summary>Most grains in one statement.</summary>
    public const int MaxItemsPerStatement = 500;

    private readonly NpgsqlDataSource _dataSource;
    private readonly IGrainStorageSerializer _serializer;
    private readonly string _serviceId;
    private readonly GroupCall<StateKey, StoredState?> _reads;
    private readonly GroupCall<StateWrite, int?> _writes;

    public PostgresGroupedGrainStorage(NpgsqlDataSource dataSource, IGrainStorageSerializer serializer, string serviceId)
    {
        _dataSource = dataSource;
        _serializer = serializer;
        _serviceId = serviceId;
        _reads = new GroupCall<StateKey, StoredState?>(ReadManyAsync, MaxItemsPerStatement);
        _writes = new GroupCall<StateWrite, int?>(WriteManyAsync, MaxItemsPerStatement);
    }

    private readonly record struct StateKey(string GrainId, string StateName);

    private sealed record StoredState(int Version, byte[]? Payload);

    private sealed record StateWrite(StateKey Key, int? Expected, byte[] Payload);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var stored = await _reads.CallAsync(new StateKey(grainId.ToString(), stateName));
        grainState.ETag = stored is null ? null : Etag(stored.Version);
        if (stored?.Payload is { } payload)
        {
            grainState.State = _serializer.Deserialize<T>(new BinaryData(payload));
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = CreateState<T>();
            grainState.RecordExists = false;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var expected = grainState.ETag is { } etag ? int.Parse(etag, CultureInfo.InvariantCulture) : (int?)null;
        var payload = _serializer.Serialize(grainState.State).ToArray();
        var version = await _writes.CallAsync(new StateWrite(new StateKey(grainId.ToString(), stateName), expected, payload));
        if (version is not { } written) throw Conflict(stateName, grainId, grainState.ETag);
        grainState.ETag = Etag(written);
        grainState.RecordExists = true;
    }

    /// <summary>Clears are rare (no lead-key path clears today): one statement each, keeping the row and raising its
    /// version, as Orleans' own storage does.</summary>
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (grainState.ETag is { } etag)
        {
            var version = await PostgresCalls.RunAsync(async () =>
            {
                await using var command = _dataSource.CreateCommand("""
                    UPDATE grain_states SET payload = NULL, version = version + 1
                     WHERE service_id = @service AND grain_id = @id AND state_name = @name AND version = @expected
                    RETURNING version
                    """);
                command.Parameters.AddWithValue("service", _serviceId);
                command.Parameters.AddWithValue("id", grainId.ToString());
                command.Parameters.AddWithValue("name", stateName);
                command.Parameters.AddWithValue("expected", int.Parse(etag, CultureInfo.InvariantCulture));
                return await command.ExecuteScalarAsync() as int?;
            });
            if (version is not { } cleared) throw Conflict(stateName, grainId, etag);
            grainState.ETag = Etag(cleared);
        }
        grainState.State = CreateState<T>();
        grainState.RecordExists = false;
    }

    private Task<IReadOnlyList<StoredState?>> ReadManyAsync(IReadOnlyList<StateKey> keys) =>
        PostgresCalls.RunAsync<IReadOnlyList<StoredState?>>(async () =>
        {
            await using var command = _dataSource.CreateCommand("""
                SELECT s.grain_id, s.state_name, s.version, s.payload
                  FROM grain_states s
                  JOIN unnest(@ids, @names) AS k(grain_id, state_name) USING (grain_id, state_name)
                 WHERE s.service_id = @service
                """);
            command.Parameters.AddWithValue("service", _serviceId);
            command.Parameters.Add(PostgresArrays.Of("ids", NpgsqlDbType.Text, keys.Select(k => k.GrainId).ToArray()));
            command.Parameters.Add(PostgresArrays.Of("names", NpgsqlDbType.Text, keys.Select(k => k.StateName).ToArray()));
            var found = new Dictionary<StateKey, StoredState>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                found[new StateKey(reader.GetString(0), reader.GetString(1))] =
                    new StoredState(reader.GetInt32(2), reader.IsDBNull(3) ? null : reader.GetFieldValue<byte[]>(3));
            }
            return keys.Select(k => found.GetValueOrDefault(k)).ToList();
        });

    private Task<IReadOnlyList<int?>> WriteManyAsync(IReadOnlyList<StateWrite> writes) =>
        PostgresCalls.RunAsync<IReadOnlyList<int?>>(async () =>
        {
            // One row per grain in a statement (an UPDATE takes a row once): a second write of the same grain in the
            // same group carries the same ETag as the first, so it would have lost anyway; it loses here.
            var first = new Dictionary<StateKey, int>();
            for (var i = 0; i < writes.Count; i++) first.TryAdd(writes[i].Key, i);
            var sent = first.Values.Select(i => writes[i]).ToList();
            await using var command = _dataSource.CreateCommand("""
                WITH input AS (
                    SELECT * FROM unnest(@ids, @names, @expected, @payloads) AS i(grain_id, state_name, expected, payload)
                ), updated AS (
                    UPDATE grain_states s SET payload = i.payload, version = s.version + 1
                      FROM input i
                     WHERE i.expected IS NOT NULL AND s.service_id = @service AND s.grain_id = i.grain_id
                       AND s.state_name = i.state_name AND s.version = i.expected
                    RETURNING s.grain_id, s.state_name, s.version
                ), inserted AS (
                    INSERT INTO grain_states (service_id, grain_id, state_name, version, payload)
                    SELECT @service, i.grain_id, i.state_name, 1, i.payload FROM input i WHERE i.expected IS NULL
                    ON CONFLICT DO NOTHING
                    RETURNING grain_id, state_name, version
                )
                SELECT grain_id, state_name, version FROM updated UNION ALL SELECT grain_id, state_name, version FROM inserted
                """);
            command.Parameters.AddWithValue("service", _serviceId);
            command.Parameters.Add(PostgresArrays.Of("ids", NpgsqlDbType.Text, sent.Select(w => w.Key.GrainId).ToArray()));
            command.Parameters.Add(PostgresArrays.Of("names", NpgsqlDbType.Text, sent.Select(w => w.Key.StateName).ToArray()));
            command.Parameters.Add(PostgresArrays.Of("expected", NpgsqlDbType.Integer, sent.Select(w => w.Expected).ToArray()));
            command.Parameters.Add(PostgresArrays.Of("payloads", NpgsqlDbType.Bytea, sent.Select(w => w.Payload).ToArray()));
            var written = new Dictionary<StateKey, int>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) written[new StateKey(reader.GetString(0), reader.GetString(1))] = reader.GetInt32(2);
            return writes.Select((w, i) => first[w.Key] == i && written.TryGetValue(w.Key, out var version) ? version : (int?)null).ToList();
        });

    /// <summary>The grain's ETag no longer matches the row (or a first write found one). The statement does not return
    /// the stored version, so it is not named.</summary>
    private static InconsistentStateException Conflict(string stateName, GrainId grainId, string? etag) =>
        new($"The state {stateName} of {grainId} changed since it was read (ETag {etag ?? "none"}).",
            storedEtag: "unknown", currentEtag: etag ?? "none");

    private static string Etag(int version) => version.ToString(CultureInfo.InvariantCulture);

    private static T CreateState<T>() => Activator.CreateInstance<T>();

    public async ValueTask DisposeAsync()
    {
        await _reads.DisposeAsync();
        await _writes.DisposeAsync();
    }
}
