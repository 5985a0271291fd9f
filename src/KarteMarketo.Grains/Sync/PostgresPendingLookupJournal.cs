using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Sync;

/// <summary>The journal in PostgreSQL (<c>lead_lookups_pending</c>): one upsert per queued lookup, one delete per batch.</summary>
public sealed class PostgresPendingLookupJournal(NpgsqlDataSource dataSource) : IPendingLookupJournal
{
    public Task MarkAsync(string projectId, LeadKeyType type, string value, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("""
                INSERT INTO lead_lookups_pending (project_id, key_type, key_value, requested_at) VALUES (@p, @t, @v, @at)
                ON CONFLICT (project_id, key_type, key_value) DO UPDATE SET requested_at = excluded.requested_at
                """);
            command.Parameters.AddWithValue("p", projectId);
            command.Parameters.AddWithValue("t", type.ToKeyword());
            command.Parameters.AddWithValue("v", value);
            command.Parameters.AddWithValue("at", at.ToUniversalTime());
            await command.ExecuteNonQueryAsync(cancellationToken);
        });

    public Task ClearAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset upTo,
        CancellationToken cancellationToken = default)
    {
        if (values.Count == 0) return Task.CompletedTask;
        return PostgresCalls.RunAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("""
                DELETE FROM lead_lookups_pending
                 WHERE project_id = @p AND key_type = @t AND key_value = ANY(@v) AND requested_at <= @upTo
                """);
            command.Parameters.AddWithValue("p", projectId);
            command.Parameters.AddWithValue("t", type.ToKeyword());
            command.Parameters.Add(new NpgsqlParameter("v", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });
            command.Parameters.AddWithValue("upTo", upTo.ToUniversalTime());
            await command.ExecuteNonQueryAsync(cancellationToken);
        });
    }

    public Task<IReadOnlyList<PendingLookup>> FindOlderThanAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<PendingLookup>>(async () =>
        {
            await using var command = dataSource.CreateCommand("""
                SELECT project_id, key_type, key_value, requested_at FROM lead_lookups_pending
                 WHERE requested_at < @before ORDER BY requested_at LIMIT @limit
                """);
            command.Parameters.AddWithValue("before", before.ToUniversalTime());
            command.Parameters.AddWithValue("limit", limit);
            var found = new List<PendingLookup>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var type = reader.GetString(1) == "cookie" ? LeadKeyType.Cookie : LeadKeyType.Email;
                found.Add(new PendingLookup(reader.GetString(0), type, reader.GetString(2),
                    reader.GetFieldValue<DateTimeOffset>(3)));
            }
            return found;
        });
}
