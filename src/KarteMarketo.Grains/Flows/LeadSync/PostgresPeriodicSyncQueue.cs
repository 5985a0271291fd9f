using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>The queue in PostgreSQL (<c>periodic_sync_emails</c>). Adds are group-committed across requests
/// (<see cref="GroupCommit{T}"/>); everything else is one statement per call of the project's scheduler grain.</summary>
public sealed class PostgresPeriodicSyncQueue : IPeriodicSyncQueue, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly GroupCommit<Added> _adds;

    private sealed record Added(string ProjectId, IReadOnlyCollection<string> Emails, DateTimeOffset At);

    public PostgresPeriodicSyncQueue(NpgsqlDataSource dataSource)
    {
        _dataSource = dataSource;
        _adds = new GroupCommit<Added>(InsertAsync, maxItems: 200);
    }

    public Task AddAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        emails.Count == 0 ? Task.CompletedTask : _adds.AddAsync(new Added(projectId, emails, at.ToUniversalTime()), cancellationToken);

    private Task InsertAsync(IReadOnlyList<Added> adds) => PostgresCalls.RunAsync(async () =>
    {
        var rows = adds.SelectMany(a => a.Emails.Select(e => (a.ProjectId, Email: e, a.At))).ToList();
        await using var command = _dataSource.CreateCommand("""
            INSERT INTO periodic_sync_emails (project_id, email, added_at)
            SELECT p, e, a FROM unnest(@p, @e, @a) AS r(p, e, a) ORDER BY p, e
            ON CONFLICT DO NOTHING
            """);
        command.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, rows.Select(r => r.ProjectId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("e", NpgsqlDbType.Text, rows.Select(r => r.Email).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("a", NpgsqlDbType.TimestampTz, rows.Select(r => r.At).ToArray()));
        await command.ExecuteNonQueryAsync();
    });

    public Task<int> StartRunAsync(string projectId, CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        await using var batch = _dataSource.CreateBatch();
        var move = new NpgsqlBatchCommand("UPDATE periodic_sync_emails SET in_run = true WHERE project_id = @p AND NOT in_run");
        move.Parameters.AddWithValue("p", projectId);
        var count = new NpgsqlBatchCommand("SELECT count(*) FROM periodic_sync_emails WHERE project_id = @p AND in_run");
        count.Parameters.AddWithValue("p", projectId);
        batch.BatchCommands.Add(move);
        batch.BatchCommands.Add(count);
        // The UPDATE returns no rows, so the reader starts at the count.
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (int)reader.GetInt64(0);
    });

    public Task<IReadOnlyList<string>> NextInRunAsync(string projectId, int limit, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<string>>(async () =>
        {
            await using var command = _dataSource.CreateCommand(
                "SELECT email FROM periodic_sync_emails WHERE project_id = @p AND in_run ORDER BY email LIMIT @limit");
            command.Parameters.AddWithValue("p", projectId);
            command.Parameters.AddWithValue("limit", limit);
            var emails = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) emails.Add(reader.GetString(0));
            return emails;
        });

    public Task CompleteAsync(string projectId, IReadOnlyCollection<string> emails, CancellationToken cancellationToken = default) =>
        emails.Count == 0 ? Task.CompletedTask : PostgresCalls.RunAsync(async () =>
        {
            // One batch is one transaction: a host that reads the count sees the removal and its rows' absence together.
            await using var batch = _dataSource.CreateBatch();
            var delete = new NpgsqlBatchCommand("DELETE FROM periodic_sync_emails WHERE project_id = @p AND in_run AND email = ANY(@e)");
            delete.Parameters.AddWithValue("p", projectId);
            delete.Parameters.Add(PostgresArrays.Of("e", NpgsqlDbType.Text, emails.ToArray()));
            var count = new NpgsqlBatchCommand("""
                INSERT INTO periodic_sync_removals AS r (project_id, removals) VALUES (@p, 1)
                ON CONFLICT (project_id) DO UPDATE SET removals = r.removals + 1
                """);
            count.Parameters.AddWithValue("p", projectId);
            batch.BatchCommands.Add(delete);
            batch.BatchCommands.Add(count);
            await batch.ExecuteNonQueryAsync(cancellationToken);
        });

    public Task<long> RemovalsAsync(string projectId, CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        await using var command = _dataSource.CreateCommand("SELECT removals FROM periodic_sync_removals WHERE project_id = @p");
        command.Parameters.AddWithValue("p", projectId);
        return await command.ExecuteScalarAsync(cancellationToken) is long removals ? removals : 0L;
    });

    public Task MarkLookedUpAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset at,
        CancellationToken cancellationToken = default) => emails.Count == 0 ? Task.CompletedTask : PostgresCalls.RunAsync(async () =>
    {
        // Only queued emails carry the mark: nothing is added where periodic sync would not look them up anyway.
        await using var command = _dataSource.CreateCommand(
            "UPDATE periodic_sync_emails SET looked_up_at = @at WHERE project_id = @p AND email = ANY(@e)");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.Add(PostgresArrays.Of("e", NpgsqlDbType.Text, emails.ToArray()));
        command.Parameters.AddWithValue("at", at.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<IReadOnlySet<string>> LookedUpSinceAsync(string projectId, IReadOnlyCollection<string> emails, DateTimeOffset since,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlySet<string>>(async () =>
    {
        var fresh = new HashSet<string>(StringComparer.Ordinal);
        if (emails.Count == 0) return fresh;
        await using var command = _dataSource.CreateCommand(
            "SELECT email FROM periodic_sync_emails WHERE project_id = @p AND email = ANY(@e) AND looked_up_at >= @since");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.Add(PostgresArrays.Of("e", NpgsqlDbType.Text, emails.ToArray()));
        command.Parameters.AddWithValue("since", since.ToUniversalTime());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) fresh.Add(reader.GetString(0));
        return fresh;
    });

    public Task StopRunAsync(string projectId, CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        await using var command = _dataSource.CreateCommand("UPDATE periodic_sync_emails SET in_run = false WHERE project_id = @p AND in_run");
        command.Parameters.AddWithValue("p", projectId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<(int Waiting, int InRun)> CountAsync(string projectId, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
        {
            await using var command = _dataSource.CreateCommand(
                "SELECT count(*) FILTER (WHERE NOT in_run), count(*) FILTER (WHERE in_run) FROM periodic_sync_emails WHERE project_id = @p");
            command.Parameters.AddWithValue("p", projectId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return ((int)reader.GetInt64(0), (int)reader.GetInt64(1));
        });

    public ValueTask DisposeAsync() => _adds.DisposeAsync();
}
