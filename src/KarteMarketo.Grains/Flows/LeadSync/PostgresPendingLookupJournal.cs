using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>
/// The journal in PostgreSQL (<c>lead_lookups_pending</c>). Marks are group-committed (<see cref="GroupCommit{T}"/>):
/// key grains that mark at the same moment share one multi-row upsert, and each returns once its row is durable.
/// Clears are one delete per batch of lookups. Each row names the silo that wrote it (<c>holder</c>), so that when
/// membership declares that silo dead another one takes its rows over at once (<see cref="TakeOverAsync"/>).
/// </summary>
public sealed class PostgresPendingLookupJournal : IPendingLookupJournal, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly GroupCommit<PendingLookup> _marks;
    private readonly string? _holder;

    public PostgresPendingLookupJournal(NpgsqlDataSource dataSource, SiloHolder? holder = null)
    {
        _dataSource = dataSource;
        _holder = holder?.Id;
        _marks = new GroupCommit<PendingLookup>(UpsertAsync, maxItems: 1_000);
    }

    public Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        _marks.AddAsync(new PendingLookup(projectId, type, value, at.ToUniversalTime()), cancellationToken);

    private Task UpsertAsync(IReadOnlyList<PendingLookup> marks) => PostgresCalls.RunAsync(async () =>
    {
        // One row per key (an upsert may not touch a row twice), the latest time winning.
        var rows = marks.GroupBy(m => (m.ProjectId, m.Type, m.Value)).Select(g => (g.Key, At: g.Max(m => m.RequestedAt))).ToList();
        await using var command = _dataSource.CreateCommand("""
            INSERT INTO lead_lookups_pending (project_id, key_type, key_value, requested_at, holder)
            SELECT p, t, v, at, @holder FROM unnest(@p, @t, @v, @at) AS u(p, t, v, at)
            ON CONFLICT (project_id, key_type, key_value) DO UPDATE SET requested_at = excluded.requested_at, holder = excluded.holder
            """);
        command.Parameters.Add(new NpgsqlParameter<string?>("holder", NpgsqlDbType.Text) { TypedValue = _holder });
        command.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, rows.Select(r => r.Key.ProjectId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("t", NpgsqlDbType.Text, rows.Select(r => r.Key.Type.ToKeyword()).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, rows.Select(r => r.Key.Value).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("at", NpgsqlDbType.TimestampTz, rows.Select(r => r.At).ToArray()));
        await command.ExecuteNonQueryAsync();
    });

    public Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
        CancellationToken cancellationToken = default)
    {
        if (values.Count == 0) return Task.CompletedTask;
        return PostgresCalls.RunAsync(async () =>
        {
            await using var command = _dataSource.CreateCommand("""
                DELETE FROM lead_lookups_pending
                 WHERE project_id = @p AND key_type = @t AND key_value = ANY(@v) AND requested_at <= @upTo
                """);
            command.Parameters.AddWithValue("p", projectId);
            command.Parameters.AddWithValue("t", type.ToKeyword());
            command.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, values.ToArray()));
            command.Parameters.AddWithValue("upTo", upTo.ToUniversalTime());
            await command.ExecuteNonQueryAsync(cancellationToken);
        });
    }

    public Task<IReadOnlyList<PendingLookup>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, int limit,
        CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<PendingLookup>>(async () =>
        {
            // Row locks make each row change hands once: a second survivor running the same statement skips rows the
            // first one already took (SKIP LOCKED) or, once it committed, no longer finds them held by the dead silo.
            await using var command = _dataSource.CreateCommand("""
                UPDATE lead_lookups_pending l SET holder = @me
                  FROM (SELECT project_id, key_type, key_value FROM lead_lookups_pending
                         WHERE holder = ANY(@dead) LIMIT @limit FOR UPDATE SKIP LOCKED) d
                 WHERE l.project_id = d.project_id AND l.key_type = d.key_type AND l.key_value = d.key_value
                RETURNING l.project_id, l.key_type, l.key_value, l.requested_at
                """);
            command.Parameters.Add(new NpgsqlParameter<string?>("me", NpgsqlDbType.Text) { TypedValue = _holder });
            command.Parameters.Add(PostgresArrays.Of("dead", NpgsqlDbType.Text, deadHolders.ToArray()));
            command.Parameters.AddWithValue("limit", limit);
            return await ReadAsync(command, cancellationToken);
        });

    public Task<IReadOnlyList<PendingLookup>> FindOlderThanAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<PendingLookup>>(async () =>
        {
            await using var command = _dataSource.CreateCommand("""
                SELECT project_id, key_type, key_value, requested_at FROM lead_lookups_pending
                 WHERE requested_at < @before ORDER BY requested_at LIMIT @limit
                """);
            command.Parameters.AddWithValue("before", before.ToUniversalTime());
            command.Parameters.AddWithValue("limit", limit);
            return await ReadAsync(command, cancellationToken);
        });

    private static async Task<IReadOnlyList<PendingLookup>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var found = new List<PendingLookup>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var type = reader.GetString(1) == "cookie" ? LeadKeyType.Cookie : LeadKeyType.Email;
            found.Add(new PendingLookup(reader.GetString(0), type, reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3)));
        }
        return found;
    }

    public ValueTask DisposeAsync() => _marks.DisposeAsync();
}
