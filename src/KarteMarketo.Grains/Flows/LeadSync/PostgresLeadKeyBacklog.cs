using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The backlog in PostgreSQL (<c>lead_key_backlog</c>): one statement per call, each call covering a batch.</summary>
public sealed class PostgresLeadKeyBacklog(NpgsqlDataSource dataSource) : ILeadKeyBacklog
{
    public Task AddAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default) => values.Count == 0 ? Task.CompletedTask : PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO lead_key_backlog (project_id, key_type, key_value, due_at)
            SELECT @p, @t, v, @due FROM unnest(@v) AS r(v) ORDER BY v
            ON CONFLICT (project_id, key_type, key_value) DO UPDATE SET due_at = least(lead_key_backlog.due_at, excluded.due_at)
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, values.Distinct(StringComparer.Ordinal).ToArray()));
        command.Parameters.AddWithValue("due", dueAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<IReadOnlyList<string>> DueAsync(string projectId, LeadKeyType type, DateTimeOffset now, int limit,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlyList<string>>(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            SELECT key_value FROM lead_key_backlog WHERE project_id = @p AND key_type = @t AND due_at <= @now
             ORDER BY key_value LIMIT @limit
            """);
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.AddWithValue("limit", limit);
        var values = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) values.Add(reader.GetString(0));
        return values;
    });

    public Task PostponeAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values, DateTimeOffset dueAt,
        CancellationToken cancellationToken = default) => values.Count == 0 ? Task.CompletedTask : PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE lead_key_backlog SET due_at = @due WHERE project_id = @p AND key_type = @t AND key_value = ANY(@v)");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, values.ToArray()));
        command.Parameters.AddWithValue("due", dueAt.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task RemoveAsync(string projectId, LeadKeyType type, IReadOnlyCollection<string> values,
        CancellationToken cancellationToken = default) => values.Count == 0 ? Task.CompletedTask : PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "DELETE FROM lead_key_backlog WHERE project_id = @p AND key_type = @t AND key_value = ANY(@v)");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("t", type.ToKeyword());
        command.Parameters.Add(PostgresArrays.Of("v", NpgsqlDbType.Text, values.ToArray()));
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<(int Count, DateTimeOffset? NextDueAt)> CountAsync(string projectId, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("SELECT count(*), min(due_at) FROM lead_key_backlog WHERE project_id = @p");
            command.Parameters.AddWithValue("p", projectId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return ((int)reader.GetInt64(0), reader.IsDBNull(1) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(1));
        });
}
