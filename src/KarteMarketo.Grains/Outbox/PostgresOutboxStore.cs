using System.Text.Json.Nodes;
using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Storage;
using Npgsql;
using NpgsqlTypes;

using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

/// <summary>The outboxes in PostgreSQL (<c>db/migrations/0120_outboxes.sql</c>). A claim records the claiming silo
/// (<c>holder</c>, <c>db/migrations/0160</c>), so the rows of a silo declared dead go back at once.</summary>
public sealed class PostgresOutboxStore(NpgsqlDataSource dataSource, SiloHolder? holder = null) : IOutboxStore
{
    private const string Columns = """
        id, project_id, kind, delivery_id, user_id, email, payload::text, status, attempts, next_attempt_at, lease_id,
        lease_until, sent_at, possible_duplicate, lead_id, synced_at, marketo_guid, result::text, error_code, error_message,
        created_at, updated_at, delivered_at
        """;

    public Task<IReadOnlySet<string>> EnqueueAsync(string projectId, OutboxKind kind, IReadOnlyList<OutboxEntry> entries,
        DateTimeOffset now, CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlySet<string>>(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO outbox_messages (project_id, kind, delivery_id, user_id, email, payload, status, attempts,
                                         next_attempt_at, created_at, updated_at)
            SELECT @project, @kind, t.delivery_id, t.user_id, t.email, t.payload::jsonb, 'pending', 0, @now, @now, @now
            FROM unnest(@delivery_ids, @user_ids, @emails, @payloads) WITH ORDINALITY AS t(delivery_id, user_id, email, payload, n)
            ORDER BY t.n
            ON CONFLICT (project_id, kind, delivery_id) DO NOTHING
            RETURNING delivery_id
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.AddWithValue("delivery_ids", entries.Select(e => e.DeliveryId).ToArray());
        command.Parameters.Add(new NpgsqlParameter<string?[]>("user_ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = entries.Select(e => e.UserId).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("emails", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = entries.Select(e => e.Email).ToArray() });
        command.Parameters.AddWithValue("payloads", entries.Select(e => e.Payload.ToJsonString()).ToArray());
        var added = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) added.Add(reader.GetString(0));
        return added;
    });

    public Task<IReadOnlyList<OutboxRow>> ClaimAsync(string projectId, OutboxKind kind, int limit, int minimum, Guid leaseId,
        DateTimeOffset now, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<OutboxRow>>(async () =>
    {
        // SKIP LOCKED: a second claimer (a brief duplicate activation) takes other rows instead of waiting.
        // On the right-hand side of SET the columns still hold their old values.
        await using var command = dataSource.CreateCommand($"""
            WITH due AS (
                SELECT id FROM outbox_messages d
                WHERE project_id = @project AND kind = @kind
                  AND ((status = 'pending' AND next_attempt_at <= @now) OR (status = 'in_flight' AND lease_until <= @now))
                  -- Order per user (OutboxKind.KeepsUserOrder): an earlier row of the user that waits but is not due
                  -- holds this one. The status list repeats what follows so that the partial index 0220 applies.
                  AND NOT (@ordered AND d.user_id IS NOT NULL AND EXISTS (
                      SELECT 1 FROM outbox_messages e
                      WHERE e.project_id = d.project_id AND e.kind = d.kind AND e.user_id = d.user_id AND e.id < d.id
                        AND e.status IN ('pending', 'in_flight')
                        AND ((e.status = 'pending' AND e.next_attempt_at > @now) OR (e.status = 'in_flight' AND e.lease_until > @now))))
                ORDER BY id
                LIMIT @limit
                FOR UPDATE SKIP LOCKED)
            UPDATE outbox_messages m
            SET status = 'in_flight', lease_id = @lease, lease_until = @lease_until, updated_at = @now, holder = @holder,
                possible_duplicate = m.possible_duplicate OR (m.status = 'in_flight' AND m.sent_at IS NOT NULL),
                sent_at = NULL
            FROM due
            WHERE m.id = due.id AND (SELECT count(*) FROM due) >= @minimum
            RETURNING {Prefixed("m.")}
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("lease", leaseId);
        command.Parameters.AddWithValue("lease_until", leaseUntil.ToUniversalTime());
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("minimum", (long)minimum);
        command.Parameters.AddWithValue("ordered", kind.KeepsUserOrder());
        command.Parameters.Add(new NpgsqlParameter<string?>("holder", NpgsqlDbType.Text) { TypedValue = holder?.Id });
        var rows = await ReadRowsAsync(command, cancellationToken);
        return rows.OrderBy(r => r.Id).ToList();
    });

    public Task<int> MarkSendingAsync(Guid leaseId, IReadOnlyCollection<long> ids, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE outbox_messages SET sent_at = @now WHERE lease_id = @lease AND id = ANY(@ids) AND status = 'in_flight'");
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.AddWithValue("lease", leaseId);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task CompleteAsync(Guid leaseId, IReadOnlyList<OutboxOutcome> outcomes, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        if (outcomes.Count == 0) return;
        // One statement for the whole batch: the window between Marketo's answer and its record stays short.
        await using var command = dataSource.CreateCommand("""
            UPDATE outbox_messages m
            SET status = o.status, attempts = o.attempts, next_attempt_at = o.next_attempt_at,
                lead_id = COALESCE(o.lead_id, m.lead_id), synced_at = COALESCE(o.synced_at, m.synced_at),
                marketo_guid = COALESCE(o.marketo_guid, m.marketo_guid), result = COALESCE(o.result::jsonb, m.result),
                error_code = o.error_code, error_message = o.error_message,
                delivered_at = COALESCE(o.delivered_at, m.delivered_at),
                lease_id = NULL, lease_until = NULL, sent_at = NULL, holder = NULL, updated_at = @now
            FROM unnest(@ids, @statuses, @attempts, @next, @lead_ids, @synced, @guids, @results, @codes, @messages, @delivered)
                 AS o(id, status, attempts, next_attempt_at, lead_id, synced_at, marketo_guid, result, error_code, error_message, delivered_at)
            WHERE m.id = o.id AND m.lease_id = @lease AND m.status = 'in_flight'
            """);
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.AddWithValue("lease", leaseId);
        command.Parameters.AddWithValue("ids", outcomes.Select(o => o.Id).ToArray());
        command.Parameters.AddWithValue("statuses", outcomes.Select(o => o.Status).ToArray());
        command.Parameters.AddWithValue("attempts", outcomes.Select(o => o.Attempts).ToArray());
        command.Parameters.AddWithValue("next", outcomes.Select(o => o.NextAttemptAt.ToUniversalTime()).ToArray());
        command.Parameters.Add(new NpgsqlParameter<long?[]>("lead_ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = outcomes.Select(o => o.LeadId).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?[]>("synced", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = outcomes.Select(o => o.SyncedAt?.ToUniversalTime()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("guids", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = outcomes.Select(o => o.MarketoGuid).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("results", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = outcomes.Select(o => o.Result?.ToJsonString()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("codes", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = outcomes.Select(o => o.ErrorCode).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string?[]>("messages", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = outcomes.Select(o => o.ErrorMessage).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset?[]>("delivered", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { TypedValue = outcomes.Select(o => o.DeliveredAt?.ToUniversalTime()).ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<int> RecoverAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE outbox_messages
            SET status = 'pending', next_attempt_at = @now, lease_id = NULL, lease_until = NULL, holder = NULL,
                possible_duplicate = possible_duplicate OR sent_at IS NOT NULL, sent_at = NULL, updated_at = @now
            WHERE project_id = @project AND kind = @kind AND status = 'in_flight'
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<IReadOnlyList<OutboxWork>> TakeOverAsync(IReadOnlyCollection<string> deadHolders, DateTimeOffset now,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlyList<OutboxWork>>(async () =>
    {
        // Clearing the lease as well: a claimer that somehow still ran could neither mark nor complete these rows.
        await using var command = dataSource.CreateCommand("""
            UPDATE outbox_messages
            SET status = 'pending', next_attempt_at = @now, lease_id = NULL, lease_until = NULL, holder = NULL,
                possible_duplicate = possible_duplicate OR sent_at IS NOT NULL, sent_at = NULL, updated_at = @now
            WHERE status = 'in_flight' AND holder = ANY(@dead)
            RETURNING project_id, kind
            """);
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        command.Parameters.Add(PostgresArrays.Of("dead", NpgsqlDbType.Text, deadHolders.ToArray()));
        var work = new HashSet<OutboxWork>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) work.Add(new OutboxWork(reader.GetString(0), ParseKind(reader.GetString(1))));
        return [.. work];
    });

    public Task<DateTimeOffset?> NextDueAsync(string projectId, OutboxKind kind, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "SELECT min(next_attempt_at) FROM outbox_messages WHERE project_id = @project AND kind = @kind AND status = 'pending'");
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : (DateTimeOffset?)null;
    });

    public Task<IReadOnlyList<OutboxWork>> FindWorkAsync(DateTimeOffset now, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync<IReadOnlyList<OutboxWork>>(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            SELECT DISTINCT project_id, kind FROM outbox_messages
            WHERE (status = 'pending' AND next_attempt_at <= @now) OR status = 'in_flight'
            """);
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        var work = new List<OutboxWork>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) work.Add(new OutboxWork(reader.GetString(0), ParseKind(reader.GetString(1))));
        return work;
    });

    public Task<IReadOnlyList<OutboxRow>> ListAsync(string projectId, OutboxKind kind, IReadOnlyCollection<string>? statuses, int limit,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlyList<OutboxRow>>(async () =>
    {
        var filter = statuses is { Count: > 0 } ? "AND status = ANY(@statuses)" : "";
        await using var command = dataSource.CreateCommand($"""
            SELECT {Columns} FROM outbox_messages
            WHERE project_id = @project AND kind = @kind {filter}
            ORDER BY id DESC
            LIMIT @limit
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("limit", limit);
        if (statuses is { Count: > 0 }) command.Parameters.AddWithValue("statuses", statuses.ToArray());
        return await ReadRowsAsync(command, cancellationToken);
    });

    public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(string projectId, OutboxKind kind,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync<IReadOnlyDictionary<string, long>>(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "SELECT status, count(*) FROM outbox_messages WHERE project_id = @project AND kind = @kind GROUP BY status");
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    });

    public Task<int> MakeDueAsync(string projectId, OutboxKind kind, DateTimeOffset now, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            UPDATE outbox_messages SET next_attempt_at = @now, updated_at = @now
            WHERE project_id = @project AND kind = @kind AND status = 'pending' AND next_attempt_at > @now
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<int> RetryFailedAsync(string projectId, OutboxKind kind, IReadOnlyCollection<long>? ids, int limit, DateTimeOffset now,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        var filter = ids is null ? "" : "AND id = ANY(@ids)";
        await using var command = dataSource.CreateCommand($"""
            UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = @now, updated_at = @now
            WHERE id IN (SELECT id FROM outbox_messages
                         WHERE project_id = @project AND kind = @kind AND status = 'failed' {filter}
                         ORDER BY id LIMIT @limit)
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("kind", kind.ToKeyword());
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("now", now);
        if (ids is not null) command.Parameters.AddWithValue("ids", ids.ToArray());
        return await command.ExecuteNonQueryAsync(cancellationToken);
    });

    public Task<long?> GetCookieAssociationAsync(string projectId, string instance, string token, CancellationToken cancellationToken = default) =>
        PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand(
            "SELECT lead_id FROM lead_cookie_tokens WHERE project_id = @project AND instance = @instance AND token = @token");
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("instance", instance);
        command.Parameters.AddWithValue("token", token);
        return await command.ExecuteScalarAsync(cancellationToken) is long lead ? lead : (long?)null;
    });

    public Task RecordCookieAssociationAsync(string projectId, string instance, string token, long leadId, DateTimeOffset now,
        CancellationToken cancellationToken = default) => PostgresCalls.RunAsync(async () =>
    {
        await using var command = dataSource.CreateCommand("""
            INSERT INTO lead_cookie_tokens (project_id, instance, token, lead_id, associated_at) VALUES (@project, @instance, @token, @lead, @now)
            ON CONFLICT (project_id, instance, token) DO UPDATE SET lead_id = excluded.lead_id, associated_at = excluded.associated_at
            """);
        command.Parameters.AddWithValue("project", projectId);
        command.Parameters.AddWithValue("instance", instance);
        command.Parameters.AddWithValue("token", token);
        command.Parameters.AddWithValue("lead", leadId);
        command.Parameters.AddWithValue("now", now.ToUniversalTime());
        await command.ExecuteNonQueryAsync(cancellationToken);
    });

    private static string Prefixed(string prefix) =>
        string.Join(", ", Columns.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(c => prefix + c));

    private static OutboxKind ParseKind(string keyword) => OutboxKindExtensions.ParseKind(keyword);

    private static async Task<List<OutboxRow>> ReadRowsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var rows = new List<OutboxRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new OutboxRow
            {
                Id = reader.GetInt64(0),
                ProjectId = reader.GetString(1),
                Kind = ParseKind(reader.GetString(2)),
                DeliveryId = reader.GetString(3),
                UserId = reader.IsDBNull(4) ? null : reader.GetString(4),
                Email = reader.IsDBNull(5) ? null : reader.GetString(5),
                Payload = JsonNode.Parse(reader.GetString(6))!.AsObject(),
                Status = reader.GetString(7),
                Attempts = reader.GetInt32(8),
                NextAttemptAt = Time(reader, 9)!.Value,
                LeaseId = reader.IsDBNull(10) ? null : reader.GetGuid(10),
                LeaseUntil = Time(reader, 11),
                SentAt = Time(reader, 12),
                PossibleDuplicate = reader.GetBoolean(13),
                LeadId = reader.IsDBNull(14) ? null : reader.GetInt64(14),
                SyncedAt = Time(reader, 15),
                MarketoGuid = reader.IsDBNull(16) ? null : reader.GetString(16),
                Result = reader.IsDBNull(17) ? null : JsonNode.Parse(reader.GetString(17)),
                ErrorCode = reader.IsDBNull(18) ? null : reader.GetString(18),
                ErrorMessage = reader.IsDBNull(19) ? null : reader.GetString(19),
                CreatedAt = Time(reader, 20)!.Value,
                UpdatedAt = Time(reader, 21)!.Value,
                DeliveredAt = Time(reader, 22),
            });
        }
        return rows;
    }

    private static DateTimeOffset? Time(NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<DateTimeOffset>(ordinal);
}
