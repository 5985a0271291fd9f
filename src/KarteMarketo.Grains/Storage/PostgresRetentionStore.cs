using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Outbox;
using Npgsql;

namespace KarteMarketo.Grains.Storage;

/// <summary>Retention deletes in PostgreSQL (indexes: <c>db/migrations/0200_retention.sql</c>). Each chunk is one
/// statement; rows another silo is deleting at the same moment are skipped, not waited for.</summary>
public sealed class PostgresRetentionStore(NpgsqlDataSource dataSource) : IRetentionStore
{
    public Task<int> DeleteWebhookEventsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("""
                DELETE FROM webhook_events WHERE id IN (
                    SELECT id FROM webhook_events WHERE received_at < @before
                    ORDER BY received_at LIMIT @limit FOR UPDATE SKIP LOCKED)
                """);
            command.Parameters.AddWithValue("before", before.ToUniversalTime());
            command.Parameters.AddWithValue("limit", limit);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        });

    public Task<int> DeleteDeliveredAsync(OutboxKind kind, DateTimeOffset before, int limit, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
        {
            await using var command = dataSource.CreateCommand("""
                DELETE FROM outbox_messages WHERE id IN (
                    SELECT id FROM outbox_messages
                    WHERE status = 'delivered' AND kind = @kind AND delivered_at < @before
                    ORDER BY delivered_at LIMIT @limit FOR UPDATE SKIP LOCKED)
                """);
            command.Parameters.AddWithValue("kind", kind.ToKeyword());
            command.Parameters.AddWithValue("before", before.ToUniversalTime());
            command.Parameters.AddWithValue("limit", limit);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        });
}
