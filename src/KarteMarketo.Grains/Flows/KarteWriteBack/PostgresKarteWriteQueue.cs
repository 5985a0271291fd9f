using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

namespace KarteMarketo.Grains.Flows.KarteWriteBack;

/// <summary>The KARTE queue in PostgreSQL: rows in <c>outbox_messages</c> (kind <c>karte</c>), hashes in
/// <c>karte_user_values</c> (<c>db/migrations/0153_karte_writes.sql</c>).</summary>
public sealed class PostgresKarteWriteQueue(NpgsqlDataSource dataSource) : IKarteWriteQueue
{
    public Task<int> EnqueueAsync(string projectId, IReadOnlyList<KarteQueuedWrite> writes, DateTimeOffset now,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        if (writes.Count == 0) return 0;
        await using var batch = dataSource.CreateBatch();
        batch.BatchCommands.Add(EnqueueCommand([.. writes.Select(w => (projectId, w))], now, requireStoredInfo: false));
        return await batch.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task ForgetValuesAsync(string projectId, string userId, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand("DELETE FROM karte_user_values WHERE project_id = @p AND user_id = @u");
        command.Parameters.AddWithValue("p", projectId);
        command.Parameters.AddWithValue("u", userId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    /// <summary>
    /// One statement that queues <paramref name="writes"/> in order: user info only where its hash differs from the
    /// user's remembered one (or <c>OnlyOnChange</c> is off), remembering the new hash in the same statement. With
    /// <paramref name="requireStoredInfo"/> a write is queued only while the user's stored <c>info</c> is exactly its
    /// values: the user store runs it in the same batch (one transaction) right after its upsert, so a result the upsert
    /// did not apply (a cookie lead never replaces an email one) is not written to KARTE either.
    /// </summary>
    internal static NpgsqlBatchCommand EnqueueCommand(IReadOnlyList<(string ProjectId, KarteQueuedWrite Write)> writes,
        DateTimeOffset now, bool requireStoredInfo)
    {
        var stored = requireStoredInfo
            ? "JOIN users t ON t.project_id = r.p AND t.user_id = r.u AND t.info = (r.kp::jsonb -> 'values')"
            : "";
        var command = new NpgsqlBatchCommand($"""
            WITH r AS (
                SELECT * FROM unnest(@p, @u, @kh, @ko, @kd, @kp) WITH ORDINALITY AS r(p, u, kh, ko, kd, kp, n)),
            changed AS (
                SELECT r.* FROM r
                {stored}
                LEFT JOIN karte_user_values v ON v.project_id = r.p AND v.user_id = r.u
                WHERE r.kh IS NULL OR NOT r.ko OR v.values_hash IS DISTINCT FROM r.kh),
            remembered AS (
                INSERT INTO karte_user_values AS v (project_id, user_id, values_hash, updated_at)
                SELECT DISTINCT ON (p, u) p, u, kh, @now FROM changed WHERE kh IS NOT NULL ORDER BY p, u, n DESC
                ON CONFLICT (project_id, user_id) DO UPDATE SET values_hash = excluded.values_hash, updated_at = excluded.updated_at)
            INSERT INTO outbox_messages (project_id, kind, delivery_id, user_id, payload, status, attempts, next_attempt_at,
                                         created_at, updated_at)
            SELECT p, 'karte', kd, u, kp::jsonb, 'pending', 0, @now, @now, @now FROM changed ORDER BY n
            ON CONFLICT (project_id, kind, delivery_id) DO NOTHING
            """);
        command.Parameters.Add(PostgresArrays.Of("p", NpgsqlDbType.Text, writes.Select(w => w.ProjectId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("u", NpgsqlDbType.Text, writes.Select(w => w.Write.UserId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("kh", NpgsqlDbType.Text, writes.Select(w => w.Write.ValuesHash).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("ko", NpgsqlDbType.Boolean, writes.Select(w => w.Write.OnlyOnChange).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("kd", NpgsqlDbType.Text, writes.Select(w => w.Write.DeliveryId).ToArray()));
        command.Parameters.Add(PostgresArrays.Of("kp", NpgsqlDbType.Text,
            writes.Select(w => KarteWritePayload.Build(w.Write.EventName, w.Write.Values).ToJsonString()).ToArray()));
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        return command;
    }
}
